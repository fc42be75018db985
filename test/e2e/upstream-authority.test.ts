// herald-server under an upstream authority (UpstreamAuthority "disk"),
// end to end: Herald's CA is an intermediate, the bundle holds only the
// upstream roots, so every X509-SVID must travel with its chain and every
// verifier must build the path — the server checking an agent's SVID on the
// agent API, the agent checking the server and what it issued, Envoy over
// SDS checking its peer, go-spiffe's x509svid.Verify, and SPIRE's own
// spire-agent. Then a CA rotation under the upstream authority, and SPIRE's
// bundle_file_path (an upstream intermediate with separate roots).
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { goInteropPath } from '../../demo/lib/tools.ts';
import { x509AuthorityId } from '../../src/server/api/localauthority-service.ts';
import { parseCertificatesDer, parseCertificatesPem } from '../../src/spiffe/bundle/der.ts';
import { renderBootstrap } from '../../src/agent/endpoints/sds/bootstrap-template.ts';
import { startEnvoy, type EnvoyHandle } from '../helpers/envoy.ts';
import { AGENT_BIN, generateToken, startAgent, startServer, SERVER_BIN, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { freePort, freePorts } from '../helpers/ports.ts';
import { runCommand, startProcess, type RunningProcess } from '../helpers/process.ts';
import { spireBinaries, startSpireAgent } from '../helpers/spire.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';

const TD = 'example.org';
const UID = process.getuid!();

const ossl = (...a: string[]): string => execFileSync('openssl', a, { stdio: 'pipe', encoding: 'utf8' });

/**
 * `<dir>/<name>.crt` and `.key`: an upstream CA made with openssl, signed by
 * `<dir>/<issuer>.crt` or self-signed. The default subject and SAN are those
 * of SPIRE's conf/server/dummy_upstream_ca.crt (C=US, O=SPIFFE — the same
 * subject as Herald's own CA — and URI:spiffe://local).
 */
function makeUpstreamCa(dir: string, name: string, opts: { issuer?: string; subject?: string } = {}): { cert: string; key: string } {
  const f = (n: string) => join(dir, n);
  execFileSync('sh', ['-c', `printf 'basicConstraints=critical,CA:TRUE\\nkeyUsage=critical,keyCertSign,cRLSign\\nsubjectAltName=URI:spiffe://local\\nsubjectKeyIdentifier=hash\\nauthorityKeyIdentifier=keyid\\n' > '${f(`${name}.ext`)}'`]);
  ossl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', opts.subject ?? '/C=US/O=SPIFFE');
  const signer = opts.issuer ? ['-CA', f(`${opts.issuer}.crt`), '-CAkey', f(`${opts.issuer}.key`), '-CAcreateserial'] : ['-key', f(`${name}.key`)];
  ossl('x509', '-req', '-in', f(`${name}.csr`), ...signer, '-out', f(`${name}.crt`), '-days', '2', '-extfile', f(`${name}.ext`));
  return { cert: f(`${name}.crt`), key: f(`${name}.key`) };
}

const upstreamPlugin = (o: { cert: string; key: string; bundle?: string }) =>
  `  UpstreamAuthority: { disk: { plugin_data: { cert_file_path: ${o.cert}, key_file_path: ${o.key}${o.bundle ? `, bundle_file_path: ${o.bundle}` : ''} } } }`;

const fingerprints = (pem: string): string[] => parseCertificatesPem(pem).map((c) => c.fingerprint256);

/** The agent is ready only after a successful sync with the server. */
async function agentHealthy(agent: AgentHandle, timeoutMs = 30_000): Promise<void> {
  await waitFor('herald-agent healthcheck says healthy', async () => {
    const r = await agent.cli('healthcheck');
    return r.code === 0 && r.stdout.includes('Agent is healthy.') ? true : undefined;
  }, { timeoutMs, intervalMs: 500 }).catch((err) => {
    throw new Error(`${(err as Error).message}\n--- agent output ---\n${agent.proc.output().slice(-3000)}`);
  });
}

/** A command run with an extra supplementary group (for the unix attestor's supplementary_gid selector), or as it is. */
const withGroup = (gid: number | undefined, cmd: string, args: string[]): [string, string[]] =>
  gid === undefined ? [cmd, args] : ['setpriv', [`--groups=${gid}`, '--', cmd, ...args]];

/** `api fetch x509 -write`: the SVID chain, the bundle, and openssl's verdict on the chain against the bundle alone. */
async function fetchAndVerify(agent: AgentHandle, dir: string, gid?: number): Promise<{ chain: X509Certificate[]; bundlePem: string; verify: string }> {
  await mkdir(dir, { recursive: true });
  const r = await runCommand(...withGroup(gid, AGENT_BIN, ['api', 'fetch', 'x509', '-write', dir, '-socketPath', agent.socketPath]));
  if (r.code !== 0) throw new Error(`api fetch x509 failed: ${r.stdout}${r.stderr}`);
  const svidPem = await readFile(join(dir, 'svid.0.pem'), 'utf8');
  const chain = parseCertificatesPem(svidPem);
  // The intermediates as openssl's untrusted pool: the trust comes from bundle.0.pem only.
  await writeFile(join(dir, 'untrusted.pem'), chain.slice(1).map((c) => c.toString()).join(''));
  const v = await runCommand('openssl', ['verify', '-CAfile', join(dir, 'bundle.0.pem'), '-untrusted', join(dir, 'untrusted.pem'), join(dir, 'svid.0.pem')]);
  return { chain, bundlePem: await readFile(join(dir, 'bundle.0.pem'), 'utf8'), verify: `${v.stdout}${v.stderr}`.trim() };
}

/** go-spiffe: FetchX509Context, then x509svid.Verify of the default SVID against the bundle set. */
async function goVerify(socketPath: string, gid?: number): Promise<{ verified_id?: string; svids?: { id: string; serial: string }[]; error?: string }> {
  const r = await runCommand(...withGroup(gid, goInteropPath(), ['x509']), { env: { ...process.env, SPIFFE_ENDPOINT_SOCKET: `unix://${socketPath}` }, timeoutMs: 60_000 });
  try {
    return JSON.parse(r.stdout);
  } catch {
    return { error: `${r.stdout}${r.stderr}` };
  }
}

const activeAuthority = async (server: ServerHandle): Promise<string> =>
  JSON.parse((await server.cli('localauthority', 'x509', 'show', '-output', 'json')).stdout).active.authority_id;

/** The agent's own SVID chain, as it keeps it on disk. */
const agentSvidChain = async (agent: AgentHandle): Promise<X509Certificate[]> => parseCertificatesDer(await readFile(join(agent.dataDir, 'agent_svid.der')));

describe('UpstreamAuthority "disk" with a self-signed upstream CA (SPIRE\'s shipped server.conf)', () => {
  const GID = { a: 4211, b: 4212, w: 4213 };
  const ID = { a: `spiffe://${TD}/ua-envoy-a`, b: `spiffe://${TD}/ua-envoy-b`, w: `spiffe://${TD}/ua-workload` };
  let tmp: { path: string; cleanup: () => Promise<void> };
  let upstream: { cert: string; key: string };
  let server: ServerHandle;
  let agent: AgentHandle;
  const envoys: Record<string, EnvoyHandle> = {};
  let ports: Record<string, number>;
  let app: import('node:http').Server;
  let lastPeer = '';

  async function sidecar(name: 'a' | 'b'): Promise<EnvoyHandle> {
    const yaml = await renderBootstrap('sidecar.yaml', {
      NODE_ID: `ua-envoy-${name}`,
      NODE_CLUSTER: `ua-cluster-${name}`,
      ADMIN_PORT: ports[`${name}Admin`]!,
      INBOUND_PORT: ports[`${name}In`]!,
      OUTBOUND_PORT: ports[`${name}Out`]!,
      LOCAL_APP_PORT: ports.app!,
      ALLOWED_PEER_ID: ID.a,
      UPSTREAM_HOST: '127.0.0.1',
      UPSTREAM_PORT: ports.bIn!,
      UPSTREAM_ID: ID.b,
      SVID_NAME: 'default',
      VALIDATION_NAME: 'ROOTCA',
      AGENT_SOCKET: agent.socketPath,
    });
    return startEnvoy({ dir: tmp.path, name: `ua-envoy-${name}`, yaml, adminPort: ports[`${name}Admin`]!, prefix: ['setpriv', `--groups=${GID[name]}`, '--'] });
  }

  const call = (port: number): Promise<{ status: number; body: string }> =>
    fetch(`http://127.0.0.1:${port}/hello`).then(async (r) => ({ status: r.status, body: await r.text() }));

  beforeAll(async () => {
    tmp = await makeTempDir('herald-ua-');
    await mkdir(join(tmp.path, 'conf/server'), { recursive: true });
    upstream = makeUpstreamCa(join(tmp.path, 'conf/server'), 'dummy_upstream_ca');
    const p = await freePorts(7);
    ports = { app: p[0]!, aAdmin: p[1]!, aIn: p[2]!, aOut: p[3]!, bAdmin: p[4]!, bIn: p[5]!, bOut: p[6]! };
    const { createServer } = await import('node:http');
    app = createServer((req, res) => {
      lastPeer = String(req.headers['x-forwarded-client-cert'] ?? '');
      res.end('hello from b');
    });
    await new Promise<void>((r) => app.listen(ports.app, '127.0.0.1', r));
    // ca_ttl 60s: a next CA is prepared after 30 s and activated after 50 s,
    // again and again while the suite runs; agent and workload SVIDs are short.
    server = await startServer({ dir: tmp.path, trustDomain: TD, caTtl: '60s', x509SvidTtl: '10s', extraServer: '  agent_ttl: 12s', extraPlugins: upstreamPlugin(upstream) });
    const token = await generateToken(server, `spiffe://${TD}/ua-node`);
    const entries: [string, string][] = [[ID.w, `unix:supplementary_gid:${GID.w}`], [ID.a, `unix:supplementary_gid:${GID.a}`], [ID.b, `unix:supplementary_gid:${GID.b}`]];
    for (const [id, selector] of entries) {
      const r = await server.cli('entry', 'create', '-parentID', `spiffe://${TD}/ua-node`, '-spiffeID', id, '-selector', selector, '-x509SVIDTTL', '10');
      expect(r.code, r.stderr).toBe(0);
    }
    agent = await startAgent({ dir: tmp.path, server, joinToken: token, syncInterval: '1s' });
  }, 120_000);

  afterAll(async () => {
    for (const e of Object.values(envoys)) await e.stop();
    await agent?.stop();
    await server?.stop();
    await new Promise((r) => (app ? app.close(r) : r(undefined)));
    await tmp?.cleanup();
  });

  it('the bundle is the upstream root, and the server presents its SVID with Herald\'s intermediate', async () => {
    const bundle = (await server.cli('bundle', 'show')).stdout;
    expect(fingerprints(bundle)).toEqual(fingerprints(await readFile(upstream.cert, 'utf8')));
    const s = await runCommand('openssl', ['s_client', '-connect', `127.0.0.1:${server.port}`, '-showcerts', '-CAfile', upstream.cert, '-verify_return_error'], { input: '', timeoutMs: 30_000 });
    expect(s.stdout).toMatch(/Verify return code: 0 \(ok\)/);
    expect(s.stdout.match(/BEGIN CERTIFICATE/g)?.length).toBeGreaterThanOrEqual(2);
  }, 60_000);

  it('the agent attests, syncs with its SVID chain and reports healthy', async () => {
    await agentHealthy(agent);
    // The agent API accepted the agent's SVID (leaf + Herald's CA) on every call since.
    expect(agent.proc.output()).not.toContain('client certificate is not a valid X509-SVID');
    const chain = await agentSvidChain(agent);
    expect(chain.length).toBe(2);
    expect(chain[0]!.subjectAltName).toContain(`spiffe://${TD}/spire/agent/join_token/`);
    // Herald's CA for the trust domain, signed by the upstream CA.
    expect(chain[1]!.subjectAltName).toBe(`URI:spiffe://${TD}`);
    expect(chain[1]!.verify(new X509Certificate(await readFile(upstream.cert)).publicKey)).toBe(true);
  }, 60_000);

  it('workload SVIDs carry the chain: openssl and go-spiffe x509svid.Verify accept them against the upstream root alone', async () => {
    const got = await waitFor('the workload SVID', () => fetchAndVerify(agent, join(tmp.path, 'fetch-1'), GID.w), { timeoutMs: 30_000, intervalMs: 500 });
    expect(got.chain).toHaveLength(2);
    expect(got.chain[0]!.subjectAltName).toBe(`URI:${ID.w}`);
    expect(fingerprints(got.bundlePem)).toEqual(fingerprints(await readFile(upstream.cert, 'utf8')));
    expect(got.verify).toBe(`${join(tmp.path, 'fetch-1', 'svid.0.pem')}: OK`);
    const go = await goVerify(agent.socketPath, GID.w);
    expect(go.error).toBeUndefined();
    expect(go.verified_id).toBe(ID.w);
  }, 60_000);

  it('Envoy gets its SVID chain over SDS and verifies its peer against the upstream root', async () => {
    envoys.b = await sidecar('b');
    envoys.a = await sidecar('a');
    const res = await waitFor('a call A→B over mTLS', async () => {
      const r = await call(ports.aOut!);
      return r.status === 200 ? r : undefined;
    }, { timeoutMs: 30_000, intervalMs: 250 }).catch(async (err) => {
      const sslStats = async (e: EnvoyHandle) => (await e.admin('/stats')).split('\n').filter((l) => /ssl|sds|tls/.test(l) && !/: 0$/.test(l)).join('\n');
      throw new Error(`${(err as Error).message}\n--- envoy A ---\n${await sslStats(envoys.a!)}\n--- envoy B ---\n${await sslStats(envoys.b!)}\n${await envoys.a!.admin('/certs')}`);
    });
    expect(res.body).toBe('hello from b');
    expect(lastPeer).toContain(`URI=${ID.a}`);
    // B's validation context from SDS is the upstream root.
    const certs = await envoys.b.adminJson<{ certificates: { ca_cert: { serial_number: string }[] }[] }>('/certs');
    const rootSerial = new X509Certificate(await readFile(upstream.cert)).serialNumber.toLowerCase();
    expect(certs.certificates.flatMap((c) => c.ca_cert.map((x) => x.serial_number.toLowerCase()))).toContain(rootSerial);
  }, 90_000);

  it('a CA rotation under the upstream authority: the agent keeps syncing, workloads and Envoy keep valid chains', async () => {
    const first = await activeAuthority(server);
    await waitFor('a newly activated X.509 CA', async () => ((await activeAuthority(server)) !== first ? true : undefined), { timeoutMs: 75_000, intervalMs: 500 });
    const leafSerials = { a: await leafSerial(envoys.a!), b: await leafSerial(envoys.b!) };
    // The bundle did not change: still just the upstream root.
    expect(fingerprints((await server.cli('bundle', 'show')).stdout)).toEqual(fingerprints(await readFile(upstream.cert, 'utf8')));
    // The agent renews its own SVID from the new CA and keeps calling the agent API with it.
    await waitFor('the agent SVID from a new CA', async () => {
      const chain = await agentSvidChain(agent);
      return chain.length === 2 && x509AuthorityId({ certificate: chain[1]! }) !== first ? true : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500 });
    // Workload SVIDs from the new CA, which the agent fetched with that SVID.
    const got = await waitFor('a workload SVID from a new CA', async () => {
      const g = await fetchAndVerify(agent, join(tmp.path, 'fetch-2'), GID.w);
      return g.chain.length === 2 && x509AuthorityId({ certificate: g.chain[1]! }) !== first ? g : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500 });
    expect(got.verify).toBe(`${join(tmp.path, 'fetch-2', 'svid.0.pem')}: OK`);
    await agentHealthy(agent);
    expect(agent.proc.output()).not.toMatch(/client certificate is not a valid X509-SVID|does not verify against the trust bundle/);
    const go = await goVerify(agent.socketPath, GID.w);
    expect(go.error).toBeUndefined();
    expect(go.verified_id).toBe(ID.w);
    // Envoy: both sidecars get SVIDs signed since the activation (10 s TTL), accept them, and A→B still works.
    await waitFor('new SVIDs in both Envoys', async () =>
      (await leafSerial(envoys.a!)) !== leafSerials.a && (await leafSerial(envoys.b!)) !== leafSerials.b ? true : undefined,
    { timeoutMs: 30_000, intervalMs: 250 });
    const res = await waitFor('a call A→B with the new SVIDs', async () => {
      const r = await call(ports.aOut!);
      return r.status === 200 ? r : undefined;
    }, { timeoutMs: 10_000, intervalMs: 250 });
    expect(res.body).toBe('hello from b');
    expect(await envoyRejections(envoys.a!) + await envoyRejections(envoys.b!)).toBe(0);
  }, 150_000);
});

async function leafSerial(envoy: EnvoyHandle): Promise<string | undefined> {
  const certs = await envoy.adminJson<{ certificates: { cert_chain: { serial_number: string }[] }[] }>('/certs');
  return certs.certificates.flatMap((c) => c.cert_chain.map((x) => x.serial_number))[0];
}

async function envoyRejections(envoy: EnvoyHandle): Promise<number> {
  const stats = await envoy.adminJson<{ stats: { name: string; value?: number }[] }>('/stats?format=json');
  return stats.stats.filter((s) => /^sds\..*\.update_rejected$/.test(s.name)).reduce((n, s) => n + (s.value ?? 0), 0);
}

describe('UpstreamAuthority "disk" with bundle_file_path (an upstream intermediate, roots in a separate file)', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let server: ServerHandle;
  let agent: AgentHandle;
  let spireAgent: RunningProcess | undefined;
  let rootsPem: string;
  let f: (n: string) => string;

  beforeAll(async () => {
    tmp = await makeTempDir('herald-uab-');
    f = (n: string) => join(tmp.path, n);
    // Root → upstream intermediate (cert_file_path) → Herald's CA → SVIDs; the
    // bundle file holds the root and an unrelated second root.
    makeUpstreamCa(tmp.path, 'root', { subject: '/C=US/O=Upstream Root' });
    makeUpstreamCa(tmp.path, 'other-root', { subject: '/C=US/O=Other Root' });
    makeUpstreamCa(tmp.path, 'upstream', { issuer: 'root', subject: '/C=US/O=Upstream Intermediate' });
    rootsPem = (await readFile(f('root.crt'), 'utf8')) + (await readFile(f('other-root.crt'), 'utf8'));
    await writeFile(f('roots.pem'), rootsPem);
    server = await startServer({ dir: tmp.path, trustDomain: TD, extraPlugins: upstreamPlugin({ cert: f('upstream.crt'), key: f('upstream.key'), bundle: f('roots.pem') }) });
    const token = await generateToken(server, `spiffe://${TD}/uab-node`);
    const r = await server.cli('entry', 'create', '-parentID', `spiffe://${TD}/uab-node`, '-spiffeID', `spiffe://${TD}/uab-workload`, '-selector', `unix:uid:${UID}`);
    expect(r.code, r.stderr).toBe(0);
    agent = await startAgent({ dir: tmp.path, server, joinToken: token });
  }, 120_000);

  afterAll(async () => {
    await spireAgent?.stop();
    await agent?.stop();
    await server?.stop();
    await tmp?.cleanup();
  });

  it('the bundle holds the roots of bundle_file_path; herald-agent syncs; SVIDs chain through both intermediates', async () => {
    expect(fingerprints((await server.cli('bundle', 'show')).stdout)).toEqual(fingerprints(rootsPem));
    await agentHealthy(agent);
    const agentChain = await agentSvidChain(agent);
    expect(agentChain.map((c) => c.subject)).toEqual([expect.any(String), 'C=US\nO=SPIFFE', 'C=US\nO=Upstream Intermediate']);
    const got = await waitFor('the workload SVID', () => fetchAndVerify(agent, f('fetch')), { timeoutMs: 30_000, intervalMs: 500 });
    expect(got.chain).toHaveLength(3);
    expect(got.verify).toBe(`${f('fetch/svid.0.pem')}: OK`);
    const go = await goVerify(agent.socketPath);
    expect(go.error).toBeUndefined();
    expect(go.verified_id).toBe(`spiffe://${TD}/uab-workload`);
  }, 60_000);

  it('spire-agent 1.13.3 attests to herald-server, syncs and serves a verifiable SVID', async () => {
    const spire = spireBinaries();
    const token = await generateToken(server, `spiffe://${TD}/uab-spire-node`);
    const r = await server.cli('entry', 'create', '-parentID', `spiffe://${TD}/uab-spire-node`, '-spiffeID', `spiffe://${TD}/uab-via-spire`, '-selector', `unix:uid:${UID}`);
    expect(r.code, r.stderr).toBe(0);
    const started = await startSpireAgent({ dir: tmp.path, serverPort: server.port, trustDomain: TD, nodeAttestor: 'NodeAttestor "join_token" { plugin_data {} }', args: ['-joinToken', token] });
    spireAgent = started.proc;
    const socket = started.socketPath;
    await spireAgent.waitForOutput('Node attestation was successful', 30_000);
    // spire-agent is healthy only once its sync with the server succeeded.
    await waitFor('spire-agent healthcheck', async () => {
      const h = await runCommand(spire.agent, ['healthcheck', '-socketPath', socket]);
      return h.code === 0 ? h : undefined;
    }, { timeoutMs: 45_000, intervalMs: 1000 }).catch((err) => {
      throw new Error(`${(err as Error).message}\n--- spire-agent output ---\n${spireAgent!.output().slice(-3000)}`);
    });
    const out = f('spire-out');
    await mkdir(out);
    const fetched = await waitFor('spire-agent serves the SVID', async () => {
      const x = await runCommand(spire.agent, ['api', 'fetch', 'x509', '-socketPath', socket, '-write', out]);
      return x.code === 0 && x.stdout.includes(`spiffe://${TD}/uab-via-spire`) ? x : undefined;
    }, { timeoutMs: 30_000, intervalMs: 1000 });
    expect(fetched.stdout).toContain(`SPIFFE ID:\t\tspiffe://${TD}/uab-via-spire`);
    const chain = parseCertificatesPem(await readFile(join(out, 'svid.0.pem'), 'utf8'));
    expect(chain).toHaveLength(3);
    await writeFile(join(out, 'untrusted.pem'), chain.slice(1).map((c) => c.toString()).join(''));
    const v = await runCommand('openssl', ['verify', '-CAfile', join(out, 'bundle.0.pem'), '-untrusted', join(out, 'untrusted.pem'), join(out, 'svid.0.pem')]);
    expect(v.stdout.trim(), v.stderr).toBe(`${join(out, 'svid.0.pem')}: OK`);
    expect(spireAgent.output()).not.toContain('certificate signed by unknown authority');
  }, 120_000);

  it('refuses to start when cert_file_path does not chain to the roots in bundle_file_path', async () => {
    const dir = f('bad');
    await mkdir(dir);
    await writeFile(f('bad/server.yaml'), (await readFile(server.configPath, 'utf8'))
      .replace(/bind_port: \d+/, `bind_port: ${await freePort()}`)
      .replace(/socket_path: .*/, `socket_path: ${join(dir, 'server.sock')}`)
      .replaceAll(join(tmp.path, 'server-data'), join(dir, 'server-data'))
      .replace(`bundle_file_path: ${f('roots.pem')}`, `bundle_file_path: ${f('other-root.crt')}`));
    const proc = startProcess(SERVER_BIN, ['run', '-config', f('bad/server.yaml')], { cwd: dir });
    const outcome = await Promise.race([
      proc.exited().then((code) => ({ code })),
      proc.waitForOutput('Server started', 30_000).then(() => ({ code: 'started' as const })),
    ]).finally(() => proc.stop());
    expect(outcome.code, proc.output()).not.toBe('started');
    expect(outcome.code).not.toBe(0);
    expect(proc.output()).toContain(`the certificate cannot be validated with the roots in bundle_file_path ${f('other-root.crt')}`);
  }, 60_000);
});
