// Bans across implementations, through SPIRE's PermissionDeniedDetails:
// SPIRE's spire-agent banned by herald-server shuts down as it would against
// spire-server, and herald-agent banned by SPIRE's spire-server does the
// same ("Agent is banned: removing SVID and shutting down").
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startAgent, startServer, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { type RunningProcess } from '../helpers/process.ts';
import { startSpireAgent, startSpireServer } from '../helpers/spire.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { makePopCert, popFingerprint } from '../helpers/x509pop.ts';

const exitedWithin = (p: RunningProcess, ms: number): Promise<number | null | 'running'> =>
  Promise.race([p.exited(), new Promise<'running'>((r) => setTimeout(() => r('running'), ms))]);

describe('banned agents across SPIRE and Herald', () => {
  const cleanups: (() => Promise<void>)[] = [];

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('spire-agent banned by herald-server removes its SVID and shuts down', async () => {
    const tmp = await makeTempDir('herald-spban-');
    cleanups.push(tmp.cleanup);
    const server: ServerHandle = await startServer({ dir: tmp.path });
    cleanups.push(() => server.stop());
    const token = /Token: (\S+)/.exec((await server.cli('token', 'generate')).stdout)![1]!;
    const agentId = `spiffe://example.org/spire/agent/join_token/${token}`;
    const { proc: agent } = await startSpireAgent({ dir: tmp.path, serverPort: server.port, trustDomain: 'example.org', nodeAttestor: 'NodeAttestor "join_token" { plugin_data {} }', args: ['-joinToken', token] });
    cleanups.push(() => agent.stop());
    await agent.waitForOutput('Starting Workload and SDS APIs', 30_000);
    expect((await server.cli('agent', 'ban', '-spiffeID', agentId)).code).toBe(0);
    // spire-agent syncs every 5 s.
    expect(await exitedWithin(agent, 25_000), agent.output()).not.toBe('running');
    expect(agent.output()).toContain('Agent is banned: removing SVID and shutting down');
  }, 60_000);

  it('herald-agent banned by spire-server removes its SVID and exits 1', async () => {
    const tmp = await makeTempDir('herald-onspban-');
    cleanups.push(tmp.cleanup);
    const f = (n: string) => join(tmp.path, n);
    makePopCert(tmp.path, 'ca', { ca: true });
    const node = makePopCert(tmp.path, 'node-b', { issuer: 'ca' });
    const spireServer = await startSpireServer({ dir: tmp.path, plugins: `NodeAttestor "x509pop" { plugin_data { ca_bundle_path = "${f('ca.pem')}" } }` });
    cleanups.push(() => spireServer.stop());
    const { cli, port } = spireServer;
    const target = { port, trustDomain: 'spire.test' } as ServerHandle;
    const agent: AgentHandle = await startAgent({ dir: tmp.path, server: target, syncInterval: '500ms', nodeAttestor: `{ x509pop: { plugin_data: { private_key_path: ${node.key}, certificate_path: ${node.cert} } } }` });
    cleanups.push(() => agent.stop());
    const agentId = `spiffe://spire.test/spire/agent/x509pop/${popFingerprint(node.cert)}`;
    const banned = await cli('agent', 'ban', '-spiffeID', agentId);
    expect(banned.code, banned.stderr).toBe(0);
    expect(await exitedWithin(agent.proc, 20_000), agent.proc.output()).toBe(1);
    expect(agent.proc.output()).toContain('Agent is banned: removing SVID and shutting down');
    expect(existsSync(join(agent.dataDir, 'agent_svid.der'))).toBe(false);
  }, 90_000);
});
