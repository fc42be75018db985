// `npm run demo`: two Herald trust domains on loopback — web.example and
// echo.example, each a herald-server, a herald-agent and an Envoy — the
// federation between them, the echo app and the web page, and echo's
// PostgreSQL (off the mesh: echo logs in with its own X509-SVID). Prints one URL;
// Ctrl-C stops everything and removes the demo's directory.
//   npm run demo [-- --port 8080] [-- --check]
// --check runs the scenario headless and exits 0 only if every step behaved.
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Services } from '../src/common/grpc/protos.ts';
import { startEchoApp } from './apps/echo-app.ts';
import { startWebApp } from './apps/web-app.ts';
import { startPostgres, type PostgresCluster } from '../test/helpers/postgres.ts';
import { DemoBackend } from './lib/backend.ts';
import { createEchoDatabase, ECHO_COMPOSER, EchoDb, pgHba, POSTGRES_ID, PostgresTls } from './lib/echo-db.ts';
import { check } from './lib/check.ts';
import { envoyPath } from './lib/tools.ts';
import { echoEnvoyYaml, webEnvoyYaml } from './lib/envoy-config.ts';
import { admin, batchOk, freePort, ProcessGroup, ROOT, waitHealthy } from './lib/procs.ts';
import { DOMAINS, LIFETIMES, type DomainSpec } from './topology.ts';

const { values: flags } = parseArgs({ options: { port: { type: 'string', default: '8080' }, check: { type: 'boolean', default: false } } });
const uid = process.getuid?.() ?? 0;
const say = (s: string): void => void process.stdout.write(`${s}\n`);

const dir = await mkdtemp(join(tmpdir(), 'herald-demo-'));
const procs = new ProcessGroup(dir);
let stopping = false;
const postgres: { cluster?: PostgresCluster; tls?: PostgresTls; db?: EchoDb } = {};
const cleanup = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  await postgres.db?.close();
  postgres.tls?.stop();
  await postgres.cluster?.stop();
  await procs.stopAll();
  // HERALD_DEMO_KEEP=1 keeps the directory (configs, logs, data) for a look afterwards.
  if (process.env.HERALD_DEMO_KEEP === '1') say(`Kept ${dir}`);
  else await rm(dir, { recursive: true, force: true });
};
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    say('\nStopping the demo…');
    void cleanup().then(() => process.exit(0));
  });
}

interface Domain {
  spec: DomainSpec;
  serverPort: number;
  bundlePort: number;
  serverSocket: string;
  agentSocket: string;
  authzSocket: string;
}

