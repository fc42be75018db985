// Issue 10 with real Envoys: where SPIRE's SDS lets Envoy down, Herald does
// not. Envoys are attested by their own supplementary group.
//  1 a bad resource name does not poison the stream (+ opt-in file resources)
//  2 the default SVID is chosen by a documented rule, not by entry ID
//  3 bundle sets survive a transient failure; a removed federated domain leaves Envoy without restart
//  4 validator and ROOTCA contents per resource; node metadata remembered
//  5 allowed peers carried in the validation context
//  6 readiness and `herald-agent sds status`
//  7 xDS hygiene: no push without change; NACKs recorded with Envoy's message
import { execFileSync } from 'node:child_process';
import { chmod, mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envoyStat, startEnvoy, type EnvoyHandle } from '../helpers/envoy.ts';
import { sdsBootstrap as bootstrap } from '../helpers/envoy-bootstrap.ts';
import { AGENT_BIN, generateToken, startAgent, startServer, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { runCommand } from '../helpers/process.ts';
import { freePort } from '../helpers/ports.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';
import { waitForSyncs } from '../helpers/agent-log.ts';

const TD = 'example.org';
const OTHER = 'other.example';
const NODE = `spiffe://${TD}/node`;

interface Secret { name: string; version_info: string; secret: { tls_certificate?: unknown; validation_context?: { trusted_ca?: unknown; custom_validator_config?: { typed_config: { trust_domains: { name: string }[] } }; match_typed_subject_alt_names?: { matcher: { exact?: string; prefix?: string } }[] } } }

async function activeSecrets(envoy: EnvoyHandle): Promise<Map<string, Secret>> {
  const dump = await envoy.adminJson<{ configs: { dynamic_active_secrets?: Secret[] }[] }>('/config_dump?resource=dynamic_active_secrets');
  const list = (dump.configs ?? []).flatMap((c) => ('dynamic_active_secrets' in c ? (c.dynamic_active_secrets ?? []) : [c as unknown as Secret]));
  return new Map(list.map((s) => [s.name, s]));
}

async function defaultUri(envoy: EnvoyHandle): Promise<string | undefined> {
  const certs = await envoy.adminJson<{ certificates: { cert_chain: { subject_alt_names: { uri?: string }[] }[] }[] }>('/certs');
  return certs.certificates.map((c) => c.cert_chain[0]?.subject_alt_names.find((s) => s.uri)?.uri).find(Boolean);
}

const trustDomainsOf = (s: Secret | undefined) => s?.secret.validation_context?.custom_validator_config?.typed_config.trust_domains.map((t) => t.name).sort();

describe('SDS beyond SPIRE (real Envoy)', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let server: ServerHandle;
  let agent: AgentHandle;
  let app: Server;
  let appPort: number;
  const envoys: EnvoyHandle[] = [];
  let gid = 4300;
  let filesDir: string;
  // Outside the Workload API socket's directory, as SPIRE requires of the admin socket.
  let adminDir: { path: string; cleanup: () => Promise<void> };
  let adminSock: string;

  const sdsStatus = (...args: string[]) => runCommand(AGENT_BIN, ['sds', 'status', '-socketPath', adminSock, ...args]);
  const entry = async (id: string, g: number, extra: string[] = []) => {
    const r = await server.cli('entry', 'create', '-parentID', NODE, '-spiffeID', id, '-selector', `unix:supplementary_gid:${g}`, ...extra);
    expect(r.code, r.stderr).toBe(0);
    return /Entry ID\s+: (\S+)/.exec(r.stdout)![1]!;
  };
  const envoy = async (name: string, g: number, cfg: Omit<Parameters<typeof bootstrap>[0], 'node' | 'admin' | 'agentSocket' | 'app'>) => {
    const admin = await freePort();
    const e = await startEnvoy({ dir: tmp.path, name, adminPort: admin, prefix: ['setpriv', `--groups=${g}`, '--'], yaml: bootstrap({ ...cfg, node: name, admin, agentSocket: agent.socketPath, app: appPort }) });
    envoys.push(e);
    return e;
  };

  beforeAll(async () => {
    tmp = await makeTempDir('herald-sds10-');
    adminDir = await makeTempDir('herald-sds10-admin-');
    adminSock = join(adminDir.path, 'admin.sock');
    filesDir = join(tmp.path, 'files');
    await mkdir(filesDir);
    app = createServer((_q, r) => r.end('app'));
    appPort = await freePort();
    await new Promise<void>((r) => app.listen(appPort, '127.0.0.1', r));
    server = await startServer({ dir: tmp.path, trustDomain: TD });
    // A federated domain: its CA made with openssl, set as a bootstrap bundle.
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(tmp.path, 'other.key'), '-out', join(tmp.path, 'other.pem'), '-days', '1', '-subj', '/O=Other', '-addext', `subjectAltName=URI:spiffe://${OTHER}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign'], { stdio: 'pipe' });
    expect((await server.cli('bundle', 'set', '-id', `spiffe://${OTHER}`, '-path', join(tmp.path, 'other.pem'))).code).toBe(0);
    // Files for file-cert / file-root: a key and certificate pair, and a CA.
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(filesDir, 'key.pem'), '-out', join(filesDir, 'cert.pem'), '-days', '1', '-subj', '/CN=file'], { stdio: 'pipe' });
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(filesDir, 'other-key.pem'), '-out', join(filesDir, 'other-cert.pem'), '-days', '1', '-subj', '/CN=mismatch'], { stdio: 'pipe' });
    await chmod(filesDir, 0o755);
    const token = await generateToken(server, NODE);
    agent = await startAgent({
      dir: tmp.path, server, joinToken: token, syncInterval: '500ms',
      extraAgent: [
        `  admin_socket_path: ${adminSock}`,
        '  sds:',
        '    root_ca_includes_federated: true',
        `    validators: { "spiffe://${TD}": trusted_ca }`,
        `    authorized_peers: { "spiffe://${TD}": { ids: ["spiffe://${TD}/peer-a"] } }`,
        `    file_resources: { enabled: true, allowed_dir: ${filesDir} }`,
      ].join('\n') + '\n',
    });
  }, 60_000);

  afterAll(async () => {
    for (const e of envoys) await e.stop();
    await agent?.stop();
    await server?.stop();
    await new Promise((r) => app?.close(r));
    await tmp?.cleanup();
    await adminDir?.cleanup();
  });

  it('1: an unknown name does not poison the stream; file resources only from the allowed directory', async () => {
    const g = gid++;
    await entry(`spiffe://${TD}/one`, g);
    const [p1, p2, p3, p4] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const e = await envoy('envoy-one', g, {
      listeners: [
        { port: p1, cert: 'default', validation: 'ALL' },
        { port: p2, cert: 'file-cert:/etc/nonexistent.pem~/etc/nonexistent.key' }, // Istio-style name outside the allowed dir
        { port: p3, cert: 'no-such-secret' },
        { port: p4, cert: `file-cert:${join(filesDir, 'cert.pem')}~${join(filesDir, 'key.pem')}`, validation: `file-root:${join(filesDir, 'cert.pem')}` },
      ],
    });
    await waitFor('valid secrets active despite the bad names', async () => {
      const s = await activeSecrets(e);
      return (s.has('default') && s.has('ALL') && s.has(`file-cert:${join(filesDir, 'cert.pem')}~${join(filesDir, 'key.pem')}`) && s.has(`file-root:${join(filesDir, 'cert.pem')}`)) || undefined;
    }, { timeoutMs: 15_000 });
    const s = await activeSecrets(e);
    expect(s.has('no-such-secret')).toBe(false);
    expect(s.has('file-cert:/etc/nonexistent.pem~/etc/nonexistent.key')).toBe(false);
    expect(await defaultUri(e)).toBe(`spiffe://${TD}/one`);
    const log = agent.proc.output();
    expect(log).toContain('Holding back SDS resource the caller cannot have');
    // Logged once (per stream asking for it), with the reason.
    expect(log.match(/no-such-secret \((unknown|not-authorized)\)/g)?.length).toBe(1);
    const status = JSON.parse((await sdsStatus('-output', 'json')).stdout);
    expect(status.counters['sds.resource_held_back']).toBeGreaterThanOrEqual(2);
  }, 40_000);

  it('2: the default SVID follows the documented rule, whatever the entry IDs', async () => {
    const g = gid++;
    // Created in this order: "zz-first" is older but its ID sorts last.
    const first = await entry(`spiffe://${TD}/older`, g, ['-entryID', 'zz-first']);
    // created_at has one-second resolution: the second entry must be created in a later second
    // than the first (created before `entry create` returned), on the server's clock (this host's).
    const createdBy = Date.now();
    await waitFor('the next second of created_at', () => Math.floor(Date.now() / 1000) > Math.floor(createdBy / 1000), { timeoutMs: 2_000, intervalMs: 10 });
    await entry(`spiffe://${TD}/newer`, g, ['-entryID', 'aa-second']);
    const e = await envoy('envoy-two', g, { listeners: [{ port: await freePort(), cert: 'default' }] });
    await waitFor('default = oldest entry (SPIRE would pick the lowest ID: newer)', async () => (await defaultUri(e)) === `spiffe://${TD}/older` || undefined, { timeoutMs: 15_000 });
    // Recreate the older one: now "newer" is the oldest and must become the default.
    await server.cli('entry', 'delete', '-entryID', first);
    await entry(`spiffe://${TD}/older`, g, ['-entryID', 'zz-first']);
    await waitFor('default follows creation order', async () => (await defaultUri(e)) === `spiffe://${TD}/newer` || undefined, { timeoutMs: 15_000 });
    // An explicit hint wins.
    const upd = await server.cli('entry', 'update', '-entryID', 'zz-first', '-parentID', NODE, '-spiffeID', `spiffe://${TD}/older`, '-selector', `unix:supplementary_gid:${g}`, '-hint', 'default');
    expect(upd.code, upd.stderr).toBe(0);
    await waitFor('hint "default" wins', async () => (await defaultUri(e)) === `spiffe://${TD}/older` || undefined, { timeoutMs: 15_000 });
  }, 60_000);

  it('3+4: ROOTCA carries the federated domain; a per-resource validator; the set survives the server going away; a removed domain leaves Envoy', async () => {
    const g = gid++;
    await entry(`spiffe://${TD}/three`, g, ['-federatesWith', `spiffe://${OTHER}`]);
    const e = await envoy('envoy-three', g, {
      listeners: [
        { port: await freePort(), cert: 'default', validation: 'ROOTCA' },
        { port: await freePort(), cert: 'default', validation: `spiffe://${TD}` },
      ],
    });
    await waitFor('ROOTCA with both domains, and the own domain', async () => {
      const s = await activeSecrets(e);
      return (trustDomainsOf(s.get('ROOTCA'))?.length === 2 && s.has(`spiffe://${TD}`)) || undefined;
    }, { timeoutMs: 15_000 });
    const s = await activeSecrets(e);
    expect(trustDomainsOf(s.get('ROOTCA'))).toEqual([OTHER, TD].sort());
    const own = s.get(`spiffe://${TD}`)!.secret.validation_context!;
    expect(own.trusted_ca).toBeDefined();
    expect(own.custom_validator_config).toBeUndefined();
    // Server down: the agent's syncs fail, Envoy keeps both domains.
    const version = s.get('ROOTCA')!.version_info;
    await server.stop();
    await agent.proc.waitForOutput('Sync with the server failed', 10_000);
    expect((await activeSecrets(e)).get('ROOTCA')!.version_info).toBe(version);
    await server.restart();
    // Removing the federated domain (bundle delete, dissociating entries) reaches Envoy without restart.
    const pid = e.proc.pid;
    const del = await server.cli('bundle', 'delete', '-id', `spiffe://${OTHER}`, '-mode', 'dissociate');
    expect(del.code, del.stderr).toBe(0);
    await waitFor('ROOTCA without the removed domain', async () => (trustDomainsOf((await activeSecrets(e)).get('ROOTCA'))?.join() === TD) || undefined, { timeoutMs: 20_000 });
    expect(e.proc.pid).toBe(pid);
  }, 60_000);

  it('4: node metadata disable_spiffe_cert_validation is remembered per stream (trusted_ca)', async () => {
    const g = gid++;
    await entry(`spiffe://${TD}/four`, g);
    const e = await envoy('envoy-four', g, { disableSpiffe: true, listeners: [{ port: await freePort(), cert: 'default', validation: 'ROOTCA' }] });
    await waitFor('ROOTCA as trusted_ca', async () => ((await activeSecrets(e)).get('ROOTCA')?.secret.validation_context?.trusted_ca ? true : undefined), { timeoutMs: 15_000 });
  }, 30_000);

  it('5: the validation context carries the allowed peers; only they connect', async () => {
    const [ga, gb, gc] = [gid++, gid++, gid++];
    await entry(`spiffe://${TD}/peer-a`, ga);
    await entry(`spiffe://${TD}/peer-b`, gb);
    await entry(`spiffe://${TD}/peer-c`, gc);
    const bPort = await freePort();
    // B's bootstrap has no SAN matcher: the agent puts it into spiffe://example.org.
    const b = await envoy('envoy-b', gb, { listeners: [{ port: bPort, cert: 'default', validation: `spiffe://${TD}` }] });
    const caller = async (name: string, g: number) => {
      const port = await freePort();
      const e = await envoy(name, g, { listeners: [], clusters: [] });
      await e.stop();
      envoys.pop();
      const out = await freePort();
      const yaml = bootstrap({ node: name, admin: port, agentSocket: agent.socketPath, app: bPort, listeners: [], clusters: [{ name: 'tob', port: bPort, cert: 'default', validation: 'ALL' }] })
        .replace('static_resources:\n  listeners:', `static_resources:\n  listeners:\n  - name: out\n    address: { socket_address: { address: 127.0.0.1, port_value: ${out} } }\n    filter_chains: [{ filters: [{ name: envoy.filters.network.http_connection_manager, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager, stat_prefix: out, route_config: { virtual_hosts: [{ name: b, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: tob } }] }] }, http_filters: [{ name: envoy.filters.http.router, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router } }] } }] }]`);
      const h = await startEnvoy({ dir: tmp.path, name: `${name}-2`, adminPort: port, prefix: ['setpriv', `--groups=${g}`, '--'], yaml });
      envoys.push(h);
      return out;
    };
    const aOut = await caller('envoy-a', ga);
    const cOut = await caller('envoy-c', gc);
    await waitFor('A → B works', async () => ((await fetch(`http://127.0.0.1:${aOut}/`).catch(() => undefined))?.status === 200) || undefined, { timeoutMs: 20_000 });
    expect((await fetch(`http://127.0.0.1:${cOut}/`)).status).toBe(503);
    const vc = (await activeSecrets(b)).get(`spiffe://${TD}`)!.secret.validation_context!;
    expect(vc.match_typed_subject_alt_names?.map((m) => m.matcher.exact)).toEqual([`spiffe://${TD}/peer-a`]);
  }, 60_000);

  it('6+7: sds status lists each Envoy; no push without a change; a NACK is recorded with Envoy\'s message', async () => {
    const g = gid++;
    await entry(`spiffe://${TD}/seven`, g);
    // A certificate with the wrong key: Envoy must NACK it.
    const bad = `file-cert:${join(filesDir, 'cert.pem')}~${join(filesDir, 'other-key.pem')}`;
    const e = await envoy('envoy-seven', g, { listeners: [{ port: await freePort(), cert: 'default' }, { port: await freePort(), cert: bad }] });
    await waitFor('default active', async () => (await activeSecrets(e)).has('default') || undefined, { timeoutMs: 15_000 });
    const status = async () => JSON.parse((await sdsStatus('-output', 'json')).stdout);
    const mine = await waitFor('the NACK is in sds status', async () => {
      const st = (await status()).streams.filter((x: { node_id: string }) => x.node_id === 'envoy-seven');
      return st.find((x: { last_nack: unknown }) => x.last_nack) ?? undefined;
    }, { timeoutMs: 15_000 });
    expect(mine.pid).toBeGreaterThan(0);
    expect(mine.spiffe_ids).toEqual([`spiffe://${TD}/seven`]);
    expect(mine.last_nack.message).toMatch(/key|private|certificate/i);
    expect(agent.proc.output()).toContain('Envoy rejected secrets (NACK)');
    const pretty = await sdsStatus();
    expect(pretty.stdout).toContain('Node envoy-seven');
    expect(pretty.stdout).toMatch(/Pushes \d+, ACKs \d+, NACKs [1-9]/);
    // Quiet while nothing changes: five agent syncs (every 500 ms) without an update attempt.
    const before = await envoyStat(e, /^sds\.default\.update_attempt$/);
    await waitForSyncs(agent.proc, 5);
    expect(await envoyStat(e, /^sds\.default\.update_attempt$/)).toBe(before);
  }, 60_000);
});
