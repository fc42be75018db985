// herald-server's status console (issue 21): the token, the snapshot
// sources and the listener, started by server.ts when `console` is set.
import type { Logger } from 'pino';
import type { LogFields } from '../../common/log-fields.ts';
import type { ConsoleConfig } from './config.ts';
import { startConsoleListener, type ConsoleListener } from './http.ts';
import { takeSnapshot, type SnapshotSources } from './snapshot.ts';
import { LOGIN_PATH, loadOrCreateConsoleToken } from './token.ts';

export async function startConsole(cfg: ConsoleConfig, deps: Omit<SnapshotSources, 'agentAdminSocketPaths'> & { dataDir: string; log: Logger }): Promise<ConsoleListener> {
  const token = await loadOrCreateConsoleToken(deps.dataDir);
  const sources: SnapshotSources = { ...deps, agentAdminSocketPaths: cfg.agentAdminSocketPaths };
  const listener = await startConsoleListener(cfg, { token, snapshot: () => takeSnapshot(sources), log: deps.log });
  // Never the token: `herald-server console url` prints the link.
  deps.log.info({ address: `http://${cfg.address.includes(':') ? `[${cfg.address}]` : cfg.address}:${listener.port}${LOGIN_PATH}` } satisfies LogFields, 'Starting status console; `herald-server console url` prints the login link (the token is in data_dir/console.token)');
  return listener;
}
