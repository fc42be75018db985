// echo.example's PostgreSQL in demo/docker-compose.yml (the host demo starts
// its own through test/helpers/postgres.ts): its certificate and ssl_ca_file
// from the Workload API, as the attested workload this container's uid is
// (PostgresTls: rewritten and reloaded on every change), a cluster made on
// first start with the role echo logs in as and its row. Writes a ready file
// for the compose healthcheck once clients can log in.
//   node demo/apps/echo-postgres.ts   (AGENT_SOCKET, PGDATA; PG_BIN, PORT, READY_FILE)
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { createEchoDatabase, pgHba, POSTGRES_ID, PostgresTls } from '../lib/echo-db.ts';

const env = (k: string): string => {
  const v = process.env[k];
  if (!v) throw new Error(`echo-postgres: ${k} is not set`);
  return v;
};
const dataDir = env('PGDATA');
const agentSocket = env('AGENT_SOCKET');
const bin = process.env.PG_BIN ?? '/opt/postgresql-bin';
const port = Number(process.env.PORT ?? 5432);
const socketDir = '/tmp';
const say = (s: string): void => void process.stdout.write(`echo-postgres: ${s}\n`);

const fresh = !existsSync(join(dataDir, 'PG_VERSION'));
if (fresh) {
  const init = spawn(join(bin, 'initdb'), ['-D', dataDir, '-U', 'herald', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync'], { stdio: 'inherit' });
  const code = await new Promise((r) => init.once('exit', r));
  if (code !== 0) throw new Error(`echo-postgres: initdb exited with ${String(code)}`);
  await writeFile(join(dataDir, 'pg_hba.conf'), pgHba());
}

const tls = new PostgresTls({ agentSocket, spiffeId: POSTGRES_ID, log: say });
say(`waiting for ${POSTGRES_ID} from the Workload API`);
await tls.attach((name, content) => writeFile(join(dataDir, name), content, { mode: 0o600 }));

const server = spawn(join(bin, 'postgres'), [
  '-D', dataDir,
  '-p', String(port),
  '-c', 'listen_addresses=*',
  '-c', `unix_socket_directories=${socketDir}`,
  '-c', 'ssl=on',
  '-c', 'ssl_cert_file=server.crt',
  '-c', 'ssl_key_file=server.key',
  '-c', 'ssl_ca_file=bundle.pem',
], { stdio: 'inherit' });
server.once('exit', (code, signal) => {
  say(`postgres exited (${signal ?? code})`);
  process.exit(code ?? 1);
});
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => server.kill('SIGINT'));
tls.started(async () => void server.kill('SIGHUP'));

// Up once the superuser gets in over the Unix socket (bounded: 60 s).
const admin = (database: string): pg.ClientConfig => ({ host: socketDir, port, user: 'herald', database });
for (let i = 0; ; i++) {
  const c = new pg.Client(admin('postgres'));
  const ok = await c.connect().then(() => true, () => false);
  await c.end().catch(() => undefined);
  if (ok) break;
  if (i >= 300) throw new Error('echo-postgres: PostgreSQL did not accept connections within 60 s');
  await new Promise((r) => setTimeout(r, 200));
}
if (fresh) await createEchoDatabase(admin);
await writeFile(process.env.READY_FILE ?? '/tmp/echo-postgres.ready', '');
say(`ready on :${port}`);
