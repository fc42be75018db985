// PostgreSQL X.509 login with composed X509-SVIDs (seed 004): a real
// Debian PostgreSQL whose ssl_ca_file is Herald's bundle and whose own
// certificate is an X509-SVID (spiffe://example.org/pg/server, DNS SAN
// localhost), `hostssl … cert clientcert=verify-full`. The `template`
// composer puts the database role in the CN; psql logs in with the files of
// `herald-agent api fetch x509 -write`, the pg client with material
// straight from the Workload API; pg_ident.conf maps a DN to a role; a
// wrong identity is refused; an X.509 CA rotation (prepare, activate,
// taint, revoke) keeps new logins working once PostgreSQL reloads the
// bundle, as a helper such as spiffe-helper would make it.
import { X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startComposedSvids, type ComposedSvids, type SvidFiles } from '../helpers/composed-svids.ts';
import { findPostgresBinDir, startPostgres, type PostgresCluster } from '../helpers/postgres.ts';
import { runCommand } from '../helpers/process.ts';
import { makeCa, makeLeaf } from '../helpers/test-ca.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';

const ID = {
  server: 'spiffe://example.org/pg/server',
  app: 'spiffe://example.org/db/app_user',
  intruder: 'spiffe://example.org/db/intruder',
  reporter: 'spiffe://example.org/db/reporter',
  legacy: 'spiffe://example.org/legacy/app_user',
};

const COMPOSERS = `  CredentialComposer:
    template:
      plugin_data:
        templates:
          "spiffe://example.org/db/*": { subject: "CN={{path.last}},O=Payments,C=US" }
`;

