// Envoy SDS v3 with real Envoys: two sidecars get their SVIDs and bundles
// from herald-agent over SDS; A calls B's app over mTLS; certificates
// rotate without restart; a wrong peer is refused; an agent restart does
// not disturb Envoy. Each Envoy is attested by its own supplementary group.
import { createServer, type Server } from 'node:http';
import { connect as tlsConnect } from 'node:tls';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderBootstrap } from '../../src/agent/endpoints/sds/bootstrap-template.ts';
import { envoyStat, startEnvoy, type EnvoyHandle } from '../helpers/envoy.ts';
import { generateToken, startAgent, startServer, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { freePorts } from '../helpers/ports.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';

const TD = 'example.org';
const ID = { a: `spiffe://${TD}/envoy-a`, b: `spiffe://${TD}/envoy-b`, c: `spiffe://${TD}/intruder` };
const GID = { a: 4101, b: 4102, c: 4103 };

interface Certs {
  certificates: { cert_chain: { serial_number: string; subject_alt_names: { uri?: string }[] }[]; ca_cert: unknown[] }[];
}

async function leafOf(envoy: EnvoyHandle): Promise<{ serial: string; uri: string } | undefined> {
  const certs = await envoy.adminJson<Certs>('/certs');
  for (const c of certs.certificates) {
    const leaf = c.cert_chain[0];
    if (leaf) return { serial: leaf.serial_number, uri: leaf.subject_alt_names.find((s) => s.uri)?.uri ?? '' };
  }
  return undefined;
}

describe('Envoy SDS from herald-agent (real Envoy)', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let server: ServerHandle;
  let agent: AgentHandle;
  let app: Server;
  const envoys: Record<string, EnvoyHandle> = {};
  let ports: Record<string, number>;
  let lastPeerHeader = '';

  async function sidecar(name: 'a' | 'b' | 'c', upstreamId: string): Promise<EnvoyHandle> {
    const yaml = await renderBootstrap('sidecar.yaml', {
      NODE_ID: `envoy-${name}`,
      NODE_CLUSTER: `cluster-${name}`,
      ADMIN_PORT: ports[`${name}Admin`]!,
      INBOUND_PORT: ports[`${name}In`]!,
      OUTBOUND_PORT: ports[`${name}Out`]!,
      LOCAL_APP_PORT: ports.app!,
      ALLOWED_PEER_ID: ID.a,
      UPSTREAM_HOST: '127.0.0.1',
      UPSTREAM_PORT: ports.bIn!,
      UPSTREAM_ID: upstreamId,
      SVID_NAME: 'default',
      VALIDATION_NAME: 'ROOTCA',
      AGENT_SOCKET: agent.socketPath,
    });
    return startEnvoy({ dir: tmp.path, name: `envoy-${name}`, yaml, adminPort: ports[`${name}Admin`]!, prefix: ['setpriv', `--groups=${GID[name]}`, '--'] });
  }

  const call = (port: number): Promise<{ status: number; body: string }> =>
    fetch(`http://127.0.0.1:${port}/hello`).then(async (r) => ({ status: r.status, body: await r.text() }));

  beforeAll(async () => {
    tmp = await makeTempDir('herald-sds-');
    const p = await freePorts(10);
    ports = { app: p[0]!, aAdmin: p[1]!, aIn: p[2]!, aOut: p[3]!, bAdmin: p[4]!, bIn: p[5]!, bOut: p[6]!, cAdmin: p[7]!, cIn: p[8]!, cOut: p[9]! };
    app = createServer((req, res) => {
      lastPeerHeader = String(req.headers['x-forwarded-client-cert'] ?? '');
      res.end(`hello from b; peer ${lastPeerHeader}`);
    });
    await new Promise<void>((r) => app.listen(ports.app, '127.0.0.1', r));
    server = await startServer({ dir: tmp.path, trustDomain: TD });
    const token = await generateToken(server, `spiffe://${TD}/node`);
    for (const [name, id] of Object.entries(ID)) {
      const res = await server.cli('entry', 'create', '-parentID', `spiffe://${TD}/node`, '-spiffeID', id, '-selector', `unix:supplementary_gid:${GID[name as 'a']}`, '-x509SVIDTTL', '8');
      expect(res.code, res.stderr).toBe(0);
    }
    agent = await startAgent({ dir: tmp.path, server, joinToken: token, syncInterval: '500ms' });
    envoys.b = await sidecar('b', ID.b);
    envoys.a = await sidecar('a', ID.b);
  }, 120_000);

  afterAll(async () => {
    for (const e of Object.values(envoys)) await e.stop();
    await agent?.stop();
    await server?.stop();
    await new Promise((r) => app?.close(r));
    await tmp?.cleanup();
  });

  it('A calls B over mTLS with certificates from SDS; /certs shows the SPIFFE URI SAN', async () => {
    const res = await waitFor('call A→B succeeds', async () => {
      const r = await call(ports.aOut!);
      return r.status === 200 ? r : undefined;
    }, { timeoutMs: 20_000 });
    expect(res.body).toContain('hello from b');
    // B's Envoy saw A's SPIFFE ID as the client certificate URI.
    expect(lastPeerHeader).toContain(`URI=${ID.a}`);
    expect((await leafOf(envoys.a!))?.uri).toBe(ID.a);
    expect((await leafOf(envoys.b!))?.uri).toBe(ID.b);
  }, 30_000);

  it('rotates certificates without restarting Envoy; every update accepted', async () => {
    const pid = envoys.b!.proc.pid;
    const first = (await leafOf(envoys.b!))!.serial;
    const successBefore = await envoyStat(envoys.b!, /^sds\.default\.update_success$/);
    await waitFor('B serial changes', async () => ((await leafOf(envoys.b!))?.serial !== first ? true : undefined), { timeoutMs: 20_000, intervalMs: 200 });
    expect(envoys.b!.proc.pid).toBe(pid);
    expect(await envoyStat(envoys.b!, /^sds\.default\.update_success$/)).toBeGreaterThan(successBefore);
    expect(await envoyStat(envoys.b!, /^sds\..*\.update_rejected$/)).toBe(0);
    expect(await envoyStat(envoys.a!, /^sds\..*\.update_rejected$/)).toBe(0);
    expect((await call(ports.aOut!)).status).toBe(200);
  }, 30_000);

  it('refuses a peer whose SPIFFE ID is not the allowed one, and a certificate from another CA', async () => {
    // C is a valid workload of the same trust domain, but B only admits A.
    envoys.c = await sidecar('c', ID.b);
    await waitFor('C has its SVID', async () => ((await leafOf(envoys.c!))?.uri === ID.c ? true : undefined), { timeoutMs: 20_000 });
    const res = await call(ports.cOut!);
    expect(res.status).toBe(503);
    expect(await envoyStat(envoys.b!, /^listener\..*\.ssl\.fail_verify_san$/)).toBeGreaterThan(0);

    // A self-made certificate (not from the trust domain's CA) is rejected during the handshake.
    const selfSigned = await makeForeignCert(tmp.path);
    const outcome = await new Promise<string>((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port: ports.bIn!, cert: selfSigned.cert, key: selfSigned.key, rejectUnauthorized: false });
      s.on('secureConnect', () => s.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n'));
      s.on('data', (d) => resolve(`data: ${d.toString().split('\r\n')[0]}`));
      s.on('error', (e) => resolve(`error: ${e.message}`));
      s.on('close', () => resolve('closed'));
    });
    expect(outcome).not.toMatch(/^data: HTTP\/1\.1 200/);
    expect(await envoyStat(envoys.b!, /^listener\..*\.ssl\.fail_verify_error$/)).toBeGreaterThan(0);
  }, 60_000);

  it('Envoy keeps serving while the agent restarts, then re-subscribes and keeps rotating', async () => {
    await agent.stop();
    expect((await call(ports.aOut!)).status).toBe(200);
    await agent.restart();
    const serial = (await leafOf(envoys.a!))!.serial;
    await waitFor('A rotates after the agent restart', async () => ((await leafOf(envoys.a!))?.serial !== serial ? true : undefined), { timeoutMs: 25_000, intervalMs: 200 });
    expect((await call(ports.aOut!)).status).toBe(200);
    expect(await envoyStat(envoys.a!, /^sds\..*\.update_rejected$/)).toBe(0);
  }, 60_000);
});

/** A self-signed CA and leaf with a SPIFFE ID of the trust domain, made with openssl. */
async function makeForeignCert(dir: string): Promise<{ cert: string; key: string }> {
  const { execFileSync } = await import('node:child_process');
  const key = join(dir, 'foreign.key');
  const crt = join(dir, 'foreign.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', crt, '-days', '1', '-subj', '/O=Foreign', '-addext', `subjectAltName=URI:${ID.a}`], { stdio: 'pipe' });
  return { cert: await readFile(crt, 'utf8'), key: await readFile(key, 'utf8') };
}
