// Churn consistency on a real PostgreSQL: three datastores with their entry
// caches (three servers' worth) take random creates, updates and deletes
// concurrently while one of them restarts twice and PostgreSQL restarts once.
// Afterwards every cache equals the database exactly (entries and revision
// numbers), and no consistency check ever had to repair anything (the event
// path lost nothing). CHURN_OPS scales it (default 600 here; the issue's
// 20,000 with CHURN_OPS=20000).
import { describe, expect, it } from 'vitest';
import type { DataStore } from '../../../src/server/datastore/datastore.ts';
import { openPostgresDataStore } from '../../../src/server/datastore/postgres.ts';
import type { RegistrationEntry } from '../../../src/server/datastore/types.ts';
import { EntryCache, type DriftReport } from '../../../src/server/entry-cache/entry-cache.ts';
import { SpiffeId } from '../../../src/spiffe/id.ts';
import { usePostgresCluster } from '../../helpers/postgres-cluster.ts';
import { waitFor } from '../../helpers/wait.ts';
import { seededRandom } from '../../helpers/seeded-random.ts';

const OPS = Number(process.env.CHURN_OPS ?? 600);
const SEED = Number(process.env.CHURN_SEED ?? Date.now() % 1_000_000);
const id = (s: string) => SpiffeId.require(`spiffe://example.org${s}`);
const AGENTS = [id('/spire/agent/a'), id('/spire/agent/b')];


const unavailable = (err: unknown) => /ERR_DATASTORE_(UNAVAILABLE|BUSY|CLOSED)/.test(String((err as { code?: unknown }).code));
const lostRace = (err: unknown) => /ERR_ENTRY_NOT_FOUND|ERR_ENTRY_EXISTS/.test(String((err as { code?: unknown }).code));

const cluster = usePostgresCluster();

describe(`entry caches under churn (${OPS} operations, seed ${SEED})`, () => {
  it('every cache equals the database afterwards, with nothing for the consistency check to repair', async () => {
    const uri = await cluster().createDatabase();
    const drift: DriftReport[] = [];
    interface Server {
      ds: DataStore;
      cache: EntryCache;
    }
    const boot = async (): Promise<Server> => {
      const ds = await openPostgresDataStore({ connectionString: uri, onPoolError: () => {} });
      const cache = await EntryCache.load({ source: ds, verifyIntervalMs: 0, onDrift: (d) => drift.push(d), onRefreshError: () => {} });
      cache.start();
      return { ds, cache };
    };
    const halt = async (s: Server) => {
      await s.cache.stop();
      await s.ds.close();
    };
    const servers = [await boot(), await boot(), await boot()];
    const random = seededRandom(SEED); // replay a failing run with CHURN_SEED
    const live: string[] = [];
    let done = 0;
    let created = 0;
    let refused = 0;
    let lost = 0;

    const op = async (ds: DataStore) => {
      const r = random();
      if (r < 0.45 || live.length < 10) {
        const n = created++;
        const e = await ds.createEntry({ spiffeId: id(`/churn/${n}`), parentId: AGENTS[n % 2]!, selectors: [{ type: 'unix', value: `uid:${n}` }], x509SvidTtlSeconds: 60 + (n % 100) });
        live.push(e.id);
      } else {
        const i = Math.floor(random() * live.length);
        const target = live[i]!;
        if (r < 0.75) await ds.updateEntry({ id: target, hint: `h${Math.floor(random() * 1e6)}`, parentId: AGENTS[Math.floor(random() * 2)]! });
        else {
          live.splice(i, 1);
          await ds.deleteEntry(target);
        }
      }
    };
    const writer = async (k: number) => {
      while (done < OPS) {
        done++;
        try {
          await op(servers[k]!.ds);
        } catch (err) {
          if (unavailable(err)) {
            // Refused while PostgreSQL is down or this server restarts: not an operation; wait a little.
            done--;
            refused++;
            await new Promise((r) => setTimeout(r, 20));
          } else if (lostRace(err)) lost++; // another writer deleted it first
          else throw err;
        }
      }
    };
    const faults = async () => {
      const at = async (fraction: number) => waitFor(`${fraction} of the operations`, () => done >= OPS * fraction, { timeoutMs: 120_000, intervalMs: 5 });
      await at(0.2);
      await halt(servers[1]!);
      servers[1] = await boot();
      await at(0.45);
      await cluster().pause();
      await new Promise((r) => setTimeout(r, 1000)); // an outage long enough for writes to fail
      await cluster().resume();
      await at(0.7);
      await halt(servers[1]!);
      servers[1] = await boot();
    };
    // Restarts swap servers[1] under the writers: writer 1 then writes through the new one.
    await Promise.all([writer(0), writer(1), writer(2), faults()]);

    const truth = await servers[0]!.ds.entrySnapshot();
    const byId = (es: readonly RegistrationEntry[]) => [...es].sort((a, b) => (a.id < b.id ? -1 : 1));
    const want = byId(truth.entries);
    expect(want.length).toBeGreaterThan(0);
    for (const [i, s] of servers.entries()) {
      await waitFor(`server ${i + 1}'s cache to settle`, async () => {
        await s.cache.refresh();
        return s.cache.size === want.length && s.cache.lastEventId >= truth.lastEventId;
      }, { timeoutMs: 20_000 });
      expect(byId(s.cache.entries()), `server ${i + 1}`).toEqual(want);
      await s.cache.verify();
      expect(s.cache.stats.pendingGaps).toBe(0);
    }
    expect(drift).toEqual([]);
    expect(refused, 'writes refused during the outage and restarts').toBeGreaterThan(0);
    expect(lost).toBeLessThan(OPS / 4);
    for (const s of servers) await halt(s);
  }, 600_000);
});
