// What the Workload API (and SDS) needs from a workload attestor: the
// selectors of the process on the other end of a connection. Declared here,
// next to the attestors, so callers depend on this interface only.
import { HeraldError } from '../../../common/errors.ts';
import type { PeerCredentials } from '../../../common/grpc/peer.ts';
import type { Selector } from '../../../common/selector.ts';

export interface WorkloadAttestor {
  /** Plugin name as in SPIRE's config (`unix`); also the type of its selectors. */
  readonly name: string;
  /**
   * Selectors for the process that made the connection. Throws
   * WorkloadAttestationError when the process cannot be attested, including
   * when it exited or its pid was reused while it was being looked at.
   */
  attest(peer: PeerCredentials): Promise<Selector[]>;
}

export const WorkloadAttestationErrorCode = {
  /** The process is gone or is no longer the caller (gRPC UNAVAILABLE: the client retries). */
  UNAVAILABLE: 'ERR_UNAVAILABLE_WORKLOAD_ATTESTATION',
  /** The process exists but what /proc says about it could not be read or made sense of. */
  INTERNAL: 'ERR_INTERNAL_WORKLOAD_ATTESTATION',
} as const;
export type WorkloadAttestationErrorCode =
  (typeof WorkloadAttestationErrorCode)[keyof typeof WorkloadAttestationErrorCode];

export class WorkloadAttestationError extends HeraldError {
  declare readonly code: WorkloadAttestationErrorCode;

  constructor(code: WorkloadAttestationErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, `workload attestation failed: ${message}`, options);
  }
}
