// One process of bench:ha's load generator (load.ts forks several): its own
// share of simulated agents, each attesting with its join token (a real CSR)
// through the load balancer, then — on "go" — syncing every syncMs over its
// own mTLS channel as an agent does: GetBundle, GetAuthorizedEntries (must be
// exactly its entries), and one SVID renewal with a fresh CSR
// (BatchNewX509SVID), so every SVID is renewed every 10 syncs, until "stop".
// Bounded: it stops by itself after `maxSeconds`, exits HARD_MARGIN_S later
// whatever it is doing, and exits when its parent goes.
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { ServerClient } from '../../src/agent/client/server-client.ts';
import { certificatesToPem } from '../../src/spiffe/bundle/der.ts';
import { createCsr } from '../../src/spiffe/csr.ts';
import { SpiffeId } from '../../src/spiffe/id.ts';
import { TrustDomain } from '../../src/spiffe/trust-domain.ts';

export interface WorkerTask {
  readonly address: string;
  readonly rootsPem: string;
  readonly tokens: readonly string[];
  readonly entriesPerAgent: number;
  /** Attestations in flight at once. */
  readonly concurrency: number;
}
export type ToWorker =
  | { type: 'task'; task: WorkerTask }
  | { type: 'go'; syncMs: number; maxSeconds: number; /** Date.now() of the first sync slot */ startAt: number }
  | { type: 'stop' };
export type FromWorker =
  | { type: 'attested'; agents: number; failed: number; ms: number; error?: string }
  /** Every agent has finished its first sync (TLS connection made, records cached at its server). */
  | { type: 'warm' }
  | {
      type: 'result';
      /** Per successful sync: its latency (ms) and when it finished (Date.now()). */
      latencies: number[];
      doneAt: number[];
      /** SVIDs, failures and syncs begun more than one interval late, with when (Date.now()). */
      svidsAt: number[];
      errorsAt: number[];
      lateAt: number[];
      wrongEntries: number;
      error?: string;
    };

const HARD_MARGIN_S = 60;
const td = TrustDomain.require('example.org');
const serverId = SpiffeId.fromSegments(td, 'spire', 'server');

interface Sim {
  client: ServerClient;
  next: number;
}

const send = (m: FromWorker) => new Promise<void>((resolve) => process.send!(m, undefined, undefined, () => resolve()));

async function attestAll(task: WorkerTask): Promise<Sim[]> {
  const roots = task.rootsPem.split(/(?=-----BEGIN CERTIFICATE-----)/).map((p) => new X509Certificate(p));
  const sims: Sim[] = [];
  let failed = 0;
  let firstError: string | undefined;
  let i = 0;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: task.concurrency }, async () => {
      while (i < task.tokens.length) {
        const token = task.tokens[i++]!;
        const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
        const boot = new ServerClient({ address: task.address, serverId, trustedRoots: roots });
        try {
          const svid = await boot.attest('join_token', Buffer.from(token), createCsr(privateKey));
          const client = new ServerClient({
            address: task.address,
            serverId,
            trustedRoots: roots,
            identity: { certChainPem: certificatesToPem(svid.cert_chain.map((d) => new X509Certificate(d))), privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() },
          });
          sims.push({ client, next: sims.length % task.entriesPerAgent });
        } catch (err) {
          failed++;
          firstError ??= String(err);
        } finally {
          boot.close();
        }
      }
    }),
  );
  await send({ type: 'attested', agents: sims.length, failed, ms: Date.now() - t0, ...(firstError ? { error: firstError } : {}) });
  return sims;
}

let stopAt = Infinity;

async function run(sims: Sim[], task: WorkerTask, go: Extract<ToWorker, { type: 'go' }>): Promise<void> {
  const csrKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const latencies: number[] = [];
  const doneAt: number[] = [];
  const svidsAt: number[] = [];
  const errorsAt: number[] = [];
  const lateAt: number[] = [];
  let wrongEntries = 0;
  let firstError: string | undefined;
  stopAt = Math.min(stopAt, go.startAt + go.maxSeconds * 1000);
  const sleepUntil = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - Date.now())));
  let cold = sims.length;
  const warmed = () => {
    if (--cold === 0) void send({ type: 'warm' });
  };
  if (cold === 0) void send({ type: 'warm' });
  await Promise.all(
    sims.map(async (sim, i) => {
      let first = true;
      // Slots spread over the interval, as agents started at different times are.
      let slot = go.startAt + (go.syncMs * i) / sims.length;
      while (slot < stopAt) {
        await sleepUntil(slot);
        if (Date.now() >= stopAt) break;
        if (Date.now() - slot > go.syncMs) lateAt.push(Date.now());
        const t = performance.now();
        try {
          await sim.client.getBundle();
          const entries = await sim.client.authorizedEntries();
          if (entries.length !== task.entriesPerAgent) {
            wrongEntries++;
            throw new Error(`expected ${task.entriesPerAgent} entries, got ${entries.length}`);
          }
          const entry = entries[sim.next++ % entries.length]!;
          const [r] = await sim.client.batchNewX509Svid([{ entryId: entry.id, csr: createCsr(csrKey) }]);
          if (!r?.svid) throw new Error(`SVID refused: ${r?.status.message}`);
          svidsAt.push(Date.now());
          latencies.push(performance.now() - t);
          doneAt.push(Date.now());
        } catch (err) {
          errorsAt.push(Date.now());
          firstError ??= String(err);
        }
        if (first) {
          first = false;
          warmed();
        }
        // The next slot: one interval on, or now when this sync overran it (an agent's ticker drops missed ticks).
        slot = Math.max(slot + go.syncMs, Date.now());
      }
    }),
  );
  await send({ type: 'result', latencies, doneAt, svidsAt, errorsAt, lateAt, wrongEntries, ...(firstError ? { error: firstError } : {}) });
}

let sims: Sim[] = [];
let task: WorkerTask | undefined;
process.on('disconnect', () => process.exit(0));
process.on('message', (m: ToWorker) => {
  if (m.type === 'task') {
    task = m.task;
    void attestAll(m.task).then((s) => (sims = s));
  } else if (m.type === 'stop') {
    stopAt = Date.now();
  } else if (m.type === 'go' && task) {
    setTimeout(() => process.exit(2), m.startAt - Date.now() + (m.maxSeconds + HARD_MARGIN_S) * 1000).unref();
    void run(sims, task, m).then(() => {
      for (const s of sims) s.client.close();
      process.disconnect();
    });
  }
});
