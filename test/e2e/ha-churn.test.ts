// Churn consistency with real processes: three herald-servers on one real
// PostgreSQL behind Envoy, two agents with a workload each. Random entry
// creates, updates (hint, TTL, moving to the other agent) and deletes go to
// the three servers' admin sockets concurrently while server 2 restarts twice
// and PostgreSQL restarts once. Afterwards every server's entry cache (read
// through the admin socket's herald.debug.v1.EntryCache/Dump) equals the
// database exactly — entry IDs and revision numbers — and each workload holds
// exactly the SVIDs of its agent's live entries: none for a deleted entry.
// HA_CHURN_OPS scales it (default 1,500; the 20,000 with
// HA_CHURN_OPS=20000); HA_CHURN_SEED replays a run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callUnary, udsClient } from '../../src/cli/grpc-client.ts';
import { Services } from '../../src/common/grpc/protos.ts';
import { entryCacheDebugClient, type EntryCacheDump } from '../../src/server/api/debug-service.ts';
import { openPostgresDataStore } from '../../src/server/datastore/postgres.ts';
import { generateToken, startAgent, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { startHa, watchSvids, type HaDeployment, type SvidWatch } from '../helpers/ha.ts';
import { seededRandom } from '../helpers/seeded-random.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';

const OPS = Number(process.env.HA_CHURN_OPS ?? 1500);
const SEED = Number(process.env.HA_CHURN_SEED ?? Date.now() % 1_000_000);
const WRITERS_PER_SERVER = 2;
const UID = process.getuid!();
const TD = 'example.org';
const GRPC_UNAVAILABLE = 14;
const GRPC_NOT_FOUND = 5;

/** The server is restarting (its socket is gone) or its database is down. */
const unavailable = (err: unknown) => {
  const code = (err as { code?: unknown }).code;
  return code === GRPC_UNAVAILABLE || (typeof code === 'string' && code.startsWith('ERR_UNAVAILABLE'));
};

interface Status {
  code: number;
  message: string;
}

describe(`three herald-servers under entry churn (${OPS} operations, seed ${SEED})`, () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let ha: HaDeployment;
  const agents: { handle: AgentHandle; path: string; watch: SvidWatch }[] = [];

  beforeAll(async () => {
    tmp = await makeTempDir('herald-ha-churn-');
    ha = await startHa({ dir: tmp.path });
    for (const [i, name] of ['agent-a', 'agent-b'].entries()) {
      const token = await generateToken(ha.servers[i]!);
      const handle = await startAgent({ dir: tmp.path, name, server: ha.lbServer, joinToken: token, syncInterval: '500ms', logLevel: 'INFO' });
      agents.push({ handle, path: `/spire/agent/join_token/${token}`, watch: watchSvids(handle.socketPath, () => false) });
    }
  }, 240_000);

  afterAll(async () => {
    for (const a of agents) {
      a.watch.close();
      await a.handle.stop();
    }
    await ha?.stop();
    await tmp?.cleanup();
  });

  it('every server’s cache equals the database and every workload holds exactly its live entries’ SVIDs', async () => {
    const random = seededRandom(SEED);
    const clients = ha.servers.map((s) => udsClient(Services.entry, s.socketPath));
    const live: string[] = [];
    let done = 0;
    let created = 0;
    let refused = 0;
    let lost = 0;

    /** One admin call's per-item status; UNAVAILABLE (server restarting, database down) is thrown. */
    const call = async (server: number, method: string, request: object): Promise<{ status: Status; entry?: { id: string } }> => {
      const res = await callUnary<{ results: { status: Status; entry?: { id: string } }[] }>(clients[server]!, method, request, undefined, 10_000);
      const r = res.results[0]!;
      if (r.status.code === GRPC_UNAVAILABLE) throw Object.assign(new Error(r.status.message), { code: GRPC_UNAVAILABLE });
      return r;
    };
    const parent = () => ({ trust_domain: TD, path: agents[Math.floor(random() * agents.length)]!.path });
    const op = async (server: number) => {
      const r = random();
      if (r < 0.45 || live.length < 10) {
        const n = created++;
        const res = await call(server, 'BatchCreateEntry', {
          entries: [{ spiffe_id: { trust_domain: TD, path: `/churn/${n}` }, parent_id: parent(), selectors: [{ type: 'unix', value: `uid:${UID}` }], x509_svid_ttl: 300 }],
        });
        expect(res.status, 'create').toMatchObject({ code: 0 });
        live.push(res.entry!.id);
        return;
      }
      const i = Math.floor(random() * live.length);
      const id = live[i]!;
      const res =
        r < 0.75
          ? await call(server, 'BatchUpdateEntry', { entries: [{ id, hint: `h${Math.floor(random() * 1e6)}`, parent_id: parent(), x509_svid_ttl: 300 + Math.floor(random() * 100) }], input_mask: { hint: true, parent_id: true, x509_svid_ttl: true } })
          : (live.splice(i, 1), await call(server, 'BatchDeleteEntry', { ids: [id] }));
      if (res.status.code === GRPC_NOT_FOUND) lost++; // another writer deleted it first
      else expect(res.status, 'update/delete').toMatchObject({ code: 0 });
    };
    const writer = async (server: number) => {
      while (done < OPS) {
        done++;
        try {
          await op(server);
        } catch (err) {
          if (!unavailable(err)) throw err;
          // Refused while PostgreSQL is down or this server restarts: not an operation; wait a little.
          done--;
          refused++;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    };
    const faults = async () => {
      const at = (fraction: number) => waitFor(`${fraction} of the operations`, () => done >= OPS * fraction, { timeoutMs: 300_000, intervalMs: 10 });
      await at(0.2);
      await ha.servers[1]!.restart();
      await at(0.45);
      await ha.postgres.pause();
      await new Promise((r) => setTimeout(r, 2000)); // long enough for writes to be refused
      await ha.postgres.resume();
      await at(0.7);
      await ha.servers[1]!.restart();
    };
    const started = Date.now();
    await Promise.all([...ha.servers.flatMap((_, s) => Array.from({ length: WRITERS_PER_SERVER }, () => writer(s))), faults()]);
    for (const c of clients) c.close();
    const churnS = (Date.now() - started) / 1000;

    // The truth: the database, read directly.
    const ds = await openPostgresDataStore({ connectionString: ha.databaseUri });
    const truth = await ds.entrySnapshot().finally(() => ds.close());
    const want: EntryCacheDump['entries'] = truth.entries.map((e): [string, number] => [e.id, e.revisionNumber]).sort((a, b) => (a[0] < b[0] ? -1 : 1));
    expect(want.length).toBeGreaterThan(0);
    for (const [i, s] of ha.servers.entries()) await expectCacheEquals(s, i, want, truth.lastEventId);

    for (const a of agents) {
      const expected = truth.entries.filter((e) => e.parentId.path === a.path).map((e) => e.spiffeId.toString()).sort();
      const have = () => (a.watch.latest()?.ids ?? []).filter((id) => id.includes('/churn/')).sort();
      await waitFor(`the workload of ${a.path} to hold exactly its live entries' SVIDs`, () => JSON.stringify(have()) === JSON.stringify(expected), { timeoutMs: 30_000, intervalMs: 50 }).catch((err: Error) => {
        const stale = have().filter((id) => !expected.includes(id));
        throw new Error(`${err.message}: ${stale.length} SVIDs of deleted or moved entries (${stale.slice(0, 5).join(' ')}), ${expected.filter((id) => !have().includes(id)).length} missing`);
      });
    }
    for (const a of agents) expect(a.handle.proc.output()).not.toContain('shutting down');
    expect(refused, 'writes refused during the outage and restarts').toBeGreaterThan(0);
    expect(lost).toBeLessThan(OPS / 4);
    console.log(`HA churn: ${OPS} operations in ${churnS.toFixed(1)} s (${refused} refused during faults, ${lost} lost races), ${want.length} live entries, seed ${SEED}`);
  }, 600_000);
});

/** Waits (bounded) for the server's cache to equal the database: same entry IDs, same revisions, no open gaps. */
async function expectCacheEquals(s: ServerHandle, i: number, want: EntryCacheDump['entries'], lastEventId: number): Promise<void> {
  const debug = entryCacheDebugClient(s.socketPath);
  let dump: EntryCacheDump | undefined;
  try {
    await waitFor(
      `server ${i + 1}'s cache to reach the database's state`,
      async () => {
        dump = await debug.dump();
        return dump.lastEventId >= lastEventId && dump.pendingGaps === 0 && JSON.stringify(dump.entries) === JSON.stringify(want);
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    ).catch((err: Error) => {
      const have = new Map(dump?.entries ?? []);
      const wanted = new Map(want);
      const stale = [...have.keys()].filter((id) => !wanted.has(id));
      const missing = [...wanted.keys()].filter((id) => !have.has(id));
      const outdated = [...wanted].filter(([id, rev]) => have.has(id) && have.get(id) !== rev);
      throw new Error(`${err.message}: ${stale.length} stale, ${missing.length} missing, ${outdated.length} outdated; cursor ${dump?.lastEventId} of ${lastEventId}, ${dump?.pendingGaps} gaps`);
    });
  } finally {
    debug.close();
  }
}