describe('PostgreSQL X.509 login with composed X509-SVIDs', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let herald: ComposedSvids;
  let pgc: PostgresCluster;
  let files: Map<string, SvidFiles>;
  const psql = join(findPostgresBinDir(), 'psql');

  /** PostgreSQL's TLS files from the agent: its own SVID and the bundle (what spiffe-helper does), then a reload. */
  const refreshPostgresTls = async (): Promise<Map<string, SvidFiles>> => {
    const f = await herald.writeFiles();
    const own = f.get(ID.server)!;
    await pgc.writeServerFile(join(pgc.dataDir, 'server.crt'), await readFile(own.certPath, 'utf8'));
    await pgc.writeServerFile(join(pgc.dataDir, 'server.key'), await readFile(own.keyPath, 'utf8'));
    await pgc.writeServerFile(join(pgc.dataDir, 'herald-bundle.pem'), await readFile(own.bundlePath, 'utf8'));
    return f;
  };

  const login = (svid: SvidFiles, user: string, db = 'cn_db') =>
    runCommand(psql, [
      `host=localhost hostaddr=127.0.0.1 port=${pgc.port} dbname=${db} user=${user} sslmode=verify-full sslrootcert=${svid.bundlePath} sslcert=${svid.certPath} sslkey=${svid.keyPath} connect_timeout=10`,
      '-XAtc',
      'SELECT current_user',
    ], { timeoutMs: 20_000, env: { ...process.env, PGPASSWORD: '' } });

  beforeAll(async () => {
    tmp = await makeTempDir('herald-pgx509-');
    herald = await startComposedSvids({
      dir: tmp.path,
      composers: COMPOSERS,
      entries: [{ id: ID.server, args: ['-dns', 'localhost'] }, { id: ID.app }, { id: ID.intruder }, { id: ID.reporter }, { id: ID.legacy }],
    });
    files = await herald.writeFiles();
    const own = files.get(ID.server)!;
    pgc = await startPostgres({
      settings: { ssl: 'on', ssl_cert_file: 'server.crt', ssl_key_file: 'server.key', ssl_ca_file: 'herald-bundle.pem' },
      async prepare(c) {
        await c.writeServerFile(join(c.dataDir, 'server.crt'), await readFile(own.certPath, 'utf8'));
        await c.writeServerFile(join(c.dataDir, 'server.key'), await readFile(own.keyPath, 'utf8'));
        await c.writeServerFile(join(c.dataDir, 'herald-bundle.pem'), await readFile(own.bundlePath, 'utf8'));
        // The superuser keeps trust over TCP for the test's own setup; everyone else needs an X509-SVID.
        await c.writeServerFile(
          join(c.dataDir, 'pg_hba.conf'),
          [
            'local   all     all                    trust',
            'host    all     herald  127.0.0.1/32   trust',
            'hostssl cn_db   all     127.0.0.1/32   cert clientcert=verify-full',
            'hostssl dn_db   all     127.0.0.1/32   cert clientcert=verify-full clientname=DN map=spiffe',
            '',
          ].join('\n'),
        );
        // PostgreSQL writes the DN in RFC 2253 order, as the template was written.
        await c.writeServerFile(join(c.dataDir, 'pg_ident.conf'), 'spiffe  "CN=reporter,O=Payments,C=US"  analytics\n');
      },
    });
    const admin = new pg.Client({ connectionString: pgc.connectionString() });
    await admin.connect();
    try {
      for (const role of ['app_user', 'intruder', 'analytics']) await admin.query(`CREATE ROLE ${role} LOGIN`);
      await admin.query('CREATE DATABASE cn_db');
      await admin.query('CREATE DATABASE dn_db');
    } finally {
      await admin.end();
    }
  }, 180_000);

  afterAll(async () => {
    await pgc?.stop();
    await herald?.stop();
    await tmp?.cleanup();
  });

  it('the composed SVID has the role as CN; the uncomposed one has no CN', () => {
    expect(files.get(ID.app)!.cert.subject).toBe('C=US\nO=Payments\nCN=app_user');
    expect(files.get(ID.legacy)!.cert.subject).toMatch(/^C=US\nO=SPIRE\nx500UniqueIdentifier=[0-9a-f]{32}$/);
  });

  it('psql logs in as the CN with the files of `api fetch x509 -write`', async () => {
    const r = await login(files.get(ID.app)!, 'app_user');
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('app_user');
  });

  it('refuses a wrong identity: another SVID, the uncomposed SVID, a certificate from another CA', async () => {
    const wrong = await login(files.get(ID.intruder)!, 'app_user');
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain('certificate authentication failed for user "app_user"');
    const uncomposed = await login(files.get(ID.legacy)!, 'app_user');
    expect(uncomposed.code).not.toBe(0);
    expect(uncomposed.stderr).toContain('certificate authentication failed for user "app_user"');
    // The server's log says why.
    expect(pgc.log()).toContain('provided user name (app_user) and authenticated user name (intruder) do not match');
    expect(pgc.log()).toContain('certificate authentication failed for user "app_user": client certificate contains no user name');
    // Right SPIFFE ID, right CN, but not signed by Herald's CA: TLS refuses it.
    const ca = await makeCa('example.org');
    const forged = await makeLeaf(ID.app, ca, { subject: 'C=US, O=Payments, CN=app_user' });
    const forgedFiles = { ...files.get(ID.app)!, certPath: join(tmp.path, 'forged.pem'), keyPath: join(tmp.path, 'forged.key') };
    await writeFile(forgedFiles.certPath, forged.cert.toString());
    await writeFile(forgedFiles.keyPath, forged.key.export({ format: 'pem', type: 'pkcs8' }).toString(), { mode: 0o600 });
    const f = await login(forgedFiles, 'app_user');
    expect(f.code).not.toBe(0);
    expect(f.stderr).toMatch(/certificate verify failed|unknown ca|SSL error/i);
    expect(f.stdout).toBe('');
  });

  it('the pg client logs in with material straight from the Workload API', async () => {
    const m = (await herald.fromWorkloadApi()).get(ID.app)!;
    const client = new pg.Client({ host: '127.0.0.1', port: pgc.port, user: 'app_user', database: 'cn_db', ssl: { ca: m.bundlePem, cert: m.certPem, key: m.keyPem, servername: 'localhost' } });
    await client.connect();
    try {
      const r = await client.query('SELECT current_user AS u, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
      expect(r.rows[0]).toEqual({ u: 'app_user', ssl: true });
    } finally {
      await client.end();
    }
  });

  it('pg_ident.conf maps the DN to a role', async () => {
    const r = await login(files.get(ID.reporter)!, 'analytics', 'dn_db');
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('analytics');
    const other = await login(files.get(ID.app)!, 'analytics', 'dn_db');
    expect(other.code).not.toBe(0);
    expect(other.stderr).toContain('certificate authentication failed for user "analytics"');
  });

  it('an X.509 CA rotation does not break new logins once PostgreSQL reloads the bundle', async () => {
    const authority = async (what: string, ...args: string[]) => {
      const r = await herald.server.cli('localauthority', 'x509', what, ...args, '-output', 'json');
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout);
    };
    const oldId = (await authority('show')).active.authority_id as string;
    const before = files.get(ID.app)!;
    const prepared = (await authority('prepare')).prepared_authority.authority_id as string;
    // The prepared CA is in the bundle before it signs: PostgreSQL learns it first.
    await waitFor('the prepared CA in the agent bundle', async () => ((await readFile((await herald.writeFiles()).get(ID.app)!.bundlePath, 'utf8')).match(/BEGIN CERTIFICATE/g) ?? []).length === 2);
    await refreshPostgresTls();
    await pgc.reload();
    await authority('activate', '-authorityID', prepared);
    await authority('taint', '-authorityID', oldId);
    // Tainting makes the agent replace what the old CA signed at once.
    const oldCa = new X509Certificate(await readFile(before.bundlePath));
    const rotated = await waitFor(
      'SVIDs from the new CA',
      async () => {
        const f = await herald.writeFiles();
        return f.get(ID.app)!.cert.verify(oldCa.publicKey) ? undefined : f;
      },
      { timeoutMs: 30_000 },
    );
    const r = await login(rotated.get(ID.app)!, 'app_user');
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('app_user');

    // Revoked: the old CA leaves the bundle; PostgreSQL reloads with its new SVID; new logins work, the old SVID is refused.
    await authority('revoke', '-authorityID', oldId);
    const after = await waitFor('the old CA out of the bundle', async () => {
      const f = await herald.writeFiles();
      return ((await readFile(f.get(ID.app)!.bundlePath, 'utf8')).match(/BEGIN CERTIFICATE/g) ?? []).length === 1 ? f : undefined;
    }, { timeoutMs: 30_000 }); // the agent's next sync (its own SVID left the tainted CA with the workloads': test/e2e/taint-revoke.test.ts)
    await refreshPostgresTls();
    await pgc.reload();
    const again = await login(after.get(ID.app)!, 'app_user');
    expect(again.stderr).toBe('');
    expect(again.stdout.trim()).toBe('app_user');
    const stale = await login({ ...before, bundlePath: after.get(ID.app)!.bundlePath }, 'app_user');
    expect(stale.code).not.toBe(0);
    expect(stale.stderr).toMatch(/certificate verify failed|unknown ca|SSL error/i);
  }, 90_000);
});
