// Seed 000's MySQL demo on a real MariaDB: a user created
// `REQUIRE SUBJECT '/C=US/O=…/CN=…' AND ISSUER '…'` logs in with the X509-SVID
// the `template` composer shaped for it (the mariadb CLI with the files of
// `herald-agent api fetch x509 -write`), and not with an uncomposed SVID
// (uniqueid's subject) nor with another workload's. MariaDB's TLS is
// Herald's: ssl-ca is the bundle, its certificate an X509-SVID.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startComposedSvids, type ComposedSvids, type SvidFiles } from '../helpers/composed-svids.ts';
import { startMariaDb, type MariaDb } from '../helpers/mariadb.ts';
import { runCommand } from '../helpers/process.ts';
import { makeTempDir } from '../helpers/tmp.ts';

const ID = {
  server: 'spiffe://example.org/mariadb/server',
  app: 'spiffe://example.org/mysql/app',
  other: 'spiffe://example.org/mysql/other',
  uncomposed: 'spiffe://example.org/legacy/app',
};

describe('MariaDB X.509 login with composed X509-SVIDs (seed 000)', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let herald: ComposedSvids;
  let db: MariaDb;
  let files: Map<string, SvidFiles>;

  const login = (svid: SvidFiles, user: string) =>
    runCommand(db.client, [
      '--no-defaults', '--protocol=TCP', '-h', 'localhost', '-P', String(db.port), `-u${user}`,
      `--ssl-ca=${svid.bundlePath}`, `--ssl-cert=${svid.certPath}`, `--ssl-key=${svid.keyPath}`, '--ssl-verify-server-cert',
      '-N', '-B', '-e', 'SELECT CURRENT_USER()',
    ], { timeoutMs: 20_000 });

  beforeAll(async () => {
    tmp = await makeTempDir('herald-mariadb-');
    herald = await startComposedSvids({
      dir: tmp.path,
      composers: `  CredentialComposer:
    template:
      plugin_data:
        templates:
          "spiffe://example.org/mysql/*": { subject: "/C=US/O=Acme Payments/CN={{path.last}}" }
`,
      entries: [{ id: ID.server, args: ['-dns', 'localhost'] }, { id: ID.app }, { id: ID.other }, { id: ID.uncomposed }],
    });
    files = await herald.writeFiles();
    const own = files.get(ID.server)!;
    db = await startMariaDb({ ca: own.bundlePath, cert: own.certPath, key: own.keyPath });
    // The CA's subject (ca_subject's default): the ISSUER every Herald SVID has.
    await db.sql("CREATE USER 'app'@'%' REQUIRE SUBJECT '/C=US/O=Acme Payments/CN=app' AND ISSUER '/C=US/O=SPIFFE'; GRANT USAGE ON *.* TO 'app'@'%'");
  }, 180_000);

  afterAll(async () => {
    await db?.stop();
    await herald?.stop();
    await tmp?.cleanup();
  });

  it('logs in with the composed SVID whose subject the user requires', async () => {
    expect(files.get(ID.app)!.cert.subject).toBe('C=US\nO=Acme Payments\nCN=app');
    const r = await login(files.get(ID.app)!, 'app');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('app@%');
  });

  it('refuses the uncomposed SVID (uniqueid subject) and another workload’s SVID', async () => {
    expect(files.get(ID.uncomposed)!.cert.subject).toMatch(/^C=US\nO=SPIRE\nx500UniqueIdentifier=/);
    for (const id of [ID.uncomposed, ID.other]) {
      const r = await login(files.get(id)!, 'app');
      expect(r.code, id).not.toBe(0);
      expect(r.stderr, id).toContain("Access denied for user 'app'");
    }
  });
});
