// Worker thread body for the signing pool: verifies CSRs and signs
// X509-SVID leaves from their composed templates with the CA it was last
// given, off the gRPC thread.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { errorMessage, grpcStatusFor } from '../../common/errors.ts';
import { parseCsr } from '../../spiffe/csr.ts';
import { parseTemplate, signLeafWithKey } from '../credtemplate/x509.ts';
import { packBytes, unpackBytes, type JobMeta, type PackedBytes, type ResultMeta, type WorkerMessage, type WorkerReply } from './signing-pool.ts';

let ca: { certificate: X509Certificate; privateKey: KeyObject } | undefined;

function sign(job: JobMeta, csrs: PackedBytes, i: number, ders: Buffer[]): ResultMeta {
  try {
    if (!ca) throw new Error('signing worker has no CA');
    const csr = parseCsr(unpackBytes(csrs, i));
    const leaf = signLeafWithKey({ ca: ca.certificate, privateKey: ca.privateKey, spki: csr.spki, id: job.id, now: job.now, ttlMs: job.ttlMs, template: parseTemplate(job.template) });
    ders[i] = leaf.der;
    return { ok: true, serialHex: leaf.serialHex, notAfter: leaf.notAfter };
  } catch (err) {
    return { ok: false, code: grpcStatusFor(err), message: errorMessage(err) };
  }
}

parentPort!.on('message', (m: WorkerMessage) => {
  if (m.kind === 'ca') {
    ca = { certificate: new X509Certificate(m.certificate), privateKey: createPrivateKey({ key: Buffer.from(m.privateKey), format: 'der', type: 'pkcs8' }) };
    return;
  }
  const ders: Buffer[] = new Array(m.jobs.length);
  const results = m.jobs.map((job, i) => sign(job, m.csrs, i, ders));
  const packed = packBytes(ders);
  parentPort!.postMessage({ batch: m.batch, results, ders: packed } satisfies WorkerReply, [packed.buffer]);
});
