// The launched daemons give memory back once quiet (src/common/idle-gc.ts):
// only RSS numbers would otherwise show that the idle GC runs at all.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateToken, startAgent, startServer, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { makeTempDir } from '../helpers/tmp.ts';

describe('idle GC in the launched daemons', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let server: ServerHandle;
  let agent: AgentHandle;

  beforeAll(async () => {
    tmp = await makeTempDir('herald-idle-gc-');
    server = await startServer({ dir: tmp.path });
    agent = await startAgent({ dir: tmp.path, server, joinToken: await generateToken(server, 'spiffe://example.org/node') });
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
    await tmp?.cleanup();
  });

  // The first quiet spell after start-up collects what start-up left behind.
  it.each(['server', 'agent'] as const)('herald-%s collects once it is quiet after start-up', async (which) => {
    const proc = which === 'server' ? server.proc : agent.proc;
    const out = await proc.waitForOutput(/Collected garbage while idle/, 20_000);
    expect(out).toMatch(/Collected garbage while idle"? elapsed_time=\d+/);
  }, 30_000);

  it('HERALD_IDLE_GC=off turns it off', async () => {
    const dir = join(tmp.path, 'off');
    await mkdir(dir);
    const quiet = await startAgent({ dir, server, joinToken: await generateToken(server, 'spiffe://example.org/node-off'), env: { HERALD_IDLE_GC: 'off' } });
    try {
      // Well past the 2 quiet seconds (and the confirmation) in which the agents above collected.
      await new Promise((r) => setTimeout(r, 6000));
      expect(quiet.proc.output()).not.toMatch(/Collected garbage while idle/);
    } finally {
      await quiet.stop();
    }
  }, 60_000);
});
