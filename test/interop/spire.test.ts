// SPIRE's own tools against Herald: the spire-server CLI on Herald's admin
// socket, a spire-agent attesting to herald-server (join token, x509pop)
// and serving a workload the SVID Herald issued; and the other way round,
// herald-agent attesting with x509pop to SPIRE's spire-server.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, startServer, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { runCommand, type RunningProcess } from '../helpers/process.ts';
import { spireBinaries, startSpireAgent, startSpireServer, type SpireServerHandle } from '../helpers/spire.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { makePopCert, popFingerprint } from '../helpers/x509pop.ts';
import { freePorts } from '../helpers/ports.ts';
import { waitFor } from '../helpers/wait.ts';

describe('SPIRE tools against Herald', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let server: ServerHandle;
  let spire: { server: string; agent: string };
  let agent: RunningProcess | undefined;
  let metricsPort: number | undefined;
  const spireServer = (...args: string[]) => runCommand(spire.server, [...args, '-socketPath', server.socketPath]);
  beforeAll(async () => {
    // Built by test/global-setup.ts before any test file runs.
    spire = spireBinaries();
    tmp = await makeTempDir('herald-spire-');
    // A CA for x509pop and an agent certificate it signed (openssl).
    makePopCert(tmp.path, 'pop-ca', { ca: true });
    makePopCert(tmp.path, 'node-1', { issuer: 'pop-ca' });
    [metricsPort] = await freePorts(1);
    server = await startServer({ dir: tmp.path, x509popCaBundle: join(tmp.path, 'pop-ca.pem'), extraTop: `telemetry:\n  Prometheus: { host: 127.0.0.1, port: ${metricsPort} }\n` });
  });

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
    await tmp?.cleanup();
  });

  it('spire-server CLI: healthcheck, token generate, entry create/show, bundle show, agent list, localauthority', async () => {
    expect((await spireServer('healthcheck')).stdout).toBe('Server is healthy.\n');
    const token = /Token: (\S+)/.exec((await spireServer('token', 'generate', '-spiffeID', 'spiffe://example.org/spire-node')).stdout)?.[1];
    expect(token).toMatch(/^[0-9a-f-]{36}$/);
    const created = await spireServer('entry', 'create', '-parentID', 'spiffe://example.org/spire-node', '-spiffeID', 'spiffe://example.org/from-spire-cli', '-selector', `unix:uid:${process.getuid!()}`);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain('SPIFFE ID        : spiffe://example.org/from-spire-cli');
    const shown = await spireServer('entry', 'show', '-spiffeID', 'spiffe://example.org/from-spire-cli');
    expect(shown.stdout).toContain('Found 1 entry');
    const bundle = await spireServer('bundle', 'show');
    expect(bundle.stdout).toBe((await server.cli('bundle', 'show')).stdout);
    expect((await spireServer('agent', 'list')).code).toBe(0);
    // localauthority: SPIRE's CLI sees and drives Herald's A/B slots.
    const active = JSON.parse((await server.cli('localauthority', 'x509', 'show', '-output', 'json')).stdout).active.authority_id;
    const state = await spireServer('localauthority', 'x509', 'show');
    expect(state.code, state.stderr).toBe(0);
    expect(state.stdout).toContain(active);
    const prepared = await spireServer('localauthority', 'jwt', 'prepare');
    expect(prepared.code, prepared.stderr).toBe(0);
    const kid = JSON.parse((await server.cli('localauthority', 'jwt', 'show', '-output', 'json')).stdout).prepared.authority_id;
    expect(prepared.stdout).toContain(kid);
  });

  it('spire-server CLI: entry show sends by_downstream=false (no filter) and pages through every entry', async () => {
    // 1,001 entries (three 500-entry pages), one of them downstream, in one -data batch.
    const entries = Array.from({ length: 1001 }, (_, i) => ({
      parent_id: 'spiffe://example.org/paging-node',
      spiffe_id: `spiffe://example.org/paging/${i}`,
      selectors: [{ type: 'unix', value: `uid:${i}` }],
      downstream: i === 500,
    }));
    await writeFile(join(tmp.path, 'paging.json'), JSON.stringify({ entries }));
    const created = await spireServer('entry', 'create', '-data', join(tmp.path, 'paging.json'));
    expect(created.code, created.stderr).toBe(0);
    const downstream = await spireServer('entry', 'show', '-spiffeID', 'spiffe://example.org/paging/500');
    expect(downstream.stdout).toMatch(/^Found 1 entry\n/);
    expect(downstream.stdout).toContain('Downstream       : true');
    expect((await spireServer('entry', 'show', '-downstream')).stdout).toMatch(/^Found 1 entry\n/);
    const total = Number(/^(\d+) registration entries/.exec((await spireServer('entry', 'count')).stdout)?.[1]);
    expect(total).toBeGreaterThan(1001);
    const all = await spireServer('entry', 'show', '-parentID', 'spiffe://example.org/paging-node');
    expect(all.stdout).toMatch(/^Found 1001 entries\n/);
    expect((await spireServer('entry', 'show')).stdout).toMatch(new RegExp(`^Found ${total} entries\n`));
    expect((await spireServer('entry', 'count', '-downstream')).stdout).toBe('1 registration entry\n');
  }, 60_000);

  it('a spire-agent attests to herald-server with a join token and serves the Herald-issued SVID', async () => {
    const token = /Token: (\S+)/.exec((await server.cli('token', 'generate', '-spiffeID', 'spiffe://example.org/spire-agent-node')).stdout)![1]!;
    await server.cli('entry', 'create', '-parentID', 'spiffe://example.org/spire-agent-node', '-spiffeID', 'spiffe://example.org/via-spire-agent', '-selector', `unix:uid:${process.getuid!()}`);
    const started = await startSpireAgent({ dir: tmp.path, serverPort: server.port, trustDomain: 'example.org', nodeAttestor: 'NodeAttestor "join_token" { plugin_data {} }', args: ['-joinToken', token] });
    agent = started.proc;
    const socket = started.socketPath;
    await agent.waitForOutput('Node attestation was successful', 30_000);
    await agent.waitForOutput('Starting Workload and SDS APIs', 30_000);
    const out = join(tmp.path, 'out');
    await mkdir(out);
    const fetched = await runCommand(spire.agent, ['api', 'fetch', 'x509', '-socketPath', socket, '-write', out]);
    expect(fetched.stdout, fetched.stderr).toContain('SPIFFE ID:\t\tspiffe://example.org/via-spire-agent');
    await writeFile(join(tmp.path, 'herald-bundle.pem'), (await server.cli('bundle', 'show')).stdout);
    const v = await runCommand('openssl', ['verify', '-CAfile', join(tmp.path, 'herald-bundle.pem'), join(out, 'svid.0.pem')]);
    expect(v.stdout.trim(), v.stderr).toBe(`${join(out, 'svid.0.pem')}: OK`);
    const listed = await server.cli('agent', 'list');
    expect(listed.stdout).toContain(`spiffe://example.org/spire/agent/join_token/${token}`);
    // spire-agent syncs over the SyncAuthorizedEntries stream; streams are counted as SPIRE's middleware counts them.
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(Number(/^spire_server_rpc_entry_v1_entry_sync_authorized_entries\{status="OK"\} (\d+)/m.exec(metrics)?.[1] ?? 0), metrics.slice(0, 2000)).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('a spire-agent attests with x509pop (certificate + proof of key possession); node selectors place it', async () => {
    await agent?.stop();
    const f = (n: string) => join(tmp.path, n);
    const fp = popFingerprint(f('node-1.pem'));
    // A node alias by x509pop selector, and a workload under it.
    expect((await server.cli('entry', 'create', '-node', '-spiffeID', 'spiffe://example.org/cn-node-1', '-selector', 'x509pop:subject:cn:node-1')).code).toBe(0);
    expect((await server.cli('entry', 'create', '-parentID', 'spiffe://example.org/cn-node-1', '-spiffeID', 'spiffe://example.org/via-x509pop', '-selector', `unix:uid:${process.getuid!()}`)).code).toBe(0);
    const started = await startSpireAgent({ dir: tmp.path, name: 'spire-agent-pop', serverPort: server.port, trustDomain: 'example.org', nodeAttestor: `NodeAttestor "x509pop" { plugin_data { private_key_path = "${f('node-1.key')}" certificate_path = "${f('node-1.pem')}" } }` });
    agent = started.proc;
    const socket = started.socketPath;
    await agent.waitForOutput('Node attestation was successful', 30_000);
    expect(agent.output()).toContain(`spiffe://example.org/spire/agent/x509pop/${fp}`);
    await agent.waitForOutput('Starting Workload and SDS APIs', 30_000);
    const fetched = await runCommand(spire.agent, ['api', 'fetch', 'x509', '-socketPath', socket]);
    expect(fetched.stdout, fetched.stderr).toContain('spiffe://example.org/via-x509pop');
    const show = await server.cli('agent', 'show', '-spiffeID', `spiffe://example.org/spire/agent/x509pop/${fp}`);
    expect(show.stdout).toContain('Attestation type  : x509pop');
    expect(show.stdout).toContain('Selectors         : x509pop:subject:cn:node-1');
  }, 60_000);
});

