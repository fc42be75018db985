// -socketPath of every admin-socket command, apart so that `healthcheck` can
// have it without common.ts's grpc-js.
export const DEFAULT_ADMIN_SOCKET = '/tmp/herald-server/private/api.sock';

export const socketFlag = {
  socketPath: { type: 'string', usage: 'Path to the Herald server admin API socket', default: DEFAULT_ADMIN_SOCKET },
} as const;
