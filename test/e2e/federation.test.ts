// Two trust domains (web.example, echo.example), each with its own server
// and agent, federated through their bundle endpoints (https_spiffe): the
// web workload gets echo's bundle, an echo SVID verifies against it, a CA
// rotation in echo reaches web, and Envoys in both domains talk mTLS across
// through the rotation.
import { createServer, type Server } from 'node:http';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderBootstrap } from '../../src/agent/endpoints/sds/bootstrap-template.ts';
import { envoyStat, startEnvoy, type EnvoyHandle } from '../helpers/envoy.ts';
import { generateToken, startAgent, startServer, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { freePorts } from '../helpers/ports.ts';
import { runCommand } from '../helpers/process.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';

const WEB = 'web.example';
const ECHO = 'echo.example';
const uid = process.getuid!();

describe('federation between two Herald trust domains', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  const servers: Record<string, ServerHandle> = {};
  const agents: Record<string, AgentHandle> = {};
  const envoys: EnvoyHandle[] = [];
  let app: Server;
  let ports: number[];

  const fetchBundlesDir = async (side: string, dir: string): Promise<string> => {
    const res = await agents[side]!.cli('api', 'fetch', 'x509', '-write', dir);
    expect(res.code, res.stderr).toBe(0);
    return res.stdout;
  };

  beforeAll(async () => {
    tmp = await makeTempDir('herald-fed-');
    ports = await freePorts(12);
    const endpoint = (port: number) => `  federation:\n    bundle_endpoint: { address: 127.0.0.1, port: ${port}, refresh_hint: 1s }\n`;
    servers.web = await startServer({ dir: join(tmp.path), trustDomain: WEB, extraServer: endpoint(ports[0]!), logLevel: 'DEBUG' }).catch(async (e) => { throw e; });
    const echoDir = join(tmp.path, 'echo');
    await (await import('node:fs/promises')).mkdir(echoDir);
    servers.echo = await startServer({ dir: echoDir, trustDomain: ECHO, extraServer: endpoint(ports[1]!), x509SvidTtl: '1m' });

    // Bootstrap trust both ways (bundle set), then the relationships (federation create).
    for (const [here, there, port] of [['web', 'echo', ports[1]], ['echo', 'web', ports[0]]] as const) {
      const td = there === 'web' ? WEB : ECHO;
      const show = await servers[there]!.cli('bundle', 'show', '-format', 'spiffe');
      const file = join(tmp.path, `${there}-bundle.json`);
      await writeFile(file, show.stdout);
      const set = await servers[here]!.cli('bundle', 'set', '-id', `spiffe://${td}`, '-path', file, '-format', 'spiffe');
      expect(set.code, set.stderr).toBe(0);
      const created = await servers[here]!.cli('federation', 'create', '-trustDomain', td, '-bundleEndpointURL', `https://127.0.0.1:${port}`, '-bundleEndpointProfile', 'https_spiffe', '-endpointSpiffeID', `spiffe://${td}/spire/server`);
      expect(created.code, created.stderr).toBe(0);
      // SPIRE 1.13 prints the relationship after a blank line (no "created" banner).
      expect(created.stdout).toBe(`\nTrust domain              : ${td}\nBundle endpoint URL       : https://127.0.0.1:${port}\nBundle endpoint profile   : https_spiffe\nEndpoint SPIFFE ID        : spiffe://${td}/spire/server\n`);
    }

    for (const [side, td, other] of [['web', WEB, ECHO], ['echo', ECHO, WEB]] as const) {
      const token = await generateToken(servers[side]!, `spiffe://${td}/node`);
      const e = await servers[side]!.cli('entry', 'create', '-parentID', `spiffe://${td}/node`, '-spiffeID', `spiffe://${td}/${side}`, '-selector', `unix:uid:${uid}`, '-federatesWith', `spiffe://${other}`);
      expect(e.code, e.stderr).toBe(0);
      agents[side] = await startAgent({ dir: side === 'web' ? tmp.path : join(tmp.path, 'echo'), server: servers[side]!, joinToken: token, syncInterval: '500ms', name: `${side}-agent` });
    }
    app = createServer((req, res) => res.end(`echo saw ${String(req.headers['x-forwarded-client-cert'] ?? '')}`));
    await new Promise<void>((r) => app.listen(ports[2], '127.0.0.1', r));
  }, 120_000);

  afterAll(async () => {
    for (const e of envoys) await e.stop();
    for (const a of Object.values(agents)) await a.stop();
    for (const s of Object.values(servers)) await s.stop();
    await new Promise((r) => app?.close(r));
    await tmp?.cleanup();
  });

  it('federation list shows the relationship', async () => {
    const res = await servers.web!.cli('federation', 'list');
    expect(res.stdout).toContain('Found 1 federation relationship');
    expect(res.stdout).toContain(`Trust domain              : ${ECHO}`);
    expect(res.stdout).toContain(`Endpoint SPIFFE ID        : spiffe://${ECHO}/spire/server`);
  });

  it('the web workload gets echo\'s bundle, and an echo SVID verifies against it', async () => {
    const webDir = join(tmp.path, 'web-out');
    await waitFor('federated bundle written', async () => (await fetchBundlesDir('web', webDir)).includes('federated_bundle.0.0.pem') || undefined, { timeoutMs: 15_000 });
    const echoDir = join(tmp.path, 'echo-out');
    await fetchBundlesDir('echo', echoDir);
    const v = await runCommand('openssl', ['verify', '-CAfile', join(webDir, 'federated_bundle.0.0.pem'), join(echoDir, 'svid.0.pem')]);
    expect(v.stdout.trim()).toBe(`${join(echoDir, 'svid.0.pem')}: OK`);
    // And not against web's own bundle.
    const own = await runCommand('openssl', ['verify', '-CAfile', join(webDir, 'bundle.0.pem'), join(echoDir, 'svid.0.pem')]);
    expect(own.code).not.toBe(0);
  }, 30_000);

  it('Envoys in both domains talk mTLS across, and keep doing so through a CA rotation in echo', async () => {
    const sidecar = async (side: 'web' | 'echo', base: number) =>
      startEnvoy({
        dir: tmp.path,
        name: `envoy-${side}`,
        adminPort: ports[base]!,
        yaml: await renderBootstrap('sidecar.yaml', {
          NODE_ID: `envoy-${side}`, NODE_CLUSTER: side, ADMIN_PORT: ports[base]!, INBOUND_PORT: ports[base + 1]!, OUTBOUND_PORT: ports[base + 2]!,
          LOCAL_APP_PORT: ports[2]!, ALLOWED_PEER_ID: `spiffe://${WEB}/web`, UPSTREAM_HOST: '127.0.0.1', UPSTREAM_PORT: ports[7]!,
          UPSTREAM_ID: `spiffe://${ECHO}/echo`, SVID_NAME: 'default', VALIDATION_NAME: 'ALL', AGENT_SOCKET: agents[side]!.socketPath,
        }),
      });
    // One at a time, so a failed start still leaves the first one to stop.
    envoys.push(await sidecar('echo', 6));
    envoys.push(await sidecar('web', 3));
    const call = () => fetch(`http://127.0.0.1:${ports[5]}/`).then(async (r) => ({ status: r.status, body: await r.text() }));
    const first = await waitFor('web → echo over mTLS', async () => {
      const r = await call().catch(() => undefined);
      return r?.status === 200 ? r : undefined;
    }, { timeoutMs: 30_000 });
    expect(first.body).toContain(`URI=spiffe://${WEB}/web`);

    // Rotate echo's CA: prepare (published to web through the bundle endpoint), then activate.
    const before = JSON.parse((await servers.echo!.cli('localauthority', 'x509', 'show', '-output', 'json')).stdout);
    const prep = JSON.parse((await servers.echo!.cli('localauthority', 'x509', 'prepare', '-output', 'json')).stdout);
    expect(prep.prepared_authority.authority_id).not.toBe(before.active.authority_id);
    // web learns the new CA within a refresh interval; its workload's federated bundle then has both.
    await waitFor('web has both echo CAs', async () => {
      const out = join(tmp.path, 'web-rot');
      await fetchBundlesDir('web', out);
      const pem = await readFile(join(out, 'federated_bundle.0.0.pem'), 'utf8');
      return (pem.match(/BEGIN CERTIFICATE/g) ?? []).length === 2 || undefined;
    }, { timeoutMs: 20_000, intervalMs: 500 });
    const act = await servers.echo!.cli('localauthority', 'x509', 'activate', '-authorityID', prep.prepared_authority.authority_id);
    expect(act.code, act.stderr).toBe(0);
    // echo's agent re-issues under the new CA when its bundle changes? No: at renewal. Force a new SVID now.
    const show = JSON.parse((await servers.echo!.cli('entry', 'show', '-spiffeID', `spiffe://${ECHO}/echo`, '-output', 'json')).stdout).entries[0];
    await servers.echo!.cli('entry', 'update', '-entryID', show.id, '-parentID', `spiffe://${ECHO}/node`, '-spiffeID', `spiffe://${ECHO}/echo`, '-selector', `unix:uid:${uid}`, '-federatesWith', `spiffe://${WEB}`, '-dns', 'echo.local');
    const echoEnvoy = envoys[0]!;
    await waitFor('echo Envoy serves an SVID from the new CA', async () => {
      const certs = (await echoEnvoy.adminJson<{ certificates: { cert_chain: { subject_alt_names: { dns?: string }[] }[] }[] }>('/certs')).certificates;
      return certs.some((c) => c.cert_chain[0]?.subject_alt_names.some((s) => s.dns === 'echo.local')) || undefined;
    }, { timeoutMs: 20_000, intervalMs: 300 });
    expect((await call()).status).toBe(200);
    expect(await envoyStat(envoys[1]!, /^sds\..*\.update_rejected$/)).toBe(0);
  }, 120_000);

  it('an abrupt CA rotation (activated at once) still reaches the peer: the bundle endpoint signs with the previous CA', async () => {
    const prep = JSON.parse((await servers.echo!.cli('localauthority', 'x509', 'prepare', '-output', 'json')).stdout);
    const act = await servers.echo!.cli('localauthority', 'x509', 'activate', '-authorityID', prep.prepared_authority.authority_id);
    expect(act.code, act.stderr).toBe(0);
    // web did not know the new CA when it became active; it learns it from echo's endpoint anyway.
    await waitFor('web has echo\'s newest CA', async () => {
      const list = await servers.web!.cli('bundle', 'list', '-id', `spiffe://${ECHO}`);
      const show = await servers.echo!.cli('bundle', 'show');
      return list.stdout.trim() === show.stdout.trim() || undefined;
    }, { timeoutMs: 20_000, intervalMs: 500 });
  }, 40_000);

  it('a tampered bundle endpoint is refused and the old bundle kept', async () => {
    const before = await servers.web!.cli('bundle', 'list', '-id', `spiffe://${ECHO}`, '-format', 'spiffe');
    // Point the relationship at web's own endpoint: its SVID is not echo's.
    const upd = await servers.web!.cli('federation', 'update', '-trustDomain', ECHO, '-bundleEndpointURL', `https://127.0.0.1:${ports[0]}`, '-bundleEndpointProfile', 'https_spiffe', '-endpointSpiffeID', `spiffe://${ECHO}/spire/server`);
    expect(upd.code, upd.stderr).toBe(0);
    const refresh = await servers.web!.cli('federation', 'refresh', '-id', ECHO);
    expect(refresh.code).toBe(1);
    expect(refresh.stderr).toMatch(/cannot fetch the bundle of "echo\.example"/);
    const after = await servers.web!.cli('bundle', 'list', '-id', `spiffe://${ECHO}`, '-format', 'spiffe');
    expect(after.stdout).toBe(before.stdout);
  });

  it('refuses bad relationships with a reason', async () => {
    const bad = async (args: string[], message: RegExp) => {
      const res = await servers.web!.cli('federation', 'create', ...args);
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(message);
    };
    // SPIRE 1.13's CLI has no default profile: -bundleEndpointProfile is required.
    await bad(['-trustDomain', 'other.example', '-bundleEndpointURL', 'https://127.0.0.1:1', '-endpointSpiffeID', 'spiffe://other.example/x'], /unknown bundle endpoint profile type: ""/);
    const spiffe = ['-bundleEndpointProfile', 'https_spiffe'];
    await bad(['-trustDomain', 'other.example', '-bundleEndpointURL', 'http://127.0.0.1:1', ...spiffe, '-endpointSpiffeID', 'spiffe://other.example/x'], /must use the HTTPS protocol/);
    await bad(['-trustDomain', 'other.example', '-bundleEndpointURL', 'https://127.0.0.1:1', ...spiffe, '-endpointSpiffeID', 'spiffe://elsewhere.example/x'], /is not a member of trust domain \\"other\.example\\"/);
    await bad(['-trustDomain', WEB, '-bundleEndpointURL', 'https://127.0.0.1:1', ...spiffe, '-endpointSpiffeID', `spiffe://${WEB}/x`], /cannot federate with itself/);
    await bad(['-trustDomain', 'other.example', '-bundleEndpointURL', 'https://127.0.0.1:1', '-bundleEndpointProfile', 'https_acme'], /unknown bundle endpoint profile type: "https_acme"/);
  });
});
