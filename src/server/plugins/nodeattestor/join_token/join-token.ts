// join_token node attestation (SPIRE plugin/server/nodeattestor/jointoken):
// a one-time token, consumed atomically in the datastore, names the agent
// spiffe://<td>/spire/agent/join_token/<token>.
import { HeraldError } from '../../../../common/errors.ts';
import { SpiffeId } from '../../../../spiffe/id.ts';
import type { TrustDomain } from '../../../../spiffe/trust-domain.ts';
import type { DataStore } from '../../../datastore/index.ts';
import type { AttestationResult, NodeAttestor } from '../types.ts';

export const JOIN_TOKEN = 'join_token';

export function joinTokenAgentId(td: TrustDomain, token: string): SpiffeId {
  return SpiffeId.fromSegments(td, 'spire', 'agent', JOIN_TOKEN, token);
}

export class JoinTokenAttestor implements NodeAttestor {
  readonly name = JOIN_TOKEN;
  readonly #ds: DataStore;
  readonly #td: TrustDomain;

  constructor(ds: DataStore, td: TrustDomain) {
    this.#ds = ds;
    this.#td = td;
  }

  async attest(payload: Buffer): Promise<AttestationResult> {
    const token = payload.toString('utf8');
    if (token === '') throw new HeraldError('ERR_INVALID_ARGUMENT_JOIN_TOKEN', 'failed to attest: join token is empty');
    let agentId: SpiffeId;
    try {
      agentId = joinTokenAgentId(this.#td, token);
    } catch (err) {
      throw new HeraldError('ERR_INVALID_ARGUMENT_JOIN_TOKEN', 'failed to attest: join token has characters a SPIFFE ID path cannot hold', { cause: err });
    }
    const result = await this.#ds.consumeJoinToken(token);
    if (result.status === 'not_found') throw new HeraldError('ERR_PERMISSION_DENIED_JOIN_TOKEN', 'failed to attest: join token does not exist or has already been used');
    if (result.status === 'expired') throw new HeraldError('ERR_PERMISSION_DENIED_JOIN_TOKEN', 'failed to attest: join token expired');
    return { agentId, selectors: [], canReattest: false };
  }
}
