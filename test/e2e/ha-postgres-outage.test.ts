// A PostgreSQL outage under two herald-servers behind Envoy (real processes,
// real PostgreSQL stopped and started again): workloads keep renewing their
// SVIDs from the servers' caches, writes fail with Unavailable naming the
// database, and everything recovers by itself — the servers reconnect and
// catch up from the event table, with no restart of anything.
// The outage lasts HA_OUTAGE_SECONDS (default 15 s here; the 60 s
// with HA_OUTAGE_SECONDS=60).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateToken, startAgent, type AgentHandle } from '../helpers/herald.ts';
import { startHa, watchSvids, type HaDeployment, type SvidWatch } from '../helpers/ha.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';

const UID = process.getuid!();
const TD = 'spiffe://example.org';
const OUTAGE_MS = Number(process.env.HA_OUTAGE_SECONDS ?? 15) * 1000;

describe('PostgreSQL outage under two herald-servers', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let ha: HaDeployment;
  let agent: AgentHandle;
  let agentId: string;
  let w: SvidWatch | undefined;

  beforeAll(async () => {
    tmp = await makeTempDir('herald-ha-pg-');
    ha = await startHa({ dir: tmp.path, servers: 2 });
    const token = await generateToken(ha.servers[0]!);
    agentId = `${TD}/spire/agent/join_token/${token}`;
    agent = await startAgent({ dir: tmp.path, server: ha.lbServer, joinToken: token, syncInterval: '500ms', logLevel: 'INFO' });
  }, 240_000);

  afterAll(async () => {
    if (process.env.HA_DEBUG) console.log(agent?.proc.output().slice(-5000), ha?.servers.map((s) => s.proc.output().slice(-5000)).join('\n----\n'));
    w?.close();
    await agent?.stop();
    await ha?.stop();
    await tmp?.cleanup();
  });

  it('renews from the caches, refuses writes naming the database, and recovers by itself', async () => {
    const create = (i: number, path: string) =>
      ha.servers[i]!.cli('entry', 'create', '-parentID', agentId, '-spiffeID', `${TD}${path}`, '-selector', `unix:uid:${UID}`, '-x509SVIDTTL', '4');
    expect((await create(0, '/steady')).code).toBe(0);
    w = watchSvids(agent.socketPath);
    await w.waitFor(`${TD}/steady`, true, 10_000);
    const notAfter = () => w!.latest()?.notAfter.get(`${TD}/steady`) ?? 0;

    await ha.postgres.pause();
    const down = Date.now();
    const refused = await create(1, '/during-outage');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/database unavailable/i);
    expect(refused.stderr).toMatch(/Unavailable/);
    // Renewals go on for the whole outage (TTL 4 s: several renewals).
    const before = notAfter();
    await waitFor('renewals during the outage', () => notAfter() > before + 4_000, { timeoutMs: OUTAGE_MS });
    while (Date.now() - down < OUTAGE_MS) {
      await new Promise((r) => setTimeout(r, 500));
      expect(w.failures).toEqual([]);
    }
    await ha.postgres.resume();

    // Writes work again at either server, and a change at one reaches the agent wherever it is.
    await waitFor('writes to work again', async () => (await create(1, '/after-outage')).code === 0, { timeoutMs: 30_000, intervalMs: 500 });
    await w.waitFor(`${TD}/after-outage`, true, 10_000);
    expect(w.failures).toEqual([]);
    for (const s of ha.servers) expect(s.proc.output()).toContain('Server started');
  }, 180_000);
});
