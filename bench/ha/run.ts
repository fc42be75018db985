// HA benchmark on a real PostgreSQL (started here, as the tests do):
//  1. write throughput through the global writers' lock, 3 datastores ("servers") at once;
//  2. entry propagation server → server (commit at one, visible in the others' caches, by
//     LISTEN/NOTIFY) p50/p99, idle and under a concurrent write load;
//  3. restart cache rebuild with 100k entries and 1M events, and catching up 10k events;
//  4. with --e2e: 3 herald-servers behind Envoy and an agent (sync 500 ms): create at
//     server 1 → the workload on an agent of server 3 holds the SVID, p50/p99 over 50;
//     with --agents N also N simulated agents (load.ts, spread over --workers processes)
//     syncing every 5 s meanwhile; --agents alone skips 1-3 (implies --e2e).
// Run: npm run bench:ha [-- --entries 100000 --events 1000000 --samples 200 --e2e]
//      npm run bench:ha -- --agents 10000 [--workers 4 --seconds 60]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { percentile } from '../lib/percentile.ts';
import type { DataStore } from '../../src/server/datastore/datastore.ts';
import { openPostgresDataStore } from '../../src/server/datastore/postgres.ts';
import type { EntryInput } from '../../src/server/datastore/types.ts';
import { EntryCache } from '../../src/server/entry-cache/entry-cache.ts';
import { SpiffeId } from '../../src/spiffe/id.ts';
import { startPostgres } from '../../test/helpers/postgres.ts';
import { LOAD_POSTGRES_SETTINGS, simulateAgents } from './load.ts';
import { callUnary, udsClient } from '../../src/cli/grpc-client.ts';
import { Services } from '../../src/common/grpc/protos.ts';

const { values: args } = parseArgs({
  options: {
    entries: { type: 'string', default: '100000' },
    events: { type: 'string', default: '1000000' },
    samples: { type: 'string', default: '200' },
    writes: { type: 'string', default: '3000' },
    e2e: { type: 'boolean', default: false },
    agents: { type: 'string', default: '0' },
    workers: { type: 'string', default: '4' },
    seconds: { type: 'string', default: '30' },
  },
});
const ENTRIES = Number(args.entries);
const EVENTS = Number(args.events);
const SAMPLES = Number(args.samples);
const WRITES = Number(args.writes);
const AGENTS = Number(args.agents);

