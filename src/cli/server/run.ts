// `herald-server run` and `validate` (and `healthcheck`, from healthcheck.ts).
import { daemonCommands } from '../daemon.ts';

export { healthcheckCommand } from './healthcheck.ts';

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
