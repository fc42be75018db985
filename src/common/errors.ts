// One base class for every domain error, whose code must be one of the
// registry's (error-registry.ts, the one table from code to gRPC status,
// conventions §4). Handlers throw; one interceptor per server turns the error
// into a status.
import { GrpcCode, errorRegistry, type ErrorCode, type ErrorSpec } from './error-registry.ts';

export { GrpcCode } from './error-registry.ts';
export type { ErrorCode } from './error-registry.ts';

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
  return spec.status;
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
