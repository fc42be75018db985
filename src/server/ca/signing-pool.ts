// A pool of worker threads that verify CSRs and sign X509-SVIDs, so
// issuance uses every core while the main thread serves gRPC. Jobs of one
// call are split across the workers. Each batch names the CA it was planned
// under, and a worker is sent that CA before the batch when it last signed
// with another one, so a rotation between batches (or between a batch's
// inline slices) never signs a leaf with a CA its chain does not name. Only
// for CA keys the key manager can export (keys held in this process); a key
// that never leaves its manager signs inline.
// Each job carries its planned leaf (serial, validity and the composed
// template's DER: signing-jobs.ts): workers verify the CSR, splice its key
// into the leaf and sign; they never compose.
// While no worker runs, batches are signed on this thread, a few
// milliseconds per turn of the event loop: a worker's start and JIT
// warm-up cost more CPU than a burst such as an agent's first thousand
// SVIDs. The first worker starts once inline signing has kept this thread
// busy for INLINE_BUSY_MS of the last second or so (sustained load), never
// on the start-up path; more start only while the running ones are all
// busy (#workersFor). They load signing-worker-entry.js, which turns
// Node's compile cache on inside the worker before loading the TypeScript
// body, so a worker start skips type stripping as the main thread does.
// Workers stop after SIGNING_POOL_IDLE_MS without work: each holds ~10–15 MiB
// of RSS (its own V8 heap and modules), which an idle server should not keep.
import { createPrivateKey, type X509Certificate } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import type { KeyManagerKey } from '../plugins/keymanager/types.ts';
import { decodeReply, encodeJobs, failure, signJob, transferables, type BatchReply, type JobBatch, type SignJob, type SigningCa, type SignResult } from './signing-jobs.ts';

export type { SignJob, SignResult } from './signing-jobs.ts';

export type WorkerMessage = { kind: 'ca'; certificate: Uint8Array; privateKey: Uint8Array } | { kind: 'jobs'; batch: number; jobs: JobBatch };

export interface WorkerReply {
  batch: number;
  reply: BatchReply;
}

interface Pending {
  resolve(results: SignResult[]): void;
  reject(err: Error): void;
}

interface PoolWorker {
  worker: Worker;
  /** Slices sent and not answered yet. */
  inflight: number;
  /** The CA last sent to it (it signs every later slice with that one). */
  ca?: X509Certificate;
}

/** A CA as the pool hands it out: the message for workers, and the key for this thread (made on first inline use). */
interface PoolCa {
  readonly certificate: X509Certificate;
  readonly message: WorkerMessage & { kind: 'ca' };
  inline?: SigningCa;
}

/** How long workers wait for work before they stop (the next batch starts them again). */
export const SIGNING_POOL_IDLE_MS = 3000;

/**
 * Inline signing's CPU time on this thread, in ms per second (a 1 s
 * moving sum), above which the workers start: ~1,700 SVIDs a second. An
 * agent's burst of a thousand stays inline, a steady stream goes to them.
 */
export const INLINE_BUSY_MS = 250;

/** The longest inline signing runs before it lets the event loop turn. */
const INLINE_SLICE_MS = 4;

export class SigningPool {
  readonly #size: number;
  readonly #idleMs: number;
  #idleTimer: NodeJS.Timeout | undefined;
  readonly #workers: PoolWorker[] = [];
  readonly #pending = new Map<number, Pending & { on: PoolWorker }>();
  #nextBatch = 1;
  /** The CA of the latest batch: the next batch under the same CA reuses its exported key. */
  #ca: PoolCa | undefined;
  #closed = false;
  readonly #inlineBusyMs: number;
  /** Inline signing time, decayed with a 1 s time constant, and when it was last updated. */
  #inlineLoad = { ms: 0, at: 0 };

  /** `inlineBusyMs`: INLINE_BUSY_MS; 0 sends every batch to the workers. */
  constructor(size: number, idleMs = SIGNING_POOL_IDLE_MS, inlineBusyMs = INLINE_BUSY_MS) {
    this.#size = Math.max(1, size);
    this.#idleMs = idleMs;
    this.#inlineBusyMs = inlineBusyMs;
  }

  /** The most workers the pool starts. */
  get size(): number {
    return this.#size;
  }

  /** Workers running now. */
  get started(): number {
    return this.#workers.length;
  }

  /** Whether any worker is running (tests). */
  get running(): boolean {
    return this.#workers.length > 0;
  }

