// A pool of worker threads that verify CSRs and sign X509-SVIDs, so
// issuance uses every core while the main thread serves gRPC. Jobs of one
// call are split across the workers; each worker holds the active CA and is
// told when it changes.
import type { X509Certificate, KeyObject } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';

export interface SignJob {
  csr: Uint8Array;
  id: string;
  now: number;
  ttlMs: number;
  dnsNames: string[];
}

export type SignResult = { ok: true; der: Uint8Array; serialHex: string; notAfter: number } | { ok: false; code: number; message: string };

export type WorkerMessage =
  | { kind: 'ca'; certificate: Uint8Array; privateKey: Uint8Array }
  | { kind: 'jobs'; batch: number; jobs: SignJob[] };

interface Pending {
  resolve(results: SignResult[]): void;
  reject(err: Error): void;
}

export class SigningPool {
  readonly #workers: Worker[] = [];
  readonly #pending = new Map<number, Pending>();
  #nextBatch = 1;
  #ca: X509Certificate | undefined;
  #next = 0;

  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(join(import.meta.dirname, 'signing-worker.ts'));
      w.unref();
      w.on('message', (m: { batch: number; results: SignResult[] }) => {
        const p = this.#pending.get(m.batch);
        this.#pending.delete(m.batch);
        p?.resolve(m.results);
      });
      w.on('error', (err) => {
        for (const p of this.#pending.values()) p.reject(err);
        this.#pending.clear();
      });
      this.#workers.push(w);
    }
  }

  get size(): number {
    return this.#workers.length;
  }

  /** Gives every worker the CA to sign with (no-op when unchanged). */
  setCa(certificate: X509Certificate, privateKey: KeyObject): void {
    if (this.#ca === certificate) return;
    this.#ca = certificate;
    const key = privateKey.export({ format: 'der', type: 'pkcs8' });
    for (const w of this.#workers) w.postMessage({ kind: 'ca', certificate: certificate.raw, privateKey: key } satisfies WorkerMessage);
  }

  /** Signs `jobs`, in order, spread over the workers. */
  async sign(jobs: SignJob[]): Promise<SignResult[]> {
    const n = Math.min(this.#workers.length, Math.ceil(jobs.length / 8));
    const per = Math.ceil(jobs.length / n);
    const parts: Promise<SignResult[]>[] = [];
    for (let i = 0; i < n; i++) {
      const slice = jobs.slice(i * per, (i + 1) * per);
      if (slice.length === 0) continue;
      const worker = this.#workers[this.#next++ % this.#workers.length]!;
      const batch = this.#nextBatch++;
      parts.push(new Promise((resolve, reject) => this.#pending.set(batch, { resolve, reject })));
      worker.postMessage({ kind: 'jobs', batch, jobs: slice } satisfies WorkerMessage);
    }
    return (await Promise.all(parts)).flat();
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
