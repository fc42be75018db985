// SIGHUP (what a closing terminal sends to `herald-server run &`) stops the
// daemons (server, agent, herald-authz) as SIGTERM does: logged, sockets removed, exit 0. SPIRE 1.13 does
// not handle it (Go's default: killed, no log, sockets left behind).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, generateToken, startAgent, startServer, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { startProcess } from '../helpers/process.ts';
import { makeTempDir } from '../helpers/tmp.ts';

describe('daemons on SIGHUP', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let server: ServerHandle;
  let agent: AgentHandle;

  beforeAll(async () => {
    tmp = await makeTempDir('herald-hup-');
    server = await startServer({ dir: tmp.path });
    const token = await generateToken(server, 'spiffe://example.org/node');
    await server.cli('entry', 'create', '-parentID', 'spiffe://example.org/node', '-spiffeID', 'spiffe://example.org/authz', '-selector', `unix:uid:${process.getuid!()}`);
    agent = await startAgent({ dir: tmp.path, server, joinToken: token });
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
    await tmp?.cleanup();
  });

  it('herald-authz logs the signal, removes its socket and exits 0', async () => {
    const listen = join(tmp.path, 'authz.sock');
    const authz = startProcess(join(ROOT, 'bin/herald-authz'), ['run', '-socketPath', agent.socketPath, '-listen', listen, '-audience', 'echo']);
    try {
      await authz.waitForOutput('JWT bundles received; ready', 20_000);
      process.kill(authz.pid, 'SIGHUP');
      expect(await authz.exited()).toBe(0);
      expect(authz.output()).toMatch(/Stopping herald-authz.*SIGHUP|SIGHUP.*Stopping herald-authz/);
      expect(existsSync(listen)).toBe(false);
    } finally {
      await authz.stop();
    }
  }, 30_000);

  it('herald-agent logs the signal, removes its socket and exits 0', async () => {
    process.kill(agent.proc.pid, 'SIGHUP');
    expect(await agent.proc.exited()).toBe(0);
    expect(agent.proc.output()).toMatch(/Stopping agent.*SIGHUP|SIGHUP.*Stopping agent/);
    expect(agent.proc.output()).toContain('Agent stopped');
    expect(existsSync(agent.socketPath)).toBe(false);
  }, 20_000);

  it('herald-server logs the signal, removes its admin socket and exits 0', async () => {
    process.kill(server.proc.pid, 'SIGHUP');
    expect(await server.proc.exited()).toBe(0);
    expect(server.proc.output()).toMatch(/Stopping server.*SIGHUP|SIGHUP.*Stopping server/);
    expect(existsSync(server.socketPath)).toBe(false);
  }, 20_000);
});
