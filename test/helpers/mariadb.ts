// A throwaway MariaDB server for tests: its own datadir (mariadb-install-db)
// in a temp dir, listening on 127.0.0.1:<free port>, socket in the temp dir,
// TLS from the given files. Under root the server runs as `mysql` (Debian's
// mariadb-server account) when it exists. Missing binaries are an error,
// never a skip: scripts/setup installs mariadb-server.
import { chown, copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mariadbPaths } from '../../demo/lib/tools.ts';
import { freePort } from './ports.ts';
import { runCommand, startProcess, type RunningProcess } from './process.ts';

export interface MariaDb {
  readonly port: number;
  readonly client: string;
  /** Runs SQL as root over the unix socket; throws with MariaDB's message on failure. */
  sql(query: string): Promise<string>;
  log(): string;
  stop(): Promise<void>;
}

async function account(): Promise<{ user: string; uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const uid = await runCommand('id', ['-u', 'mysql']);
  const gid = await runCommand('id', ['-g', 'mysql']);
  return uid.code === 0 && gid.code === 0 ? { user: 'mysql', uid: Number(uid.stdout), gid: Number(gid.stdout) } : { user: 'root', uid: 0, gid: 0 };
}

export async function startMariaDb(tls: { ca: string; cert: string; key: string }): Promise<MariaDb> {
  const bin = mariadbPaths();
  const acct = await account();
  const dir = await mkdtemp(join(tmpdir(), 'herald-mariadb-'));
  const dataDir = join(dir, 'data');
  const socket = join(dir, 'mariadb.sock');
  let server: RunningProcess | undefined;
  const cleanup = async () => {
    await server?.stop('SIGTERM', 20_000);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    // The server reads its TLS files as its own account.
    const files = { ca: join(dir, 'ca.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server.key') };
    for (const k of ['ca', 'cert', 'key'] as const) await copyFile(tls[k], files[k]);
    if (acct !== undefined) for (const p of [dir, ...Object.values(files)]) await chown(p, acct.uid, acct.gid);
    const user = acct === undefined ? [] : [`--user=${acct.user}`];
    const init = await runCommand(bin.installDb, ['--no-defaults', `--datadir=${dataDir}`, ...user, '--auth-root-authentication-method=normal', '--skip-test-db'], { timeoutMs: 120_000 });
    if (init.code !== 0) throw new Error(`test/helpers/mariadb: mariadb-install-db failed (${init.code}):\n${init.stdout}\n${init.stderr}`);
    const port = await freePort();
    server = startProcess(bin.server, [
      '--no-defaults',
      `--datadir=${dataDir}`,
      ...user,
      `--socket=${socket}`,
      `--pid-file=${join(dir, 'mariadb.pid')}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      '--skip-name-resolve',
      '--innodb-buffer-pool-size=16M',
      '--innodb-log-file-size=8M',
      `--ssl-ca=${files.ca}`,
      `--ssl-cert=${files.cert}`,
      `--ssl-key=${files.key}`,
    ]);
    await server.waitForOutput('ready for connections', 60_000);
    const sql = async (query: string): Promise<string> => {
      const r = await runCommand(bin.client, ['--no-defaults', `--socket=${socket}`, '-uroot', '-N', '-B', '-e', query], { timeoutMs: 30_000 });
      if (r.code !== 0) throw new Error(`test/helpers/mariadb: ${query}: ${r.stderr}`);
      return r.stdout;
    };
    return { port, client: bin.client, sql, log: () => server?.output() ?? '', stop: cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