describe('herald-agent against SPIRE\'s spire-server', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let spireServer: SpireServerHandle | undefined;
  let agent: AgentHandle | undefined;

  afterAll(async () => {
    await agent?.stop();
    await spireServer?.stop();
    await tmp?.cleanup();
  });

  it('attests with x509pop to a real spire-server and serves the SVID SPIRE issued', async () => {
    tmp = await makeTempDir('herald-on-spire-');
    const f = (n: string) => join(tmp.path, n);
    makePopCert(tmp.path, 'ca', { ca: true });
    const node = makePopCert(tmp.path, 'node-9', { key: 'rsa-2048', issuer: 'ca' });
    spireServer = await startSpireServer({ dir: tmp.path, plugins: `NodeAttestor "x509pop" { plugin_data { ca_bundle_path = "${f('ca.pem')}" } }` });
    const { cli, port } = spireServer;
    expect((await cli('entry', 'create', '-node', '-spiffeID', 'spiffe://spire.test/node-9', '-selector', 'x509pop:subject:cn:node-9')).code).toBe(0);
    expect((await cli('entry', 'create', '-parentID', 'spiffe://spire.test/node-9', '-spiffeID', 'spiffe://spire.test/on-herald-agent', '-selector', `unix:uid:${process.getuid!()}`)).code).toBe(0);

    // startAgent only needs the server's address and trust domain.
    const target = { port, trustDomain: 'spire.test' } as ServerHandle;
    agent = await startAgent({ dir: tmp.path, server: target, nodeAttestor: `{ x509pop: { plugin_data: { private_key_path: ${node.key}, certificate_path: ${node.cert} } } }` });
    expect(agent.proc.output()).toMatch(/Node attestation was successful.*spiffe:\/\/spire\.test\/spire\/agent\/x509pop\//);
    const out = f('out');
    await mkdir(out);
    const fetched = await waitFor('the SVID', async () => {
      const r = await agent!.cli('api', 'fetch', 'x509', '-write', out);
      return r.code === 0 ? r : undefined;
    });
    expect(fetched.stdout).toContain('spiffe://spire.test/on-herald-agent');
    // The SVID chains to SPIRE's own bundle.
    await writeFile(f('spire-bundle.pem'), (await cli('bundle', 'show')).stdout);
    const v = await runCommand('openssl', ['verify', '-CAfile', f('spire-bundle.pem'), join(out, 'svid.0.pem')]);
    expect(v.stdout.trim(), v.stderr).toBe(`${join(out, 'svid.0.pem')}: OK`);
    const agents = await cli('agent', 'list');
    expect(agents.stdout).toMatch(/SPIFFE ID\s*: spiffe:\/\/spire\.test\/spire\/agent\/x509pop\/[0-9a-f]{40}/);
    // SPIRE has no entry watch: asked once (UNIMPLEMENTED), never again; the agent syncs every sync_interval.
    const count = (re: RegExp) => (agent!.proc.output().match(re) ?? []).length;
    await agent.proc.waitForOutput('The server offers no entry watch');
    const syncs = count(/Synced with the server/g);
    await waitFor('two more syncs', () => count(/Synced with the server/g) >= syncs + 2);
    expect(count(/The server offers no entry watch/g)).toBe(1);
  }, 90_000);
});
