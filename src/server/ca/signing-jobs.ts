// What crosses the thread boundary between the signing pool and its
// workers, and what a worker does with it. The main thread plans each
// X509-SVID (serial, validity, the template's DER: credtemplate/x509.ts);
// a worker checks each CSR's signature and splices the CSR's key into the
// planned leaf and signs it. Per batch, a few transferred buffers go each
// way and nothing is cloned per SVID but failures' messages: the bytes of
// every job in one ArrayBuffer (a clone would copy each view's whole
// backing store — a CSR is a view into its gRPC message, a leaf into an
// 8 KiB pool slab — and allocate per view on the other side), where each
// job's parts end, and the times in one Float64Array.
import type { KeyObject, X509Certificate } from 'node:crypto';
import { errorMessage, grpcStatusFor } from '../../common/errors.ts';
import { parseCsr } from '../../spiffe/csr.ts';
import type { LeafParts } from '../../spiffe/x509-leaf-der.ts';
import { signLeafWithKey } from '../credtemplate/x509.ts';

/** One X509-SVID to sign: its planned parts and the CSR whose key it certifies (verified by the worker). */
export interface SignJob extends Omit<LeafParts, 'spki'> {
  csr: Uint8Array;
}

export type SignResult = { ok: true; der: Buffer } | { ok: false; code: number; message: string };

export interface PackedBytes {
  buffer: ArrayBuffer;
  /** End offset of each item; item i starts where item i−1 ends. */
  ends: Uint32Array;
}

export function packBytes(items: readonly (Uint8Array | undefined)[]): PackedBytes {
  const ends = new Uint32Array(items.length);
  let total = 0;
  for (let i = 0; i < items.length; i++) ends[i] = total += items[i]?.byteLength ?? 0;
  const out = new Uint8Array(new ArrayBuffer(total));
  for (let i = 0; i < items.length; i++) {
    const b = items[i];
    if (b) out.set(b, i === 0 ? 0 : ends[i - 1]!);
  }
  return { buffer: out.buffer, ends };
}

/** Item `i` of a packed buffer, as a Buffer sharing its memory. */
export function unpackBytes(p: PackedBytes, i: number): Buffer {
  const start = i === 0 ? 0 : p.ends[i - 1]!;
  return Buffer.from(p.buffer, start, p.ends[i]! - start);
}

/** A batch as sent to a worker: per job the CSR, serial, subject, SAN and extra extensions in `bytes`; notBefore, notAfter in `times`. */
export interface JobBatch {
  bytes: PackedBytes;
  times: Float64Array;
}

export interface BatchReply {
  /** Each job's leaf DER, empty for a failed job. */
  ders: PackedBytes;
  failures: { index: number; code: number; message: string }[];
}

const FIELDS = 5;

export function encodeJobs(jobs: readonly SignJob[]): JobBatch {
  const items: Uint8Array[] = new Array(jobs.length * FIELDS);
  const times = new Float64Array(jobs.length * 2);
  jobs.forEach((j, i) => {
    items[i * FIELDS] = j.csr;
    items[i * FIELDS + 1] = j.serial;
    items[i * FIELDS + 2] = j.subject;
    items[i * FIELDS + 3] = j.subjectAltName;
    items[i * FIELDS + 4] = j.extraExtensions;
    times[i * 2] = j.notBefore;
    times[i * 2 + 1] = j.notAfter;
  });
  return { bytes: packBytes(items), times };
}

/** The buffers to transfer with a batch or a reply (never cloned). */
export function transferables(m: JobBatch | BatchReply): ArrayBuffer[] {
  return 'times' in m ? [m.bytes.buffer, m.bytes.ends.buffer as ArrayBuffer, m.times.buffer as ArrayBuffer] : [m.ders.buffer, m.ders.ends.buffer as ArrayBuffer];
}

export interface SigningCa {
  certificate: X509Certificate;
  privateKey: KeyObject;
}

/** Verifies a job's CSR and signs its leaf with `ca`; the leaf's DER. Throws what the caller reports for the job. */
export function signJob(ca: SigningCa, job: SignJob): Buffer {
  const csr = parseCsr(job.csr);
  return signLeafWithKey(ca.certificate, ca.privateKey, { ...job, spki: csr.spki });
}

export function failure(err: unknown): { ok: false; code: number; message: string } {
  return { ok: false, code: grpcStatusFor(err), message: errorMessage(err) };
}

/** signJob for every job of a batch (a worker's copy of the CA key). */
export function signJobs(ca: SigningCa | undefined, batch: JobBatch): BatchReply {
  const n = batch.times.length / 2;
  const ders: Buffer[] = new Array(n);
  const failures: BatchReply['failures'] = [];
  const field = (i: number, f: number): Buffer => unpackBytes(batch.bytes, i * FIELDS + f);
  for (let i = 0; i < n; i++) {
    try {
      if (!ca) throw new Error('signing worker has no CA');
      ders[i] = signJob(ca, {
        csr: field(i, 0),
        serial: field(i, 1),
        notBefore: batch.times[i * 2]!,
        notAfter: batch.times[i * 2 + 1]!,
        subject: field(i, 2),
        subjectAltName: field(i, 3),
        extraExtensions: field(i, 4),
      });
    } catch (err) {
      const { code, message } = failure(err);
      failures.push({ index: i, code, message });
    }
  }
  return { ders: packBytes(ders), failures };
}

/** The per-job results of a reply, in job order. */
export function decodeReply(reply: BatchReply): SignResult[] {
  const out: SignResult[] = new Array(reply.ders.ends.length);
  for (let i = 0; i < out.length; i++) out[i] = { ok: true, der: unpackBytes(reply.ders, i) };
  for (const f of reply.failures) out[f.index] = { ok: false, code: f.code, message: f.message };
  return out;
}
