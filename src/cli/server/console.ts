// `herald-server console url`: prints the status console's login link, with
// the token from data_dir/console.token (Herald's own; SPIRE has no console).
// Reading the token needs the same access as the server's data_dir.
import { HeraldError } from '../../common/errors.ts';
import type { Command } from '../command.ts';
import { spireFlags } from './spire-output.ts';

const consoleUrl: Command = {
  synopsis: 'Prints the login link of the status console (from the server config and data_dir/console.token)',
  async run(args, io) {
    // The server's config modules load only for this command, not for every herald-server call.
    const [{ loadServerConfig, serverRunFlags }, { consoleLoginUrl, consoleTokenPath, readConsoleToken }] = await Promise.all([import('../../server/config.ts'), import('../../server/console/token.ts')]);
    const f = spireFlags({ config: serverRunFlags.config, expandEnv: serverRunFlags.expandEnv }, args, 'console url', io, 'server');
    if (!f) return 0;
    const config = await loadServerConfig({ cwd: io.cwd, flags: f, env: io.env });
    if (!config.console) throw new HeraldError('ERR_FAILED_PRECONDITION_CONSOLE', `console: ${config.configPath ?? 'the config'} has no console section; add \`console { port = 8090 }\` and restart the server`);
    const token = await readConsoleToken(config.dataDir);
    if (token === undefined) throw new HeraldError('ERR_FAILED_PRECONDITION_CONSOLE', `console: ${consoleTokenPath(config.dataDir)} does not exist yet; start the server with this config first`);
    io.stdout.write(consoleLoginUrl(config.console, token) + '\n');
    return 0;
  },
};

export const consoleCommands = { url: consoleUrl };
