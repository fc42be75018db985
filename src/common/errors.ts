// One base class for every domain error, whose code must be one of the
// registry's (error-registry.ts, the one table from code to gRPC status,
// conventions §4). Handlers throw; one interceptor per server turns the error
// into a status.
import { errorRegistry, type ErrorCode, type ErrorSpec, type GrpcStatusName } from './error-registry.ts';

export type { ErrorCode } from './error-registry.ts';

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
} as const satisfies Readonly<Record<GrpcStatusName, number>>;
export type GrpcCode = (typeof GrpcCode)[keyof typeof GrpcCode];

export interface HeraldErrorOptions {
  cause?: unknown;
}

export class HeraldError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options: HeraldErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
  }
}

/** The status the registry gives `code`; `cause` decides for codes whose status follows an OS error. */
export function grpcStatusOfCode(code: ErrorCode, cause?: unknown): GrpcCode {
  const spec: ErrorSpec | undefined = Object.hasOwn(errorRegistry, code) ? errorRegistry[code] : undefined;
  if (spec === undefined) return GrpcCode.INTERNAL;
  if (spec.fromOsError) {
    const os = fsErrorStatus(cause);
    if (os !== undefined) return os;
  }
  return GrpcCode[spec.status];
}

/** gRPC status for any thrown value: HeraldError by its registered code, everything else INTERNAL. */
export function grpcStatusFor(err: unknown): GrpcCode {
  if (!(err instanceof HeraldError)) return GrpcCode.INTERNAL;
  return grpcStatusOfCode(err.code, err.cause);
}

/**
 * The status for an OS error met while writing local state (keys, CA journal):
 * a full disk is RESOURCE_EXHAUSTED, a read-only or failing one UNAVAILABLE;
 * undefined for anything else (INTERNAL).
 */
function fsErrorStatus(err: unknown): GrpcCode | undefined {
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