const id = (s: string) => SpiffeId.require(`spiffe://example.org${s}`);
const input = (n: number, prefix: string): EntryInput => ({
  spiffeId: id(`/${prefix}/${n}`),
  parentId: id(`/spire/agent/join_token/${n % 1000}`),
  selectors: [{ type: 'unix', value: `uid:${n}` }],
});
const fmt = (xs: number[]) => {
  if (xs.length === 0) return 'no samples';
  const s = [...xs].sort((a, b) => a - b);
  return `p50 ${percentile(s, 50).toFixed(1)} ms, p99 ${percentile(s, 99).toFixed(1)} ms, max ${s.at(-1)!.toFixed(1)} ms (n=${s.length})`;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves with the ms from `t0` until `probe` holds (checked every millisecond; bounded). */
async function until(probe: () => boolean, t0: number, limitMs = 10_000): Promise<number> {
  while (!probe()) {
    if (performance.now() - t0 > limitMs) throw new Error(`bench: not seen within ${limitMs} ms`);
    await sleep(1);
  }
  return performance.now() - t0;
}

const cluster = await startPostgres();
const opened: DataStore[] = [];
const open = async (uri: string) => {
  const ds = await openPostgresDataStore({ connectionString: uri, onPoolError: () => {} });
  opened.push(ds);
  return ds;
};
try {
  if (AGENTS > 0) await endToEnd();
  else await datastoreBenchmarks();
} finally {
  for (const ds of opened) await ds.close().catch(() => {});
  await cluster.stop();
}

async function datastoreBenchmarks(): Promise<void> {
  // 1 + 2: three "servers" on one database.
  const uri = await cluster.createDatabase();
  const servers = [await open(uri), await open(uri), await open(uri)];
  const caches = await Promise.all(servers.map((ds) => EntryCache.load({ source: ds, verifyIntervalMs: 0, refreshIntervalMs: 600_000 })));
  for (const c of caches) c.start();

  let t = performance.now();
  let n = 0;
  await Promise.all(
    servers.flatMap((ds, s) =>
      Array.from({ length: 8 }, async () => {
        while (n < WRITES) await ds.createEntry(input(n++, `w${s}`));
      }),
    ),
  );
  const writeMs = performance.now() - t;
  console.log(`writes through the global lock, 3 servers × 8 writers: ${WRITES} creates in ${writeMs.toFixed(0)} ms = ${((WRITES / writeMs) * 1000).toFixed(0)} writes/s`);

  // Agent SVID renewals: agent record updates, which queue per agent, not behind the global lock.
  const agentIds = Array.from({ length: 300 }, (_, i) => id(`/spire/agent/join_token/bench-${i}`));
  for (const a of agentIds) await servers[0]!.createAttestedNode({ spiffeId: a, attestationDataType: 'join_token', certSerialNumber: '1', certNotAfter: 0 });
  t = performance.now();
  let renewals = 0;
  await Promise.all(
    servers.flatMap((ds) =>
      Array.from({ length: 8 }, async () => {
        while (renewals < WRITES) {
          const k = renewals++;
          await ds.updateAttestedNode({ spiffeId: agentIds[k % agentIds.length]!, newCertSerialNumber: String(k), newCertNotAfter: k }, { newCertSerialNumber: true, newCertNotAfter: true });
        }
      }),
    ),
  );
  const renewMs = performance.now() - t;
  console.log(`agent record writes (renewals), 3 servers × 8 writers: ${WRITES} updates in ${renewMs.toFixed(0)} ms = ${((WRITES / renewMs) * 1000).toFixed(0)} writes/s`);

  const propagate = async (label: string, load: boolean) => {
    let stop = false;
    let background = 0;
    const loader = load
      ? (async () => {
          while (!stop) {
            await servers[1]!.createEntry(input(background++, `load-${label.replace(/\W/g, "-")}`));
          }
        })()
      : undefined;
    const lat: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const e = await servers[0]!.createEntry(input(i, `p-${label.replace(/\W/g, "-")}`));
      const t0 = performance.now(); // committed
      await until(() => caches[1]!.getEntry(e.id) !== undefined && caches[2]!.getEntry(e.id) !== undefined, t0);
      lat.push(performance.now() - t0);
    }
    stop = true;
    await loader;
    console.log(`propagation server 1 → caches of servers 2 and 3 (${label}): ${fmt(lat)}${load ? `; ${background} concurrent writes at server 2` : ''}`);
  };
  await propagate('idle', false);
  await propagate('under write load', true);
  for (const c of caches) await c.stop();

  // 3: restart rebuild.
  const big = await cluster.createDatabase();
  const ds = await open(big);
  t = performance.now();
  for (let i = 0; i < ENTRIES; i += 5000) await ds.createEntries(Array.from({ length: Math.min(5000, ENTRIES - i) }, (_, k) => input(i + k, 'big')));
  console.log(`seeded ${ENTRIES} entries in ${(performance.now() - t).toFixed(0)} ms`);
  const raw = new pg.Client({ connectionString: big });
  await raw.connect();
  const extra = Math.max(0, EVENTS - ENTRIES);
  if (extra > 0) {
    // Events as a long-lived deployment accumulates them (updates of the same entries).
    await raw.query(`INSERT INTO entry_events (entry_id, created_at) SELECT entry_id, 0 FROM registered_entries, generate_series(1, ${Math.ceil(extra / ENTRIES)}) LIMIT ${extra}`);
  }
  const events = Number((await raw.query('SELECT count(*) AS n FROM entry_events')).rows[0].n);
  const restarted = await open(big);
  t = performance.now();
  const cache = await EntryCache.load({ source: restarted, verifyIntervalMs: 0 });
  const loadMs = performance.now() - t;
  console.log(`restart rebuild: ${cache.size} entries, ${events} events in the table: ${loadMs.toFixed(0)} ms (aim < 5000 ms)`);
  t = performance.now();
  await cache.verify();
  console.log(`consistency check (digest of ${cache.size} entries, 256 buckets): ${(performance.now() - t).toFixed(0)} ms, drift repaired ${cache.stats.driftRepaired}`);
  const behind = (await raw.query(`INSERT INTO entry_events (entry_id, created_at) SELECT entry_id, 0 FROM registered_entries LIMIT 10000`)).rowCount;
  t = performance.now();
  await cache.refresh();
  console.log(`catch-up of ${behind} events (after an outage): ${(performance.now() - t).toFixed(0)} ms`);
  await raw.end();

  if (args.e2e) await endToEnd();
}

