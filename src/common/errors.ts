// One base class for every domain error, and the one table that maps error
// codes onto gRPC status codes (conventions §4). Handlers throw; one
// interceptor per server turns the error into a status.

/** gRPC status codes used by Herald (values from grpc's status.proto). */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcCode = (typeof GrpcCode)[keyof typeof GrpcCode];

export interface HeraldErrorOptions {
  cause?: unknown;
  /** Overrides the status derived from the code (rarely needed). */
  grpcCode?: GrpcCode;
}

export class HeraldError extends Error {
  readonly code: string;
  readonly grpcCode: GrpcCode | undefined;

  constructor(code: string, message: string, options: HeraldErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.grpcCode = options.grpcCode;
  }
}

// Code prefixes → status. A code matches the longest listed prefix, so a
// family (ERR_SPIFFE_ID_*) maps in one line and a member can override it.
const statusByCode: ReadonlyArray<readonly [string, GrpcCode]> = [
  ['ERR_SPIFFE_ID', GrpcCode.INVALID_ARGUMENT],
  ['ERR_TRUST_DOMAIN', GrpcCode.INVALID_ARGUMENT],
  ['ERR_X509_SVID', GrpcCode.INVALID_ARGUMENT],
  ['ERR_JWT_SVID', GrpcCode.INVALID_ARGUMENT],
  ['ERR_BUNDLE', GrpcCode.INVALID_ARGUMENT],
  ['ERR_CONFIG', GrpcCode.INVALID_ARGUMENT],
  ['ERR_INVALID_ARGUMENT', GrpcCode.INVALID_ARGUMENT],
  ['ERR_CSR', GrpcCode.INVALID_ARGUMENT],
  ['ERR_NOT_FOUND', GrpcCode.NOT_FOUND],
  ['ERR_ENTRY_NOT_FOUND', GrpcCode.NOT_FOUND],
  ['ERR_AGENT_NOT_FOUND', GrpcCode.NOT_FOUND],
  ['ERR_BUNDLE_NOT_FOUND', GrpcCode.NOT_FOUND],
  ['ERR_ALREADY_EXISTS', GrpcCode.ALREADY_EXISTS],
  ['ERR_ENTRY_EXISTS', GrpcCode.ALREADY_EXISTS],
  ['ERR_PERMISSION_DENIED', GrpcCode.PERMISSION_DENIED],
  ['ERR_NO_IDENTITY', GrpcCode.PERMISSION_DENIED],
  ['ERR_AGENT_BANNED', GrpcCode.PERMISSION_DENIED],
  ['ERR_UNAUTHENTICATED', GrpcCode.UNAUTHENTICATED],
  ['ERR_ATTESTATION_FAILED', GrpcCode.UNAVAILABLE],
  ['ERR_UNAVAILABLE', GrpcCode.UNAVAILABLE],
  ['ERR_FAILED_PRECONDITION', GrpcCode.FAILED_PRECONDITION],
  ['ERR_UNIMPLEMENTED', GrpcCode.UNIMPLEMENTED],
  // A foreign bundle endpoint misbehaving is not our internal error.
  ['ERR_FEDERATION', GrpcCode.UNAVAILABLE],
  ['ERR_FEDERATION_NOT_FOUND', GrpcCode.NOT_FOUND],
  ['ERR_FEDERATION_NO_TRUST', GrpcCode.FAILED_PRECONDITION],
  ['ERR_DATASTORE', GrpcCode.INTERNAL],
  // The storage, not the request, failed: say so, so clients and operators can act.
  ['ERR_DATASTORE_FULL', GrpcCode.RESOURCE_EXHAUSTED],
  ['ERR_DATASTORE_READ_ONLY', GrpcCode.UNAVAILABLE],
  ['ERR_DATASTORE_IO', GrpcCode.UNAVAILABLE],
  ['ERR_DATASTORE_UNAVAILABLE', GrpcCode.UNAVAILABLE],
  ['ERR_DATASTORE_BUSY', GrpcCode.UNAVAILABLE],
  ['ERR_INTERNAL', GrpcCode.INTERNAL],
];

/** gRPC status for any thrown value: HeraldError by code, everything else INTERNAL. */
export function grpcStatusFor(err: unknown): GrpcCode {
  if (!(err instanceof HeraldError)) return GrpcCode.INTERNAL;
  if (err.grpcCode !== undefined) return err.grpcCode;
  let best: GrpcCode = GrpcCode.INTERNAL;
  let bestLen = 0;
  for (const [prefix, status] of statusByCode) {
    if (err.code.startsWith(prefix) && prefix.length > bestLen) {
      best = status;
      bestLen = prefix.length;
    }
  }
  return best;
}

/**
 * The status for an OS error met while writing local state (keys, CA journal):
 * a full disk is RESOURCE_EXHAUSTED, a read-only or failing one UNAVAILABLE;
 * undefined for anything else (INTERNAL).
 */
export function fsErrorStatus(err: unknown): GrpcCode | undefined {
  switch ((err as { code?: unknown } | null)?.code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return GrpcCode.RESOURCE_EXHAUSTED;
    case 'EROFS':
    case 'EIO':
      return GrpcCode.UNAVAILABLE;
    default:
      return undefined;
  }
}

/** The message of an unknown thrown value, for logs and status details. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
