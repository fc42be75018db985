// echo's third hop, off the mesh: a PostgreSQL of echo.example that logs
// clients in by their X509-SVID (`hostssl … cert clientcert=verify-full`,
// the CN composed by the `template` composer is the role), and both ends of
// it fed by the Workload API as a stream:
//  - PostgresTls (spiffe-helper's job): writes PostgreSQL's own SVID and
//    echo.example's bundle (ssl_ca_file) and reloads PostgreSQL whenever
//    they change, so a CA that is prepared is trusted before it signs;
//  - EchoDb (echo's app): a pg Pool per SVID; a new SVID or bundle makes a
//    new pool for new queries while the old one drains and closes, so no
//    query fails across a rotation and no connection is cut.
import { createPrivateKey } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import pg from 'pg';
import { headerMetadata, workloadClient } from '../../src/cli/agent/workload-client.ts';
import { openServerStream } from '../../src/common/wire/call.ts';
import { parseCertificatesDer } from '../../src/spiffe/bundle/der.ts';
import { keyIdOfSpki } from '../../src/spiffe/x509-leaf-der.ts';

/** The database, the role (= the CN of echo's composed SVID) and the row echo reads. */
export const ECHO_DB = { database: 'echo', role: 'echo', greeting: 'hello from PostgreSQL, read with an X509-SVID' } as const;
export const POSTGRES_ID = 'spiffe://echo.example/postgres';

/** echo.example's server composes echo's X509-SVID subject (server config, under `plugins:`): its CN is the role. */
export const ECHO_COMPOSER = `  CredentialComposer:
    template:
      plugin_data:
        templates:
          "spiffe://echo.example/echo": { subject: "CN={{path.last}},O=Herald demo" }
`;

/**
 * pg_hba.conf: the role logs in only with a certificate whose CN is its name, signed by a CA
 * of ssl_ca_file; the superuser (the demo's own setup) over the Unix socket, plus `extra`.
 */
export const pgHba = (extra: string[] = []): string =>
  ['local   all   all   trust', ...extra, `hostssl ${ECHO_DB.database} ${ECHO_DB.role} all cert clientcert=verify-full`, ''].join('\n');

/** Run once as the superuser: the role, its database and the row. */
export async function createEchoDatabase(admin: (database: string) => pg.ClientConfig): Promise<void> {
  const run = async (cfg: pg.ClientConfig, sql: string[]): Promise<void> => {
    const c = new pg.Client(cfg);
    await c.connect();
    try {
      for (const q of sql) await c.query(q);
    } finally {
      await c.end();
    }
  };
  await run(admin('postgres'), [`CREATE ROLE ${ECHO_DB.role} LOGIN`, `CREATE DATABASE ${ECHO_DB.database} OWNER ${ECHO_DB.role}`]);
  await run(admin(ECHO_DB.database), [
    'CREATE TABLE greetings (id int PRIMARY KEY, text text NOT NULL)',
    `INSERT INTO greetings VALUES (1, '${ECHO_DB.greeting}')`,
    `ALTER TABLE greetings OWNER TO ${ECHO_DB.role}`,
  ]);
}

export interface SvidPem {
  id: string;
  certPem: string;
  keyPem: string;
  /** The own trust domain's bundle, PEM. */
  bundlePem: string;
  serial: string;
  subject: string;
  /** The authority ID (SPIRE's: key ID of the CA's public key) of the bundle CA that signed it. */
  issuer: string;
}

interface WireSvid {
  spiffe_id: string;
  x509_svid: Buffer;
  x509_svid_key: Buffer;
  bundle: Buffer;
}

const pem = (der: Buffer): string => parseCertificatesDer(der).map((c) => c.toString()).join('');

/**
 * Follows FetchX509SVID (every message: a new SVID or a new bundle) and calls
 * `onUpdate` with the SVID named `id`, one update at a time. Reconnects after
 * the agent restarts. Returns a stop function.
 */
export function followSvid(agentSocket: string, id: string, onUpdate: (svid: SvidPem) => Promise<void>, onError: (err: Error) => void = () => undefined): () => void {
  let stopped = false;
  let call: grpc.ClientReadableStream<unknown> | undefined;
  let chain = Promise.resolve();
  const client = workloadClient(agentSocket);
  const open = (): void => {
    if (stopped) return;
    const stream = openServerStream(client, 'FetchX509SVID', {}, headerMetadata(), {});
    call = stream;
    stream.on('data', (m: { svids: WireSvid[] }) => {
      const s = m.svids.find((v) => v.spiffe_id === id);
      if (!s) return;
      const leaf = parseCertificatesDer(s.x509_svid)[0]!;
      const ca = parseCertificatesDer(s.bundle).find((c) => leaf.verify(c.publicKey));
      const svid: SvidPem = {
        id,
        certPem: pem(s.x509_svid),
        keyPem: createPrivateKey({ key: s.x509_svid_key, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }).toString(),
        bundlePem: pem(s.bundle),
        serial: leaf.serialNumber,
        subject: leaf.subject.replaceAll('\n', ','),
        issuer: ca ? keyIdOfSpki(ca.publicKey.export({ format: 'der', type: 'spki' })).toString('hex') : '',
      };
      chain = chain.then(() => onUpdate(svid)).catch(onError);
    });
    stream.on('error', (err: Error) => {
      if (stopped) return;
      onError(err);
      setTimeout(open, 1000);
    });
  };
  open();
  return () => {
    stopped = true;
    call?.cancel();
    client.close();
  };
}

