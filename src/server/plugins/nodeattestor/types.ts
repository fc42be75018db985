// Server-side node attestation plugins (SPIRE plugin/server/nodeattestor).
// An attestor turns the agent's attestation data — with as many
// challenge/response rounds as it needs — into the agent's SPIFFE ID and
// node selectors. join_token is the first; x509pop and k8s_psat fit here.
import type { Selector } from '../../../common/selector.ts';
import type { SpiffeId } from '../../../spiffe/id.ts';

export interface AttestationResult {
  readonly agentId: SpiffeId;
  readonly selectors: readonly Selector[];
  /** Whether the agent may attest again with fresh data (SPIRE's CanReattest). */
  readonly canReattest: boolean;
}

export interface NodeAttestor {
  /** The attestation data type, e.g. "join_token". */
  readonly name: string;
  /**
   * Verifies `payload`; `challenge` sends a challenge to the agent and
   * resolves with its response (unused by join_token).
   */
  attest(payload: Buffer, challenge: (data: Buffer) => Promise<Buffer>): Promise<AttestationResult>;
}