  /** Starts one more worker, handing it the current CA. */
  #spawn(): void {
    const w: PoolWorker = { worker: new Worker(join(import.meta.dirname, 'signing-worker-entry.js')), inflight: 0 };
    w.worker.unref();
    w.worker.on('message', (m: WorkerReply) => {
      const p = this.#pending.get(m.batch);
      this.#pending.delete(m.batch);
      if (p) p.on.inflight--;
      p?.resolve(decodeReply(m.reply));
      this.#stopWhenIdle();
    });
    w.worker.on('error', (err) => {
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
      for (const x of this.#workers) x.inflight = 0;
      this.#drop(w);
    });
    // A worker that died (an error, or an exit nobody asked for) takes no more batches: they would never settle.
    w.worker.on('exit', () => this.#drop(w));
    this.#workers.push(w);
  }

  /**
   * The workers to use now. Each worker costs its start (~50 ms CPU) and its
   * own JIT warm-up (~100 ms CPU) before it signs at full speed, so the
   * pool grows only under load: one worker at first, one more whenever work
   * arrives while every running worker is still busy, up to `size`.
   */
  #workersFor(): PoolWorker[] {
    if (this.#closed) return this.#workers;
    this.#stopWhenIdle();
    if (this.#workers.length === 0 || (this.#workers.length < this.#size && this.#workers.every((w) => w.inflight > 0))) this.#spawn();
    return this.#workers;
  }

  #drop(w: PoolWorker): void {
    const i = this.#workers.indexOf(w);
    if (i !== -1) this.#workers.splice(i, 1);
  }

  /** The pool's form of a CA (its key exported once per CA); the key must be exportable. */
  #poolCa(certificate: X509Certificate, key: KeyManagerKey): PoolCa {
    if (this.#ca?.certificate === certificate) return this.#ca;
    if (!key.exportPkcs8) throw new Error(`signing pool: key ${JSON.stringify(key.id)} cannot be exported to the workers; sign inline`);
    this.#ca = { certificate, message: { kind: 'ca', certificate: certificate.raw, privateKey: key.exportPkcs8() } };
    return this.#ca;
  }

  /**
   * Signs `jobs`, planned under the CA `certificate` (whose key is `key`),
   * in order: on this thread while no worker runs and inline signing is
   * below its budget, else spread over the least busy workers.
   */
  async sign(jobs: SignJob[], certificate: X509Certificate, key: KeyManagerKey): Promise<SignResult[]> {
    if (this.#closed) throw new Error('signing pool is closed');
    const out: SignResult[] = [];
    const ca = this.#poolCa(certificate, key);
    let i = 0;
    while (i < jobs.length && this.#workers.length === 0 && this.#inlineLoadMs() < this.#inlineBusyMs) {
      if (i > 0) await new Promise((resolve) => setImmediate(resolve));
      if (this.#closed) throw new Error('signing pool is closed');
      ca.inline ??= { certificate: ca.certificate, privateKey: createPrivateKey({ key: Buffer.from(ca.message.privateKey), format: 'der', type: 'pkcs8' }) };
      const t0 = performance.now();
      const cpu0 = process.threadCpuUsage();
      do {
        try {
          out.push({ ok: true, der: signJob(ca.inline, jobs[i]!) });
        } catch (err) {
          out.push(failure(err));
        }
      } while (++i < jobs.length && performance.now() - t0 < INLINE_SLICE_MS);
      // This thread's CPU time, not the slice's wall time: on a busy
      // machine a slice is preempted, and would count time not spent signing.
      const cpu = process.threadCpuUsage(cpu0);
      this.#addInlineLoad((cpu.user + cpu.system) / 1000);
    }
    if (i < jobs.length) out.push(...(await this.#signOnWorkers(i === 0 ? jobs : jobs.slice(i), ca)));
    return out;
  }

  #inlineLoadMs(now = performance.now()): number {
    return this.#inlineLoad.ms * Math.exp((this.#inlineLoad.at - now) / 1000);
  }

  #addInlineLoad(ms: number): void {
    const now = performance.now();
    this.#inlineLoad = { ms: this.#inlineLoadMs(now) + ms, at: now };
  }

  async #signOnWorkers(jobs: SignJob[], ca: PoolCa): Promise<SignResult[]> {
    const workers = [...this.#workersFor()].sort((a, b) => a.inflight - b.inflight);
    const n = Math.min(workers.length, Math.ceil(jobs.length / 8));
    const per = Math.ceil(jobs.length / n);
    const parts: Promise<SignResult[]>[] = [];
    for (let i = 0; i < n; i++) {
      const slice = jobs.slice(i * per, (i + 1) * per);
      if (slice.length === 0) continue;
      const on = workers[i]!;
      const batch = this.#nextBatch++;
      parts.push(new Promise((resolve, reject) => this.#pending.set(batch, { resolve, reject, on })));
      on.inflight++;
      // A worker reads its messages in order: this slice is signed with `ca`.
      if (on.ca !== ca.certificate) {
        on.worker.postMessage(ca.message);
        on.ca = ca.certificate;
      }
      const encoded = encodeJobs(slice);
      on.worker.postMessage({ kind: 'jobs', batch, jobs: encoded } satisfies WorkerMessage, transferables(encoded));
    }
    return (await Promise.all(parts)).flat();
  }

  /** (Re)arms the idle timer: the workers stop once the idle time passes with no slice in flight. */
  #stopWhenIdle(): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      if (this.#pending.size > 0) return this.#stopWhenIdle();
      for (const w of this.#workers.splice(0)) void w.worker.terminate();
    }, this.#idleMs);
    this.#idleTimer.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#idleTimer);
    await Promise.all(this.#workers.splice(0).map((w) => w.worker.terminate()));
  }
}