type TlsFile = 'server.crt' | 'server.key' | 'bundle.pem';

/**
 * PostgreSQL's TLS files from the Workload API: its own SVID (server.crt,
 * server.key) and the bundle (ssl_ca_file). `attach` writes them (before
 * PostgreSQL starts); after `started`, every change rewrites and reloads.
 */
export class PostgresTls {
  /** Reloads after a change so far, and how many CAs ssl_ca_file holds now. */
  reloads = 0;
  trustedCas = 0;
  readonly #received: Promise<void>;
  #latest: SvidPem | undefined;
  #write: ((name: TlsFile, content: string) => Promise<void>) | undefined;
  #reload: (() => Promise<void>) | undefined;
  readonly #log: (line: string) => void;
  readonly #stop: () => void;

  constructor(o: { agentSocket: string; spiffeId: string; log?: (line: string) => void }) {
    this.#log = o.log ?? (() => undefined);
    let received!: () => void;
    this.#received = new Promise((r) => (received = r));
    this.#stop = followSvid(
      o.agentSocket,
      o.spiffeId,
      async (s) => {
        if (this.#latest && this.#latest.certPem + this.#latest.bundlePem === s.certPem + s.bundlePem) return;
        this.#latest = s;
        received();
        if (this.#write) await this.#apply(s);
      },
      (err) => this.#log(`PostgreSQL TLS from the Workload API: ${err.message}`),
    );
  }

  /** Waits for PostgreSQL's SVID, then writes the files with `write` (now and on every change). */
  async attach(write: (name: TlsFile, content: string) => Promise<void>): Promise<void> {
    await this.#received;
    this.#write = write;
    await this.#apply(this.#latest!);
  }

  /** From now on, a change also reloads PostgreSQL with this. */
  started(reload: () => Promise<void>): void {
    this.#reload = reload;
  }

  async #apply(s: SvidPem): Promise<void> {
    await this.#write!('server.key', s.keyPem);
    await this.#write!('server.crt', s.certPem);
    await this.#write!('bundle.pem', s.bundlePem);
    this.trustedCas = (s.bundlePem.match(/BEGIN CERTIFICATE/g) ?? []).length;
    if (!this.#reload) return;
    await this.#reload();
    this.reloads++;
    this.#log(`PostgreSQL reloaded: its SVID serial ${s.serial.slice(0, 12)}…, ${this.trustedCas} CA(s) in ssl_ca_file`);
  }

  stop(): void {
    this.#stop();
  }
}

export interface DbRead {
  /** The row echo read. */
  row: string;
  /** Whom PostgreSQL logged in (current_user), and the certificate's DN it saw. */
  user: string;
  clientDn: string;
  /** The SVID this connection logged in with. */
  svidSerial: string;
  /** The authority ID of the CA that signed that SVID (a CA rotation shows here once echo's SVID renews). */
  svidIssuer: string;
  /** Pools made so far: one more per SVID or bundle update. */
  generation: number;
}

/** echo's connection to PostgreSQL, logging in with its current X509-SVID. */
export class EchoDb {
  #pool: pg.Pool | undefined;
  #svid: SvidPem | undefined;
  #generation = 0;
  readonly ready: Promise<void>;
  readonly #stop: () => void;
  readonly #id: string;

  constructor(o: { agentSocket: string; spiffeId: string; host: string; port: number; servername: string }) {
    this.#id = o.spiffeId;
    let resolveReady!: () => void;
    this.ready = new Promise((r) => (resolveReady = r));
    this.#stop = followSvid(o.agentSocket, o.spiffeId, async (s) => {
      const old = this.#pool;
      this.#svid = s;
      this.#generation++;
      this.#pool = new pg.Pool({
        host: o.host,
        port: o.port,
        user: ECHO_DB.role,
        database: ECHO_DB.database,
        max: 4,
        idleTimeoutMillis: 10_000,
        connectionTimeoutMillis: 5000,
        // verify-full: PostgreSQL's certificate must be an SVID of this bundle, for this host name.
        ssl: { ca: s.bundlePem, cert: s.certPem, key: s.keyPem, servername: o.servername },
      });
      this.#pool.on('error', () => undefined); // an idle connection closed by the server: the pool drops it
      resolveReady();
      // Queries already running finish on the old pool; then it closes.
      void old?.end().catch(() => undefined);
    });
  }

  async read(): Promise<DbRead> {
    if (!this.#pool) {
      // Bounded: a request never waits long for an SVID that does not come.
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no X509-SVID for ${this.#id} from the Workload API yet`)), 10_000)));
      await Promise.race([this.ready, timeout]).finally(() => clearTimeout(timer));
    }
    const pool = this.#pool!;
    const generation = this.#generation;
    const { serial: svidSerial, issuer: svidIssuer } = this.#svid!;
    const r = await pool.query<{ text: string; user: string; dn: string }>(
      'SELECT g.text, current_user AS user, s.client_dn AS dn FROM greetings g, pg_stat_ssl s WHERE g.id = 1 AND s.pid = pg_backend_pid()',
    );
    const row = r.rows[0]!;
    return { row: row.text, user: row.user, clientDn: row.dn, svidSerial, svidIssuer, generation };
  }

  async close(): Promise<void> {
    this.#stop();
    await this.#pool?.end().catch(() => undefined);
  }
}