async function main(): Promise<number> {
  const webPort = Number(flags.port);
  // Reserve the page's port first: a busy 8080 should fail fast, with a hint.
  const page = await startWebApp(webPort, undefined as never).catch((err: NodeJS.ErrnoException) => {
    throw new Error(err.code === 'EADDRINUSE' ? `port ${webPort} is in use: run npm run demo -- --port <another port>` : err.message);
  });
  await new Promise((r) => page.close(r));

  const domains: Record<'web' | 'echo', Domain> = {} as never;
  for (const spec of DOMAINS) {
    domains[spec.name] = {
      spec,
      serverPort: await freePort(),
      bundlePort: await freePort(),
      serverSocket: join(dir, `${spec.name}-server.sock`),
      agentSocket: join(dir, `${spec.name}-agent.sock`),
      authzSocket: join(dir, `${spec.name}-authz.sock`),
    };
  }

  say(`Starting two trust domains in ${dir} (logs there) …`);
  for (const d of Object.values(domains)) {
    const name = d.spec.name;
    await writeFile(join(dir, `${name}-server.yaml`), `server:
  bind_address: 127.0.0.1
  bind_port: ${d.serverPort}
  socket_path: ${d.serverSocket}
  trust_domain: ${d.spec.trustDomain}
  data_dir: ${join(dir, `${name}-server-data`)}
  ca_ttl: ${LIFETIMES.caTtl}
  default_x509_svid_ttl: ${LIFETIMES.x509SvidTtl}
  default_jwt_svid_ttl: ${LIFETIMES.jwtSvidTtl}
  federation:
    bundle_endpoint: { address: 127.0.0.1, port: ${d.bundlePort}, refresh_hint: ${LIFETIMES.refreshHint} }
plugins:
  DataStore: { sql: { plugin_data: { database_type: sqlite3, connection_string: ${join(dir, `${name}-server-data/datastore.sqlite3`)} } } }
  KeyManager: { disk: { plugin_data: { keys_path: ${join(dir, `${name}-server-data/keys.json`)} } } }
  NodeAttestor: { join_token: { plugin_data: {} } }
${name === 'echo' ? ECHO_COMPOSER : ''}`);
    procs.start(`${name}-server`, join(ROOT, 'bin/herald-server'), ['run', '-config', join(dir, `${name}-server.yaml`)]);
  }
  for (const d of Object.values(domains)) await waitHealthy(d.serverSocket, `${d.spec.name}-server`);

  // Federation: each server trusts the other's current bundle, then keeps it fresh from its bundle endpoint.
  for (const d of Object.values(domains)) {
    const other = d.spec.name === 'web' ? domains.echo : domains.web;
    const bundle = await admin<object>(other.serverSocket, Services.bundle, 'GetBundle', {});
    batchOk(await admin(d.serverSocket, Services.bundle, 'BatchSetFederatedBundle', { bundle: [bundle] }), 'bundle set');
    batchOk(
      await admin(d.serverSocket, Services.trustDomain, 'BatchCreateFederationRelationship', {
        federation_relationships: [{ trust_domain: other.spec.trustDomain, bundle_endpoint_url: `https://127.0.0.1:${other.bundlePort}`, https_spiffe: { endpoint_spiffe_id: `spiffe://${other.spec.trustDomain}/spire/server` } }],
      }),
      'federation create',
    );
  }

  for (const d of Object.values(domains)) {
    const name = d.spec.name;
    const token = (await admin<{ value: string }>(d.serverSocket, Services.agent, 'CreateJoinToken', { ttl: 600, agent_id: { trust_domain: d.spec.trustDomain, path: '/node' } })).value;
    const path = new URL(d.spec.workloadId).pathname;
    batchOk(
      await admin(d.serverSocket, Services.entry, 'BatchCreateEntry', {
        entries: [
          { spiffe_id: { trust_domain: d.spec.trustDomain, path }, parent_id: { trust_domain: d.spec.trustDomain, path: '/node' }, selectors: [{ type: 'unix', value: `uid:${uid}` }], federates_with: [d.spec.federatesWith] },
          // PostgreSQL's own SVID (its server certificate; the DNS SAN is the host name echo checks).
          ...(name === 'echo' ? [{ spiffe_id: { trust_domain: d.spec.trustDomain, path: new URL(POSTGRES_ID).pathname }, parent_id: { trust_domain: d.spec.trustDomain, path: '/node' }, selectors: [{ type: 'unix', value: `uid:${uid}` }], dns_names: ['localhost'] }] : []),
        ],
      }),
      'entry create',
    );
    await writeFile(join(dir, `${name}-agent.yaml`), `agent:
  data_dir: ${join(dir, `${name}-agent-data`)}
  server_address: 127.0.0.1
  server_port: ${d.serverPort}
  socket_path: ${d.agentSocket}
  trust_domain: ${d.spec.trustDomain}
  insecure_bootstrap: true
  sync_interval: 1s
  authz:
    enabled: true
    socket_path: ${d.authzSocket}
    audiences: ["${d.spec.workloadId}"]
plugins:
  KeyManager: { disk: { plugin_data: { directory: ${join(dir, `${name}-agent-data`)} } } }
  NodeAttestor: { join_token: { plugin_data: {} } }
  WorkloadAttestor: { unix: { plugin_data: {} } }
`);
    procs.start(`${name}-agent`, join(ROOT, 'bin/herald-agent'), ['run', '-config', join(dir, `${name}-agent.yaml`), '-joinToken', token]);
  }
  const echoDb = startEchoPostgres(domains.echo);
  echoDb.catch(() => undefined); // awaited below
  for (const d of Object.values(domains)) await waitHealthy(d.agentSocket, `${d.spec.name}-agent`);

  const ep = async () => ({ address: '127.0.0.1', port: await freePort() });
  const echoApp = await ep();
  const echoIn = await ep();
  const webOut = await ep();
  const admins = { web: await ep(), echo: await ep() };
  await writeFile(join(dir, 'echo-envoy.yaml'), echoEnvoyYaml({ admin: admins.echo, inbound: echoIn, echoApp, agentSocket: domains.echo.agentSocket, authzSocket: domains.echo.authzSocket }));
  await writeFile(join(dir, 'web-envoy.yaml'), webEnvoyYaml({ admin: admins.web, outbound: webOut, echoInbound: echoIn, agentSocket: domains.web.agentSocket, authzSocket: domains.web.authzSocket }));
  const baseId = 20_000 + (process.pid % 10_000) * 2;
  for (const [i, name] of (['echo', 'web'] as const).entries()) {
    procs.start(`${name}-envoy`, envoyPath(), ['-c', join(dir, `${name}-envoy.yaml`), '--base-id', String(baseId + i), '--concurrency', '1', '--disable-hot-restart', '-l', 'warn']);
  }
  for (const name of ['echo', 'web'] as const) {
    await waitFor(`${name}'s Envoy`, async () => (await fetch(`http://127.0.0.1:${admins[name].port}/ready`).catch(() => undefined))?.status === 200, 30_000);
  }

  await startEchoApp(echoApp.port, '127.0.0.1', await echoDb);
  const backend = new DemoBackend({
    webEnvoyUrl: `http://127.0.0.1:${webOut.port}`,
    envoyAdmin: { web: `http://127.0.0.1:${admins.web.port}`, echo: `http://127.0.0.1:${admins.echo.port}` },
    serverSocket: { web: domains.web.serverSocket, echo: domains.echo.serverSocket },
  });
  // Ready when web reaches echo over mTLS: certificates, bundles and federation are all in place.
  await waitFor('the first web → echo call', async () => (await backend.call('mtls')).status === 200, 60_000);
  backend.calls.length = 0;
  const server = await startWebApp(webPort, backend);
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

  if (flags.check) {
    const ok = await check(backend, say);
    server.close();
    return ok ? 0 : 1;
  }
  say(`\nHerald demo is running: ${url}\n(Ctrl-C stops it.)`);
  await new Promise(() => undefined);
  return 0;
}

