// gRPC statuses as SPIRE's CLI prints them: Go's codes.Code names and
// status.Error's `rpc error: code = AlreadyExists desc = …`. No imports, so
// every command can use it without loading grpc-js.

const CODE_NAMES = ['OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists', 'PermissionDenied', 'ResourceExhausted', 'FailedPrecondition', 'Aborted', 'OutOfRange', 'Unimplemented', 'Internal', 'Unavailable', 'DataLoss', 'Unauthenticated'];

/** Go's codes.Code.String(): `AlreadyExists`, or `Code(42)` for an unknown one. */
export function grpcCodeName(code: number): string {
  return CODE_NAMES[code] ?? `Code(${code})`;
}

/** Go's status.Error text for a gRPC status error. */
export function rpcErrorText(err: { code: number; details: string }): string {
  return `rpc error: code = ${grpcCodeName(err.code)} desc = ${err.details}`;
}
