// A Herald server with composers in its config and an agent whose one
// workload (this test process's uid) holds several entries, for tests where
// a third-party system (PostgreSQL, MariaDB) checks the SVIDs: the files of
// `herald-agent api fetch x509 -write`, or the material straight from the
// Workload API, by SPIFFE ID.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { firstMessage, workloadClient } from '../../src/cli/agent/workload-client.ts';
import { parseCertificatesDer } from '../../src/spiffe/bundle/der.ts';
import { generateToken, startAgent, startServer, type AgentHandle, type ServerHandle } from './herald.ts';
import { waitFor } from './wait.ts';

export interface SvidFiles {
  readonly cert: X509Certificate;
  /** svid.N.pem, svid.N.key, bundle.N.pem as `api fetch x509 -write` wrote them. */
  readonly certPath: string;
  readonly keyPath: string;
  readonly bundlePath: string;
}

export interface SvidMaterial {
  readonly cert: X509Certificate;
  readonly certPem: string;
  readonly keyPem: string;
  readonly bundlePem: string;
}

export interface ComposedSvids {
  readonly server: ServerHandle;
  readonly agent: AgentHandle;
  /** Runs `api fetch x509 -write` into a fresh directory; the files by SPIFFE ID. */
  writeFiles(): Promise<Map<string, SvidFiles>>;
  /** FetchX509SVID's first message, by SPIFFE ID. */
  fromWorkloadApi(): Promise<Map<string, SvidMaterial>>;
  stop(): Promise<void>;
}

const uriOf = (c: X509Certificate): string => /URI:(spiffe:\/\/[^,\s]+)/.exec(c.subjectAltName ?? '')?.[1] ?? '';
const pem = (certs: X509Certificate[]): string => certs.map((c) => c.toString()).join('');

/**
 * `composers` is YAML under `plugins:` (two-space indent), `entries` the
 * SPIFFE IDs (with optional extra `entry create` flags) for this process's uid.
 */
export async function startComposedSvids(o: { dir: string; composers: string; entries: readonly { id: string; args?: readonly string[] }[]; x509SvidTtl?: string }): Promise<ComposedSvids> {
  const server = await startServer({ dir: o.dir, extraPlugins: o.composers, ...(o.x509SvidTtl ? { x509SvidTtl: o.x509SvidTtl } : {}) });
  let agent: AgentHandle | undefined;
  try {
    const token = await generateToken(server, 'spiffe://example.org/node');
    for (const e of o.entries) {
      const r = await server.cli('entry', 'create', '-parentID', 'spiffe://example.org/node', '-spiffeID', e.id, '-selector', `unix:uid:${process.getuid!()}`, ...(e.args ?? []));
      if (r.code !== 0) throw new Error(`entry create ${e.id}: ${r.stdout}${r.stderr}`);
    }
    agent = await startAgent({ dir: o.dir, server, joinToken: token, syncInterval: '500ms' });
    const a = agent;
    const fromWorkloadApi = async (): Promise<Map<string, SvidMaterial>> => {
      const c = workloadClient(a.socketPath);
      try {
        const res = await firstMessage(c, 'FetchX509SVID', {}, 10_000);
        return new Map(
          res.svids.map((s: { spiffe_id: string; x509_svid: Buffer; x509_svid_key: Buffer; bundle: Buffer }) => {
            const chain = parseCertificatesDer(s.x509_svid);
            const keyPem = createPrivateKey({ key: s.x509_svid_key, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }).toString();
            return [s.spiffe_id, { cert: chain[0]!, certPem: pem(chain), keyPem, bundlePem: pem(parseCertificatesDer(s.bundle)) }] as const;
          }),
        );
      } finally {
        c.close();
      }
    };
    await waitFor(`${o.entries.length} SVIDs`, async () => (await fromWorkloadApi().catch(() => new Map())).size === o.entries.length, { timeoutMs: 30_000 });
    return {
      server,
      agent: a,
      fromWorkloadApi,
      async writeFiles() {
        const dir = await mkdtemp(join(o.dir, 'svids-'));
        const r = await a.cli('api', 'fetch', 'x509', '-write', dir, '-silent');
        if (r.code !== 0) throw new Error(`api fetch x509 -write: ${r.stdout}${r.stderr}`);
        const out = new Map<string, SvidFiles>();
        for (const f of (await readdir(dir)).filter((n) => /^svid\.\d+\.pem$/.test(n))) {
          const n = f.split('.')[1];
          const cert = new X509Certificate(await readFile(join(dir, f)));
          out.set(uriOf(cert), { cert, certPath: join(dir, f), keyPath: join(dir, `svid.${n}.key`), bundlePath: join(dir, `bundle.${n}.pem`) });
        }
        return out;
      },
      async stop() {
        await a.stop();
        await server.stop();
      },
    };
  } catch (err) {
    await agent?.stop();
    await server.stop();
    throw err;
  }
}
