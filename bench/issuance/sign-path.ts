// CPU per X509-SVID of the server's signing path without gRPC or threads:
// template composition on the main thread (the default uniqueid composer),
// then what a signing worker does per job (CSR parse + signature check,
// TBS, sign), in one loop, against node:crypto's bare sign + verify on the
// same keys. Shows how much the path adds to the crypto it cannot avoid.
//   node bench/issuance/sign-path.ts [svids rounds]
import { generateKeyPairSync, sign, verify, createPublicKey } from 'node:crypto';
import { createCsr } from '../../src/spiffe/csr.ts';
import { SpiffeId } from '../../src/spiffe/id.ts';
import { TrustDomain } from '../../src/spiffe/trust-domain.ts';
import { CredentialBuilder } from '../../src/server/credtemplate/builder.ts';
import { UniqueIdComposer } from '../../src/server/plugins/credentialcomposer/uniqueid/uniqueid.ts';
import { signCaCertificate } from '../../src/server/credtemplate/x509.ts';
import { keyObjectSigner } from '../../src/spiffe/signer.ts';
import { encodeJobs, signJobs } from '../../src/server/ca/signing-jobs.ts';
import { csrPublicKeyInfo } from '../../src/spiffe/csr.ts';
import { planLeaf } from '../../src/server/credtemplate/x509.ts';
import { randomSerials } from '../../src/spiffe/x509-template.ts';
import type { X509SvidTemplate } from '../../src/server/credtemplate/builder.ts';

// What the issuer does on the main thread for a batch (src/server/ca/issuer.ts).
function prepareJobs(b: CredentialBuilder, its: typeof items, now: number, ttlMs: number): ReturnType<typeof encodeJobs> {
  const serials = randomSerials(its.length);
  return encodeJobs(its.map((it, i) => {
    const template = b.buildX509SvidTemplate('workload', { id: it.id, spki: csrPublicKeyInfo(it.csr) }) as X509SvidTemplate;
    return { ...planLeaf({ ca: caCert, id: it.id, now, ttlMs, template }, serials[i]), csr: it.csr };
  }));
}

const N = Number(process.argv[2] ?? 2000);
const ROUNDS = Number(process.argv[3] ?? 5);
const td = TrustDomain.fromString('bench.example');
const builder = new CredentialBuilder({ trustDomain: td, composers: [new UniqueIdComposer()] });
const caKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const now = Date.now();
const caCert = await signCaCertificate({ trustDomain: td, publicKey: caKeys.publicKey, signer: keyObjectSigner(caKeys.privateKey), notBefore: now, notAfter: now + 86_400_000, template: await builder.buildX509CaTemplate({ publicKey: caKeys.publicKey }) });
const items = Array.from({ length: N }, (_, i) => ({ id: SpiffeId.fromString(`spiffe://bench.example/ns/default/sa/workload-${i}`), csr: createCsr(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey) }));

function cpuUs(f: () => void): number {
  const c0 = process.cpuUsage();
  f();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / N;
}
const fmt = (xs: number[]): string => {
  const s = [...xs].sort((a, b) => a - b);
  return `min ${s[0]!.toFixed(1)}, median ${s[Math.floor(s.length / 2)]!.toFixed(1)}, max ${s[s.length - 1]!.toFixed(1)} µs`;
};
const main: number[] = [];
const worker: number[] = [];
const bare: number[] = [];
const data = Buffer.alloc(450, 1);
const keys = items.map(() => generateKeyPairSync('ec', { namedCurve: 'P-256' }));
const pems = keys.map((k) => k.publicKey.export({ format: 'pem', type: 'spki' }) as string);
const sigs = keys.map((k) => sign('sha256', data, k.privateKey));
for (let r = 0; r < ROUNDS + 1; r++) {
  let jobs: ReturnType<typeof prepareJobs> | undefined;
  const m = cpuUs(() => void (jobs = prepareJobs(builder, items, now, 3_600_000)));
  const w = cpuUs(() => void signJobs({ certificate: caCert, privateKey: caKeys.privateKey }, jobs!));
  const b = cpuUs(() => {
    for (let i = 0; i < N; i++) {
      verify('sha256', data, createPublicKey(pems[i]!), sigs[i]!);
      sign('sha256', data, caKeys.privateKey);
    }
  });
  if (r === 0) continue; // warm-up
  main.push(m);
  worker.push(w);
  bare.push(b);
}
console.log(`Node ${process.version}; ${N} X509-SVIDs × ${ROUNDS} rounds, CPU per SVID`);
console.log(`main thread (compose + job encoding): ${fmt(main)}`);
console.log(`worker (CSR check + TBS + sign):      ${fmt(worker)}`);
console.log(`bare node:crypto createPublicKey(PEM) + verify + sign: ${fmt(bare)}`);
