// `herald-server run`, `validate` and `healthcheck`.
import * as grpc from '@grpc/grpc-js';
import { Services } from '../../common/grpc/protos.ts';
import { describeError, type Command } from '../command.ts';
import { daemonCommands } from '../daemon.ts';
import { callUnary, checkAdminSocket, udsClient } from '../grpc-client.ts';
import { socketFlag } from './common.ts';
import { SpireCliError, spireFlags } from './spire-output.ts';

// Loaded only by `run` and `validate`: the admin commands (healthcheck, entry …) never pay for the server's modules.
export const { run: runCommand, validate: validateCommand } = daemonCommands('server', async () => {
  const { loadServerConfig, serverRunFlags } = await import('../../server/config.ts');
  return {
    flags: serverRunFlags,
    // -allowEmptyDatastore is a decision for one start, not a config setting.
    load: async (flags, io) => ({ ...(await loadServerConfig({ cwd: io.cwd, flags, env: io.env })), allowEmptyDatastore: flags.values.allowEmptyDatastore === true }),
    start: async (config, log) => (await import('../../server/server.ts')).startServer(config, { log, allowEmptyDatastore: config.allowEmptyDatastore }),
  };
});

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
    const client = udsClient(Services.health, f.values.socketPath);
    try {
      let res: { status: string };
      try {
        checkAdminSocket(f.values.socketPath, 'server', io.env);
        res = await callUnary<{ status: string }>(client, 'Check', {}, new grpc.Metadata(), 5000);
      } catch (err) {
        // A socket that may be an impostor's is worth saying even without -verbose.
        if (f.values.verbose || (err as { code?: unknown }).code === 'ERR_PERMISSION_DENIED_SOCKET_OWNER') io.stderr.write(`Failed to check health: ${describeError(err)}\n`);
        throw new SpireCliError('server is unhealthy: unable to determine health', { cause: err });
      }
      // As SPIRE (healthcheck.go): the runner prints "Error: server is unhealthy: …".
      if (res.status !== 'SERVING') throw new SpireCliError(`server is unhealthy: server returned status ${JSON.stringify(res.status)}`);
      io.stdout.write('Server is healthy.\n');
      return 0;
    } finally {
      client.close();
    }
  },
};
