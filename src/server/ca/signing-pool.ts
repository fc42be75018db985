// A pool of worker threads that verify CSRs and sign X509-SVIDs, so
// issuance uses every core while the main thread serves gRPC. Jobs of one
// call are split across the workers; each worker holds the active CA and is
// told when it changes. Only for CA keys the key manager can export (keys
// held in this process); a key that never leaves its manager signs inline.
// Each job carries its composed template (credential template builder):
// workers encode and sign, they never compose.
// The workers start when an agent attests or renews (warm(): its batches
// follow) or on the first sign(), never on the start-up path. They load signing-worker-entry.js, which turns Node's compile
// cache on inside the worker before loading the TypeScript body, so a worker
// start skips type stripping as the main thread does.
// Workers stop after IDLE_MS without work: each holds ~10–15 MiB of RSS (its
// own V8 heap and modules), which an idle server should not keep.
import type { X509Certificate } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import type { KeyManagerKey } from '../plugins/keymanager/types.ts';

export interface SignJob {
  csr: Uint8Array;
  id: string;
  now: number;
  ttlMs: number;
  /** The composed subject, DNS SANs and extra extensions (credtemplate serializeTemplate). */
  template: string;
}

export type SignResult = { ok: true; der: Uint8Array; serialHex: string; notAfter: number } | { ok: false; code: number; message: string };

export type WorkerMessage =
  | { kind: 'ca'; certificate: Uint8Array; privateKey: Uint8Array }
  | { kind: 'jobs'; batch: number; jobs: SignJob[] };

interface Pending {
  resolve(results: SignResult[]): void;
  reject(err: Error): void;
}

/** How long workers wait for work before they stop (the next batch starts them again). */
export const SIGNING_POOL_IDLE_MS = 3000;

export class SigningPool {
  readonly #size: number;
  readonly #idleMs: number;
  #idleTimer: NodeJS.Timeout | undefined;
  readonly #workers: Worker[] = [];
  readonly #pending = new Map<number, Pending>();
  #nextBatch = 1;
  #ca: { certificate: X509Certificate; message: WorkerMessage } | undefined;
  #next = 0;
  #closed = false;

  constructor(size: number, idleMs = SIGNING_POOL_IDLE_MS) {
    this.#size = Math.max(1, size);
    this.#idleMs = idleMs;
  }

  get size(): number {
    return this.#size;
  }

  /** Starts the workers (once), handing each the current CA. */
  #start(): Worker[] {
    this.#stopWhenIdle();
    if (this.#workers.length > 0 || this.#closed) return this.#workers;
    for (let i = 0; i < this.#size; i++) {
      const w = new Worker(join(import.meta.dirname, 'signing-worker-entry.js'));
      w.unref();
      w.on('message', (m: { batch: number; results: SignResult[] }) => {
        const p = this.#pending.get(m.batch);
        this.#pending.delete(m.batch);
        p?.resolve(m.results);
        this.#stopWhenIdle();
      });
      w.on('error', (err) => {
        for (const p of this.#pending.values()) p.reject(err);
        this.#pending.clear();
      });
      if (this.#ca) w.postMessage(this.#ca.message);
      this.#workers.push(w);
    }
    return this.#workers;
  }

  /** Starts the workers now (once), so a batch expected soon does not wait for them. */
  warm(): void {
    this.#start();
  }

  /** Gives every worker the CA to sign with (no-op when unchanged); the key must be exportable. */
  setCa(certificate: X509Certificate, key: KeyManagerKey): void {
    if (this.#ca?.certificate === certificate) return;
    if (!key.exportPkcs8) throw new Error(`signing pool: key ${JSON.stringify(key.id)} cannot be exported to the workers; sign inline`);
    this.#ca = { certificate, message: { kind: 'ca', certificate: certificate.raw, privateKey: key.exportPkcs8() } };
    for (const w of this.#workers) w.postMessage(this.#ca.message);
  }

  /** Signs `jobs`, in order, spread over the workers. */
  async sign(jobs: SignJob[]): Promise<SignResult[]> {
    if (this.#closed) throw new Error('signing pool is closed');
    const workers = this.#start();
    const n = Math.min(workers.length, Math.ceil(jobs.length / 8));
    const per = Math.ceil(jobs.length / n);
    const parts: Promise<SignResult[]>[] = [];
    for (let i = 0; i < n; i++) {
      const slice = jobs.slice(i * per, (i + 1) * per);
      if (slice.length === 0) continue;
      const worker = workers[this.#next++ % workers.length]!;
      const batch = this.#nextBatch++;
      parts.push(new Promise((resolve, reject) => this.#pending.set(batch, { resolve, reject })));
      worker.postMessage({ kind: 'jobs', batch, jobs: slice } satisfies WorkerMessage);
    }
    return (await Promise.all(parts)).flat();
  }

  /** Whether the workers are running (tests). */
  get running(): boolean {
    return this.#workers.length > 0;
  }

  /** (Re)arms the idle timer: the workers stop once IDLE_MS pass with no batch in flight. */
  #stopWhenIdle(): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      if (this.#pending.size > 0) return this.#stopWhenIdle();
      for (const w of this.#workers.splice(0)) void w.terminate();
    }, this.#idleMs);
    this.#idleTimer.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#idleTimer);
    await Promise.all(this.#workers.splice(0).map((w) => w.terminate()));
  }
}
