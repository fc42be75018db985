// herald-agent attesting with x509pop (no join token) to herald-server:
// node selectors place it, a restart reuses the stored SVID, its SVID is
// renewed by attesting again, and an evicted agent attests again by itself —
// what SPIRE's "reattestable" agents do.
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_BIN, startAgent, startServer, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { runCommand } from '../helpers/process.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { makePopCert, popFingerprint } from '../helpers/x509pop.ts';
import { waitFor } from '../helpers/wait.ts';

describe('herald-agent with x509pop', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let server: ServerHandle;
  let agent: AgentHandle;
  let agentId: string;
  const f = (n: string) => join(tmp.path, n);

  const agentIds = async (): Promise<string[]> => {
    const res = await server.cli('agent', 'list', '-output', 'json');
    return (JSON.parse(res.stdout).agents ?? []).map((a: { id: { trust_domain: string; path: string } }) => `spiffe://${a.id.trust_domain}${a.id.path}`);
  };
  const fetchId = async (): Promise<string> => {
    const res = await agent.cli('api', 'fetch', 'x509', '-output', 'json');
    if (res.code !== 0) throw new Error(res.stderr);
    return JSON.parse(res.stdout).svids[0].spiffe_id;
  };

  beforeAll(async () => {
    tmp = await makeTempDir('herald-agent-x509pop-e2e-');
    makePopCert(tmp.path, 'ca', { ca: true });
    const node = makePopCert(tmp.path, 'node-7', { issuer: 'ca' });
    const fp = popFingerprint(node.cert);
    agentId = `spiffe://example.org/spire/agent/x509pop/${fp}`;

    // agent_ttl 20 s: the agent renews (by attesting again) every 8–10 s.
    server = await startServer({ dir: tmp.path, x509popCaBundle: f('ca.pem'), extraServer: '  agent_ttl: 20s' });
    // The workload sits under a node alias chosen by the certificate's CN.
    expect((await server.cli('entry', 'create', '-node', '-spiffeID', 'spiffe://example.org/node-7', '-selector', 'x509pop:subject:cn:node-7')).code).toBe(0);
    expect((await server.cli('entry', 'create', '-parentID', 'spiffe://example.org/node-7', '-spiffeID', 'spiffe://example.org/pop-workload', '-selector', `unix:uid:${process.getuid!()}`)).code).toBe(0);
    agent = await startAgent({
      dir: tmp.path,
      server,
      syncInterval: '500ms',
      nodeAttestor: `{ x509pop: { plugin_data: { private_key_path: ${node.key}, certificate_path: ${node.cert} } } }`,
    });
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
    await tmp?.cleanup();
  });

  it('attests without a token; its ID is the certificate fingerprint; node selectors place the workload', async () => {
    expect(await agentIds()).toContain(agentId);
    expect(await waitFor('the workload SVID', () => fetchId().catch(() => undefined))).toBe('spiffe://example.org/pop-workload');
  });

  it('renews its SVID by attesting again (fresh proof of the node), not with RenewAgent', async () => {
    const mark = agent.proc.output().length;
    await waitFor('a second attestation', () => (agent.proc.output().slice(mark).match(/Node attestation was successful/g)?.length ?? 0) >= 1, { timeoutMs: 20_000 });
    expect(agent.proc.output().slice(mark)).not.toContain('Renewed the agent SVID');
  }, 25_000);

  it('attests again by itself after being evicted, and keeps serving the workload', async () => {
    // Evict just after a renewal, so the next one (≥ 8 s away) cannot hide the refusal path.
    const before = agent.proc.output().length;
    await waitFor('a fresh attestation', () => agent.proc.output().slice(before).includes('Node attestation was successful'), { timeoutMs: 20_000 });
    const mark = agent.proc.output().length;
    expect((await server.cli('agent', 'evict', '-spiffeID', agentId)).code).toBe(0);
    await waitFor('the refusal to be noticed', () => agent.proc.output().slice(mark).includes('The server refused the agent SVID; attesting again'), { timeoutMs: 6_000 });
    await waitFor('the agent back in the list', async () => (await agentIds()).includes(agentId), { timeoutMs: 15_000 });
    expect(await fetchId()).toBe('spiffe://example.org/pop-workload');
  }, 50_000);

  it('a restart reuses the stored SVID (no token needed, none given)', async () => {
    await agent.restart();
    expect(agent.proc.output()).toContain('Using the stored agent SVID');
    expect(await waitFor('the workload SVID', () => fetchId().catch(() => undefined))).toBe('spiffe://example.org/pop-workload');
  }, 30_000);

  it('a banned x509pop agent does not attest again: it removes its SVID and exits 1, as SPIRE\'s does', async () => {
    expect((await server.cli('agent', 'ban', '-spiffeID', agentId)).code).toBe(0);
    const code = await Promise.race([agent.proc.exited(), new Promise<'running'>((r) => setTimeout(() => r('running'), 15_000))]);
    expect(code, agent.proc.output()).toBe(1);
    expect(agent.proc.output()).toContain('Agent is banned: removing SVID and shutting down');
    expect(existsSync(join(tmp.path, 'agent-data', 'agent_svid.der'))).toBe(false);
  }, 30_000);

  it('banned while down with its renewal due (renewing means attesting again), it still stops at start', async () => {
    // Evicting the banned node lets the certificate attest afresh.
    expect((await server.cli('agent', 'evict', '-spiffeID', agentId)).code).toBe(0);
    await agent.restart();
    await waitFor('the workload SVID', () => fetchId().catch(() => undefined));
    await agent.stop();
    expect((await server.cli('agent', 'ban', '-spiffeID', agentId)).code).toBe(0);
    // Past the stored SVID's renewal time (agent_ttl 20 s), not its expiry: the first sync attests
    // again (renewal), and is refused. A stored SVID is renewed half-way from notBefore, minus jitter.
    const stored = new X509Certificate(readFileSync(join(tmp.path, 'agent-data', 'agent_svid.der')));
    const renewBy = stored.validFromDate.getTime() + (stored.validToDate.getTime() - stored.validFromDate.getTime()) / 2;
    await waitFor('the stored agent SVID past its renewal time', () => Date.now() > renewBy, { timeoutMs: 20_000, intervalMs: 100 });
    expect(Date.now()).toBeLessThan(stored.validToDate.getTime());
    const run = await runCommand(AGENT_BIN, ['run', '-config', f('agent.yaml')], { cwd: tmp.path, timeoutMs: 20_000 });
    expect(run.code, run.stdout + run.stderr).toBe(1);
    // The stored SVID, not yet expired, is used: its renewal is due at the first sync.
    expect(run.stderr).toContain('Using the stored agent SVID');
    expect(run.stderr).toContain('Agent is banned: removing SVID and shutting down');
    expect(existsSync(join(tmp.path, 'agent-data', 'agent_svid.der'))).toBe(false);
  }, 60_000);

  it('refuses to start with a key that is not the certificate\'s, naming the files', async () => {
    const valid = await runCommand(AGENT_BIN, ['validate', '-config', f('agent.yaml')], { cwd: tmp.path });
    expect(valid.code, valid.stderr).toBe(0);
    await writeFile(f('bad-agent.yaml'), readFileSync(f('agent.yaml'), 'utf8').replace(f('node-7.key'), f('ca.key')).replace(/socket_path: .*/, `socket_path: ${f('bad.sock')}`).replace(/data_dir: .*/, `data_dir: ${f('bad-data')}`));
    const run = await runCommand(AGENT_BIN, ['run', '-config', f('bad-agent.yaml')], { cwd: tmp.path, timeoutMs: 20_000 });
    expect(run.code).not.toBe(0);
    expect(run.stderr + run.stdout).toMatch(/x509pop.*does not match the certificate/);
  }, 30_000);
});
