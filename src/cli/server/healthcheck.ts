// `herald-server healthcheck`: grpc.health.v1 Check on the admin socket.
// Loads neither grpc-js nor the protos (health-check.ts): main.ts runs it
// without the other commands, as liveness probes call it every few seconds.
import { checkAdminSocket, connectErrnoError } from '../admin-socket.ts';
import { describeError, type Command } from '../command.ts';
import { checkHealth } from '../health-check.ts';
import { UdsCallError } from '../uds-unary.ts';
import { socketFlag } from './socket-flag.ts';
import { SpireCliError, spireFlags } from './spire-flags.ts';

export const healthcheckCommand: Command = {
  synopsis: 'Determines server health status',
  async run(args, io) {
    const f = spireFlags(
      {
        ...socketFlag,
        shallow: { type: 'bool', usage: 'Perform a less stringent health check' },
        verbose: { type: 'bool', usage: 'Print verbose information' },
      },
      args,
      'healthcheck',
      io,
      'server',
    );
    if (!f) return 0;
    if (f.values.verbose) io.stdout.write('Checking server health...\n');
    let status: string;
    try {
      checkAdminSocket(f.values.socketPath, 'server', io.env);
      status = await checkHealth(f.values.socketPath, 5000).catch((err: unknown) => {
        throw err instanceof UdsCallError && err.connectErrno ? connectErrnoError(err.connectErrno, f.values.socketPath, 'server') : err;
      });
    } catch (err) {
      // A socket that may be an impostor's is worth saying even without -verbose.
      if (f.values.verbose || (err as { code?: unknown }).code === 'ERR_PERMISSION_DENIED_SOCKET_OWNER') io.stderr.write(`Failed to check health: ${describeError(err)}\n`);
      throw new SpireCliError('server is unhealthy: unable to determine health', { cause: err });
    }
    // As SPIRE (healthcheck.go): the runner prints "Error: server is unhealthy: …".
    if (status !== 'SERVING') throw new SpireCliError(`server is unhealthy: server returned status ${JSON.stringify(status)}`);
    io.stdout.write('Server is healthy.\n');
    return 0;
  },
};
