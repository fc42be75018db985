// A banned or evicted join_token agent stops, as SPIRE's does: it stops
// serving workload SVIDs, removes its stored SVID, says why and exits 1
// ("Agent is banned: removing SVID and shutting down"; an evicted join_token
// agent cannot attest again: "Agent failed re-attestation; ..."). Real
// herald-server and herald-agent processes.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AGENT_BIN, generateToken, startAgent, startServer, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { runCommand } from '../helpers/process.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';

describe('herald-agent refused by the server', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let server: ServerHandle;
  let agent: AgentHandle | undefined;
  const agentId = 'spiffe://example.org/spire/agent/join_token/';

  beforeEach(async () => {
    tmp = await makeTempDir('herald-ban-');
    server = await startServer({ dir: tmp.path });
  }, 60_000);

  afterEach(async () => {
    await agent?.stop();
    await server?.stop();
    await tmp?.cleanup();
  });

  const startServing = async (): Promise<{ id: string; agent: AgentHandle }> => {
    const token = await generateToken(server);
    const id = `${agentId}${token}`;
    const created = await server.cli('entry', 'create', '-parentID', id, '-spiffeID', 'spiffe://example.org/ban-workload', '-selector', `unix:uid:${process.getuid!()}`);
    expect(created.code, created.stderr).toBe(0);
    const a = await startAgent({ dir: tmp.path, server, joinToken: token, syncInterval: '500ms' });
    await waitFor('the workload SVID', async () => (await a.cli('api', 'fetch', 'x509')).stdout.includes('spiffe://example.org/ban-workload'));
    return { id, agent: a };
  };

  it('a banned agent stops serving, removes its SVID and exits 1 with SPIRE\'s message', async () => {
    const s = await startServing();
    agent = s.agent;
    expect(existsSync(join(agent.dataDir, 'agent_svid.der'))).toBe(true);
    const banned = await server.cli('agent', 'ban', '-spiffeID', s.id);
    expect(banned.code, banned.stderr).toBe(0);
    const code = await Promise.race([agent.proc.exited(), new Promise<'running'>((r) => setTimeout(() => r('running'), 15_000))]);
    expect(code, agent.proc.output()).toBe(1);
    const out = agent.proc.output();
    expect(out).toContain('Agent is banned: removing SVID and shutting down');
    expect(out).toMatch(/Error: agent: Agent is banned: removing SVID and shutting down: agent "spiffe:\/\/example\.org\/spire\/agent\/join_token\/[^"]+" is banned/);
    expect(out).not.toContain('serving cached SVIDs');
    // No stored SVID left to present again; the socket is gone with the process.
    expect(existsSync(join(agent.dataDir, 'agent_svid.der'))).toBe(false);
    expect(existsSync(join(agent.dataDir, 'agent_svid.key'))).toBe(false);
    expect(existsSync(agent.socketPath)).toBe(false);
    // A restart has nothing to attest with.
    const again = await runCommand(AGENT_BIN, ['run', '-config', join(tmp.path, 'agent.yaml')], { cwd: tmp.path, timeoutMs: 20_000 });
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('no stored agent SVID and no join token');
  }, 60_000);

  it('an agent banned while it was down refuses to start and removes its stored SVID', async () => {
    const s = await startServing();
    agent = s.agent;
    await agent.stop();
    expect((await server.cli('agent', 'ban', '-spiffeID', s.id)).code).toBe(0);
    const again = await runCommand(AGENT_BIN, ['run', '-config', join(tmp.path, 'agent.yaml')], { cwd: tmp.path, timeoutMs: 20_000 });
    expect(again.code, again.stdout + again.stderr).toBe(1);
    expect(again.stdout + again.stderr).toContain('Using the stored agent SVID');
    expect(again.stderr).toMatch(/Error: agent: Agent is banned: removing SVID and shutting down: agent "[^"]+" is banned/);
    expect(existsSync(join(agent.dataDir, 'agent_svid.der'))).toBe(false);
  }, 60_000);

  it('an evicted join_token agent cannot attest again: it stops the same way', async () => {
    const s = await startServing();
    agent = s.agent;
    const evicted = await server.cli('agent', 'evict', '-spiffeID', s.id);
    expect(evicted.code, evicted.stderr).toBe(0);
    const code = await Promise.race([agent.proc.exited(), new Promise<'running'>((r) => setTimeout(() => r('running'), 15_000))]);
    expect(code, agent.proc.output()).toBe(1);
    const out = agent.proc.output();
    expect(out).toContain('Agent failed re-attestation; removing SVID and shutting down');
    expect(out).toMatch(/Error: agent: Agent failed re-attestation; removing SVID and shutting down: attestation method is not re-attestable: agent "[^"]+" is not attested/);
    expect(existsSync(join(agent.dataDir, 'agent_svid.der'))).toBe(false);
  }, 60_000);
});
