// A throwaway PostgreSQL cluster for tests: initdb into a temp dir, one
// postmaster listening only on 127.0.0.1:<free port> (socket in the temp dir),
// trust auth, fsync off. When run as root the server runs as the `postgres`
// user (or a dedicated system user created for it). Missing binaries are an
// error, never a skip: CI installs PostgreSQL.
import { existsSync, readdirSync } from 'node:fs';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './ports.ts';
import { runCommand, startProcess, type RunningProcess } from './process.ts';
import { waitFor } from './wait.ts';

export interface PostgresCluster {
  readonly port: number;
  readonly dir: string;
  /** Connection URI for a database of this cluster (default `postgres`). */
  connectionString(database?: string): string;
  /** Creates a fresh, empty database and returns its connection URI. */
  createDatabase(): Promise<string>;
  /** The server's output so far (for failure messages). */
  log(): string;
  /** The cluster's data directory (pg_hba.conf, pg_ident.conf). */
  readonly dataDir: string;
  /** Writes a file the server reads (owned by the server's account, mode 0600). */
  writeServerFile(path: string, content: string): Promise<void>;
  /** Reloads the configuration files (SIGHUP) and waits until the server has. */
  reload(): Promise<void>;
  /** Stops the server (fast shutdown) and removes the cluster's files. */
  stop(): Promise<void>;
  /** Stops the server, keeping its files (an outage). */
  pause(): Promise<void>;
  /** Starts the paused server again on the same port and data. */
  resume(): Promise<void>;
}

const SUPERUSER = 'herald';

/** The bin dir of the newest installed PostgreSQL; throws when there is none. */
export function findPostgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root).filter((v) => /^\d+$/.test(v) && existsSync(join(root, v, 'bin', 'postgres'))).sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length > 0) return join(root, versions[0]!, 'bin');
  for (const dir of ['/usr/local/pgsql/bin', '/usr/local/bin', '/usr/bin']) {
    if (existsSync(join(dir, 'postgres')) && existsSync(join(dir, 'initdb'))) return dir;
  }
  throw new Error(
    'test/helpers/postgres: PostgreSQL server binaries (initdb, postgres) not found under /usr/lib/postgresql/<version>/bin; ' +
      'install them (apt-get install postgresql) — the PostgreSQL datastore tests do not skip',
  );
}

async function commandOk(cmd: string, args: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  const r = await runCommand(cmd, args, { timeoutMs: 30_000 });
  return { ok: r.code === 0, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
}

/** Under root: a non-root account to run the server as, with its uid/gid. */
async function serverAccount(): Promise<{ user: string; uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  for (const user of ['postgres', 'herald-pg']) {
    const uid = await commandOk('id', ['-u', user]);
    const gid = await commandOk('id', ['-g', user]);
    if (uid.ok && gid.ok) return { user, uid: Number(uid.stdout), gid: Number(gid.stdout) };
  }
  const add = await commandOk('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'herald-pg']);
  if (!add.ok) throw new Error(`test/helpers/postgres: no postgres user and useradd herald-pg failed: ${add.stderr}`);
  return serverAccount();
}

function asAccount(account: { user: string } | undefined, cmd: string, args: string[]): [string, string[]] {
  return account === undefined ? [cmd, args] : ['runuser', ['-u', account.user, '--', cmd, ...args]];
}

export interface PostgresOptions {
  /** Extra `-c name=value` settings (e.g. ssl=on). */
  readonly settings?: Readonly<Record<string, string>>;
  /** Runs after initdb, before the server starts: write pg_hba.conf, certificates … */
  prepare?(cluster: Pick<PostgresCluster, 'dataDir' | 'writeServerFile'>): Promise<void>;
}

export async function startPostgres(opts: PostgresOptions = {}): Promise<PostgresCluster> {
  const bin = findPostgresBinDir();
  const account = await serverAccount();
  const dir = await mkdtemp(join(tmpdir(), 'herald-pg-'));
  const dataDir = join(dir, 'data');
  let server: RunningProcess | undefined;
  const cleanup = async () => {
    await server?.stop('SIGINT', 10_000);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    if (account !== undefined) {
      await chown(dir, account.uid, account.gid);
      await chmod(dir, 0o700);
    }
    const init = await runCommand(
      ...asAccount(account, join(bin, 'initdb'), ['-D', dataDir, '-U', SUPERUSER, '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync']),
      { timeoutMs: 120_000 },
    );
    if (init.code !== 0) throw new Error(`test/helpers/postgres: initdb failed (${init.code}):\n${init.stdout}\n${init.stderr}`);
    const writeServerFile = async (path: string, content: string) => {
      await writeFile(path, content, { mode: 0o600 });
      if (account !== undefined) await chown(path, account.uid, account.gid);
    };
    await opts.prepare?.({ dataDir, writeServerFile });
    const port = await freePort();
    const launch = async () => {
      server = startProcess(
        ...asAccount(account, join(bin, 'postgres'), [
          '-D', dataDir,
          '-p', String(port),
          '-c', 'listen_addresses=127.0.0.1',
          '-c', `unix_socket_directories=${dir}`,
          '-c', 'fsync=off',
          '-c', 'synchronous_commit=off',
          '-c', 'full_page_writes=off',
          '-c', 'max_connections=200',
          '-c', 'logging_collector=off',
          ...Object.entries(opts.settings ?? {}).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
        ]),
      );
      await server.waitForOutput('database system is ready to accept connections', 60_000);
    };
    await launch();
    const uri = (db: string) => `postgresql://${SUPERUSER}@127.0.0.1:${port}/${db}`;
    let databases = 0;
    return {
      port,
      dir,
      connectionString: (database = 'postgres') => uri(database),
      async createDatabase() {
        const name = `herald_test_${++databases}`;
        const client = new pg.Client({ connectionString: uri('postgres') });
        await client.connect();
        try {
          await client.query(`CREATE DATABASE ${name}`);
        } finally {
          await client.end();
        }
        return uri(name);
      },
      dataDir,
      writeServerFile,
      async reload() {
        const reloads = () => (server?.output() ?? '').split('received SIGHUP, reloading configuration files').length;
        const before = reloads();
        const client = new pg.Client({ connectionString: uri('postgres') });
        await client.connect();
        try {
          await client.query('SELECT pg_reload_conf()');
        } finally {
          await client.end();
        }
        await waitFor('PostgreSQL to reload its configuration', () => reloads() > before, { timeoutMs: 10_000 });
      },
      log: () => server?.output() ?? '',
      stop: cleanup,
      async pause() {
        await server?.stop('SIGINT', 10_000);
        server = undefined;
      },
      resume: launch,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
