// Worker thread body for the signing pool: verifies CSRs and signs
// planned X509-SVID leaves (signing-jobs.ts) with the CA it was last
// given, off the gRPC thread.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { signJobs, transferables } from './signing-jobs.ts';
import type { WorkerMessage, WorkerReply } from './signing-pool.ts';

let ca: { certificate: X509Certificate; privateKey: KeyObject } | undefined;

parentPort!.on('message', (m: WorkerMessage) => {
  if (m.kind === 'ca') {
    ca = { certificate: new X509Certificate(m.certificate), privateKey: createPrivateKey({ key: Buffer.from(m.privateKey), format: 'der', type: 'pkcs8' }) };
    return;
  }
  const reply = signJobs(ca, m.jobs);
  parentPort!.postMessage({ batch: m.batch, reply } satisfies WorkerReply, transferables(reply));
});