async function endToEnd(): Promise<void> {
  const { startHa, watchSvids } = await import('../../test/helpers/ha.ts');
  const { generateToken, startAgent } = await import('../../test/helpers/herald.ts');
  const dir = await mkdtemp(join(tmpdir(), 'herald-bench-ha-'));
  // Many agents behind one address: SPIRE's per-IP rate limits would throttle the generator, not the servers.
  const ha = await startHa(
    AGENTS > 0 ? { dir, extraServer: '  ratelimit: { attestation: false, signing: false }', postgres: { settings: LOAD_POSTGRES_SETTINGS } } : { dir },
  );
  try {
    const token = await generateToken(ha.servers[1]!);
    const agent = await startAgent({ dir, server: ha.servers[2]!, joinToken: token, syncInterval: '500ms', logLevel: 'INFO' });
    const w = watchSvids(agent.socketPath, () => false);
    const lat: number[] = [];
    const gone: number[] = [];
    let stale = 0;
    // Through the admin sockets' gRPC API (the CLI's calls, without a process per call).
    const entryApi = ha.servers.map((s) => udsClient(Services.entry, s.socketPath));
    type Result = { results: { status: { code: number; message: string }; entry?: { id: string } }[] };
    const ok = (r: Result) => {
      if (r.results[0]!.status.code !== 0) throw new Error(r.results[0]!.status.message);
      return r.results[0]!;
    };
    const measure = async () => {
      for (let i = 0; i < 50; i++) {
        const spiffeId = `spiffe://example.org/e2e/${i}`;
        const created = ok(
          await callUnary<Result>(entryApi[0]!, 'BatchCreateEntry', {
            entries: [{ spiffe_id: { trust_domain: 'example.org', path: `/e2e/${i}` }, parent_id: { trust_domain: 'example.org', path: `/spire/agent/join_token/${token}` }, selectors: [{ type: 'unix', value: `uid:${process.getuid!()}` }] }],
          }),
        );
        const committed = Date.now(); // the call has returned: the entry committed before this
        lat.push((await w.waitFor(spiffeId, true, 10_000)) - committed);
        // Deleted at server 2: a stale entry is one still served 10 s later.
        ok(await callUnary<Result>(entryApi[1]!, 'BatchDeleteEntry', { ids: [created.entry!.id] }));
        const deleted = Date.now();
        try {
          gone.push((await w.waitFor(spiffeId, false, 10_000)) - deleted);
        } catch {
          stale++;
        }
      }
    };
    try {
      if (AGENTS > 0) await simulateAgents(ha, { agents: AGENTS, syncMs: 5000, seconds: Number(args.seconds), workers: Number(args.workers), during: measure });
      else await measure();
    } finally {
      w.close();
      for (const c of entryApi) c.close();
      await agent.stop();
    }
    const under = `agent sync 500 ms${AGENTS > 0 ? `, ${AGENTS} simulated agents syncing` : ''}`;
    console.log(`end to end, entry created at server 1 → workload SVID on an agent of server 3 (${under}): ${fmt(lat)}`);
    console.log(`end to end, entry deleted at server 2 → gone from that workload (${under}): ${fmt(gone)}; ${stale} stale (still served after 10 s)`);
  } finally {
    await ha.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