/**
 * echo's PostgreSQL: its certificate and ssl_ca_file from the Workload API (reloaded on every
 * change), the role and its row, and echo's pool. Runs while the rest starts (initdb takes seconds).
 */
async function startEchoPostgres(d: Domain): Promise<EchoDb> {
  const tls = new PostgresTls({ agentSocket: d.agentSocket, spiffeId: POSTGRES_ID, log: (l) => void appendFile(join(dir, 'echo-postgres-tls.log'), `${new Date().toISOString()} ${l}\n`) });
  postgres.tls = tls;
  const cluster = await startPostgres({
    settings: { ssl: 'on', ssl_cert_file: 'server.crt', ssl_key_file: 'server.key', ssl_ca_file: 'bundle.pem' },
    async prepare(c) {
      // The superuser (the demo's own setup, test/helpers/postgres.ts) keeps trust over loopback; echo needs its X509-SVID.
      await c.writeServerFile(join(c.dataDir, 'pg_hba.conf'), pgHba(['host    all   herald  127.0.0.1/32  trust']));
      await tls.attach((name, content) => c.writeServerFile(join(c.dataDir, name), content));
    },
  });
  postgres.cluster = cluster;
  // Ctrl-C while PostgreSQL was starting: cleanup has run already.
  if (stopping) await cluster.stop();
  tls.started(() => cluster.reload());
  await createEchoDatabase((database) => ({ connectionString: cluster.connectionString(database) }));
  postgres.db = new EchoDb({ agentSocket: d.agentSocket, spiffeId: d.spec.workloadId, host: '127.0.0.1', port: cluster.port, servername: 'localhost' });
  return postgres.db;
}

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    const dead = procs.exited();
    if (dead.length > 0) throw new Error(`${dead.join(', ')} exited; see ${dir}/${dead[0]}.log`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

let code = 1;
try {
  code = await main();
} catch (err) {
  process.stderr.write(`demo: ${(err as Error).message}\n`);
} finally {
  await cleanup();
}
process.exit(code);
