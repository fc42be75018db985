// The launched daemons give memory back once quiet (src/common/idle-gc.ts):
// only RSS numbers would otherwise show that the idle GC runs at all.
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

  // Each has grown past 8 MB since it started; then 2 quiet seconds.
  it.each(['server', 'agent'] as const)('herald-%s collects once it is quiet after start-up', async (which) => {
    const proc = which === 'server' ? server.proc : agent.proc;
    const out = await proc.waitForOutput(/Collected garbage while idle/, 20_000);
    expect(out).toMatch(/Collected garbage while idle"? elapsed_time=\d+/);
  }, 30_000);
});
