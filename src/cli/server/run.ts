// `herald-server run`, `validate` and `healthcheck`.
import * as grpc from '@grpc/grpc-js';
import { ConfigError } from '../../common/config/index.ts';
import { Services } from '../../common/grpc/protos.ts';
import { createLogger } from '../../common/log.ts';
import { loadServerConfig, serverRunFlags } from '../../server/config.ts';
import { startServer } from '../../server/server.ts';
import { describeError, flagsOrHelp, type Command } from '../command.ts';
import { callUnary, udsClient } from '../grpc-client.ts';
import { DEFAULT_ADMIN_SOCKET } from './common.ts';

export const runCommand: Command = {
  synopsis: 'Runs the server',
  async run(args, io) {
    const f = flagsOrHelp(serverRunFlags, args, 'run', io);
    if (!f) return 0;
    let config;
    try {
      config = await loadServerConfig({ cwd: io.cwd, flags: f, env: io.env });
    } catch (err) {
      io.stderr.write(`${err instanceof ConfigError ? err.message : describeError(err)}\n`);
      return 1;
    }
    const log = createLogger({ level: config.log.level, format: config.log.format, ...(config.log.file ? { destination: config.log.file } : {}) });
    for (const w of config.warnings) log.warn({}, w);
    let server;
    try {
      server = await startServer(config, { log });
    } catch (err) {
      log.error({ err }, 'Server failed to start');
      io.stderr.write(`Error: ${describeError(err)}\n`);
      return 1;
    }
    await new Promise<void>((resolve) => {
      const stop = (signal: string): void => {
        log.info({ signal }, 'Stopping server');
        process.off('SIGINT', onInt);
        process.off('SIGTERM', onTerm);
        resolve();
      };
      const onInt = (): void => stop('SIGINT');
      const onTerm = (): void => stop('SIGTERM');
      process.on('SIGINT', onInt);
      process.on('SIGTERM', onTerm);
    });
    await server.stop();
    return 0;
  },
};

export const validateCommand: Command = {
  synopsis: 'Validates a Herald server configuration file',
  async run(args, io) {
    const f = flagsOrHelp(serverRunFlags, args, 'validate', io);
    if (!f) return 0;
    try {
      const config = await loadServerConfig({ cwd: io.cwd, flags: f, env: io.env });
      for (const w of config.warnings) io.stderr.write(`Warning: ${w}\n`);
    } catch (err) {
      io.stderr.write(`${describeError(err)}\n`);
      return 1;
    }
    io.stdout.write('Configuration is valid.\n');
    return 0;
  },
};

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
      const res = await callUnary<{ status: string }>(client, 'Check', {}, new grpc.Metadata(), 5000);
      if (res.status !== 'SERVING') {
        io.stderr.write(`Server is unhealthy: server returned status "${res.status}"\n`);
        return 1;
      }
      io.stdout.write('Server is healthy.\n');
      return 0;
    } catch (err) {
      if (f.values.verbose) io.stderr.write(`Failed to check health: ${describeError(err)}\n`);
      io.stderr.write('Server is unhealthy: unable to determine health\n');
      return 1;
    } finally {
      client.close();
    }
  },
};
