// High availability with real processes: three herald-servers on one real
// PostgreSQL behind a real Envoy TCP load balancer, agents reaching them
// through it. Entries written at one server reach workloads behind the others
// (pushed over LISTEN/NOTIFY, then the agent's next sync); deletions stop
// being served (also after churn spread over the servers while one restarts);
// join tokens, bans and evictions work across servers (the servers answer
// syncs from cached agent records: a ban or eviction at one reaches the others
// by notice and refuses the next sync); and SIGKILL of the servers the
// agents are connected to costs workloads no SVID.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateToken, startAgent, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { startHa, watchSvids, type HaDeployment, type SvidWatch } from '../helpers/ha.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';

const UID = process.getuid!();
const TD = 'spiffe://example.org';
// The agents sync every 500 ms: a new entry reaches a workload within one
// sync after the server's cache has it (milliseconds, by notice).
const SYNC = '500ms';
// Generous: the machine is shared; the benchmark (npm run bench:ha) measures.
const PROPAGATION_BOUND_MS = 5_000;

describe('three herald-servers on one PostgreSQL behind Envoy', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let ha: HaDeployment;
  const agents: AgentHandle[] = [];
  const watches: SvidWatch[] = [];
  let agentA: { handle: AgentHandle; id: string };
  let agentB: { handle: AgentHandle; id: string };

  const cli = async (s: ServerHandle, ...args: string[]) => {
    const r = await s.cli(...args);
    expect(r.code, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
    return r.stdout;
  };
  const createEntry = async (s: ServerHandle, parent: string, path: string, ttl = '60') => {
    const out = await cli(s, 'entry', 'create', '-parentID', parent, '-spiffeID', `${TD}${path}`, '-selector', `unix:uid:${UID}`, '-x509SVIDTTL', ttl);
    return /Entry ID\s+:\s+(\S+)/.exec(out)![1]!;
  };
  const agentVia = async (name: string, server: ServerHandle, tokenFrom: ServerHandle, syncInterval = SYNC) => {
    const token = await generateToken(tokenFrom);
    const handle = await startAgent({ dir: tmp.path, name, server, joinToken: token, syncInterval, logLevel: 'INFO' });
    agents.push(handle);
    return { handle, id: `${TD}/spire/agent/join_token/${token}` };
  };
  const watch = (a: AgentHandle, watched?: (id: string) => boolean) => {
    const w = watchSvids(a.socketPath, watched);
    watches.push(w);
    return w;
  };

  beforeAll(async () => {
    tmp = await makeTempDir('herald-ha-');
    ha = await startHa({ dir: tmp.path });
    agentA = await agentVia('agent-a', ha.lbServer, ha.servers[0]!);
    agentB = await agentVia('agent-b', ha.lbServer, ha.servers[1]!);
  }, 240_000);

  afterAll(async () => {
    if (process.env.HA_DEBUG) for (const a of agents) console.log(a.proc.output().slice(-6000));
    for (const w of watches) w.close();
    for (const a of agents) await a.stop();
    await ha?.stop();
    await tmp?.cleanup();
  });

  it('every server has its own CA in the one shared bundle', async () => {
    const bundles = await Promise.all(ha.servers.map((s) => cli(s, 'bundle', 'show')));
    expect(new Set(bundles).size).toBe(1);
    expect(bundles[0]!.match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
  });

  it('an entry created at one server reaches a workload behind another, and its deletion stops it', async () => {
    // A standing identity, so the workload always has one while others come and go.
    await createEntry(ha.servers[0]!, agentB.id, '/standing');
    const w = watch(agentB.handle, (id) => id.endsWith('/standing'));
    await w.waitFor(`${TD}/standing`, true, PROPAGATION_BOUND_MS);
    for (let i = 0; i < 5; i++) {
      const writer = ha.servers[i % 3]!;
      const id = await createEntry(writer, agentB.id, `/propagated-${i}`);
      const t0 = Date.now(); // the CLI has exited: the entry committed before this
      const seen = await w.waitFor(`${TD}/propagated-${i}`, true, PROPAGATION_BOUND_MS);
      expect(seen - t0).toBeLessThan(PROPAGATION_BOUND_MS);
      await cli(ha.servers[(i + 1) % 3]!, 'entry', 'delete', '-entryID', id);
      await w.waitFor(`${TD}/propagated-${i}`, false, PROPAGATION_BOUND_MS);
    }
    expect(w.failures).toEqual([]);
  }, 120_000);

  it('with a 60 s sync_interval, an entry written at any server reaches the agent through the entry watch of the server it is connected to', async () => {
    const slow = await agentVia('agent-slow', ha.lbServer, ha.servers[2]!, '60s');
    const w = watch(slow.handle, (id) => id.includes('/slow-'));
    try {
      await createEntry(ha.servers[0]!, slow.id, '/slow-standing');
      // Its first sync may have come before the entry: the watch (open after that sync) brings it.
      await w.waitFor(`${TD}/slow-standing`, true, PROPAGATION_BOUND_MS);
      for (let i = 0; i < 3; i++) {
        await createEntry(ha.servers[i]!, slow.id, `/slow-${i}`);
        // Without the watch this would wait for the next sync, up to 60 s away.
        await w.waitFor(`${TD}/slow-${i}`, true, PROPAGATION_BOUND_MS);
      }
      expect(w.failures).toEqual([]);
    } finally {
      // The SIGKILL case below counts the load balancer's connections of agents A and B only.
      w.close();
      await slow.handle.stop();
      agents.splice(agents.indexOf(slow.handle), 1);
    }
  }, 120_000);

  it('after churn across the servers (one restarted midway), the agent holds exactly the live entries’ SVIDs', async () => {
    const w = watch(agentB.handle, () => false);
    const live = new Map<string, string>(); // path → entry id
    let n = 0;
    const churn = async (ops: number, servers: readonly ServerHandle[]) => {
      for (let i = 0; i < ops; i++) {
        const s = servers[i % servers.length]!;
        if (live.size < 3 || i % 3 !== 2) {
          const path = `/churn-${n++}`;
          live.set(path, await createEntry(s, agentB.id, path));
        } else {
          const [path, entryId] = [...live][i % live.size]!;
          live.delete(path);
          await cli(s, 'entry', 'delete', '-entryID', entryId);
        }
      }
    };
    await churn(9, ha.servers);
    await ha.servers[1]!.restart();
    await churn(9, ha.servers);
    const want = [...live.keys()].map((p) => `${TD}${p}`).sort();
    await waitFor('the workload to hold exactly the live churned entries', () => {
      const have = (w.latest()?.ids ?? []).filter((i) => i.includes('/churn-')).sort();
      return JSON.stringify(have) === JSON.stringify(want);
    }, { timeoutMs: PROPAGATION_BOUND_MS * 2 }).catch((err: Error) => {
      throw new Error(`${err.message}; want ${want.join(' ')}; have ${w.latest()?.ids.join(' ')}`);
    });
  }, 180_000);

  it('a join token made at one server is redeemed at another; a ban and an eviction at a third stop those agents at their next sync', async () => {
    // Straight to servers 3 and 2 (no load balancer); each token came from another server.
    const c = await agentVia('agent-c', ha.servers[2]!, ha.servers[1]!);
    const d = await agentVia('agent-d', ha.servers[1]!, ha.servers[2]!);
    await createEntry(ha.servers[0]!, c.id, '/on-c');
    await createEntry(ha.servers[0]!, d.id, '/on-d');
    // Served: servers 3 and 2 now answer these agents' syncs from the agent records they cache.
    await watch(c.handle).waitFor(`${TD}/on-c`, true, PROPAGATION_BOUND_MS);
    await watch(d.handle).waitFor(`${TD}/on-d`, true, PROPAGATION_BOUND_MS);
    await cli(ha.servers[0]!, 'agent', 'ban', '-spiffeID', c.id);
    await cli(ha.servers[0]!, 'agent', 'evict', '-spiffeID', d.id);
    // The next sync (every 500 ms) is refused: a cached record that still accepted them would keep both running.
    const exited = (a: AgentHandle) => Promise.race([a.proc.exited(), new Promise<'running'>((r) => setTimeout(() => r('running'), PROPAGATION_BOUND_MS + 5_000))]);
    const [codeC, codeD] = await Promise.all([exited(c.handle), exited(d.handle)]);
    expect(codeC, c.handle.proc.output()).toBe(1);
    expect(c.handle.proc.output()).toContain('Agent is banned: removing SVID and shutting down');
    expect(codeD, d.handle.proc.output()).toBe(1);
    // Evicted: it tries to attest again, and its join token is used up.
    expect(d.handle.proc.output()).toContain('removing SVID and shutting down');
  }, 120_000);

  it('SIGKILL of the servers the agents use costs their workloads no SVID; the servers rejoin', async () => {
    // Both load-balanced agents' workloads renew every ~2 s (TTL 4 s).
    const renewing = [
      { agent: agentA, path: '/renewing-a' },
      { agent: agentB, path: '/renewing-b' },
    ];
    const ws: SvidWatch[] = [];
    for (const r of renewing) {
      await createEntry(ha.servers[0]!, r.agent.id, r.path, '4');
      const w = watch(r.agent.handle, (id) => id.includes('/renewing-'));
      await w.waitFor(`${TD}${r.path}`, true, PROPAGATION_BOUND_MS);
      ws.push(w);
    }
    // Every server an agent is connected to dies (one or two of the three).
    const conns = await ha.activeConnections();
    const victims = conns.flatMap((n, i) => (n > 0 ? [i] : []));
    expect(conns.reduce((a, b) => a + b, 0), `active connections per server: ${conns}`).toBe(2);
    for (const v of victims) await ha.servers[v]!.proc.stop('SIGKILL');
    // Two full TTLs of renewals with those servers gone.
    const notAfter = (i: number) => ws[i]!.latest()?.notAfter.get(`${TD}${renewing[i]!.path}`) ?? 0;
    const before = ws.map((_, i) => notAfter(i));
    await waitFor('two renewals after the kill', () => ws.every((_, i) => notAfter(i) > before[i]! + 4_000), { timeoutMs: 20_000, intervalMs: 100 });
    for (const w of ws) expect(w.failures).toEqual([]);
    // They moved: both connections now go to the live server(s).
    await waitFor('both agents on live servers', async () => (await ha.activeConnections()).reduce((sum, n, i) => (victims.includes(i) ? sum : sum + n), 0) === 2);
    // The killed servers come back, rejoin the load balancer and serve from their own caches.
    for (const v of victims) {
      await ha.servers[v]!.restart();
      await waitFor('Envoy to see it healthy', async () => new RegExp(`127\\.0\\.0\\.1:${ha.servers[v]!.port}::health_flags::healthy$`, 'm').test(await ha.lb.admin('/clusters')), { timeoutMs: 15_000 });
      expect(await cli(ha.servers[v]!, 'entry', 'show', '-spiffeID', `${TD}/renewing-a`)).toContain(`${TD}/renewing-a`);
    }
    for (const w of ws) expect(w.failures).toEqual([]);
    for (const { agent } of renewing) expect(agent.handle.proc.output()).not.toContain('Agent is banned');
  }, 120_000);
});
