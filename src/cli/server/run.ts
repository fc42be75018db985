// `herald-server run`, `validate` and `healthcheck`.
import * as grpc from '@grpc/grpc-js';
import { Services } from '../../common/grpc/protos.ts';
import { loadServerConfig, serverRunFlags } from '../../server/config.ts';
import { startServer } from '../../server/server.ts';
import { describeError, flagsOrHelp, type Command } from '../command.ts';
import { daemonCommands } from '../daemon.ts';
import { callUnary, checkAdminSocket, udsClient } from '../grpc-client.ts';
import { DEFAULT_ADMIN_SOCKET } from './common.ts';

export const { run: runCommand, validate: validateCommand } = daemonCommands({
  name: 'server',
  flags: serverRunFlags,
  // -allowEmptyDatastore is a decision for one start, not a config setting.
  load: async (flags, io) => ({ ...(await loadServerConfig({ cwd: io.cwd, flags, env: io.env })), allowEmptyDatastore: flags.values.allowEmptyDatastore === true }),
  start: (config, log) => startServer(config, { log, allowEmptyDatastore: config.allowEmptyDatastore }),
});

export const healthcheckCommand: Command = {
  synopsis: 'Determines server health status',
  async run(args, io) {
    const f = flagsOrHelp(
      {
        socketPath: { type: 'string', usage: 'Path to the Herald server admin API socket', default: DEFAULT_ADMIN_SOCKET },
        shallow: { type: 'bool', usage: 'Perform a less stringent health check' },
        verbose: { type: 'bool', usage: 'Print verbose information' },
      },
      args,
      'healthcheck',
      io,
    );
    if (!f) return 0;
    if (f.values.verbose) io.stdout.write('Checking server health...\n');
    const client = udsClient(Services.health, f.values.socketPath);
    try {
      checkAdminSocket(f.values.socketPath, 'server', io.env);
      const res = await callUnary<{ status: string }>(client, 'Check', {}, new grpc.Metadata(), 5000);
      if (res.status !== 'SERVING') {
        io.stderr.write(`Server is unhealthy: server returned status "${res.status}"\n`);
        return 1;
      }
      io.stdout.write('Server is healthy.\n');
      return 0;
    } catch (err) {
      // A socket that may be an impostor's is worth saying even without -verbose.
      if (f.values.verbose || (err as { code?: unknown }).code === 'ERR_PERMISSION_DENIED_SOCKET_OWNER') io.stderr.write(`Failed to check health: ${describeError(err)}\n`);
      io.stderr.write('Server is unhealthy: unable to determine health\n');
      return 1;
    } finally {
      client.close();
    }
  },
};
