// bench/primitives/composers: what the credential composers cost per
// X509-SVID and JWT-SVID, on the server's main thread (they run there for
// every SVID, before signing): X509-SVID templates/s with uniqueid alone
// and with a `template` composer of 20 patterns (the matching one last, a
// subject, a DNS name and selector/hint variables), JWT claims/s likewise,
// beside X509-SVID signings/s for scale. Bounded: ~2 s per measurement.
//   npm run bench:composers
import { generateKeyPairSync } from 'node:crypto';
import { CredentialBuilder } from '../../src/server/credtemplate/builder.ts';
import { createCaCertificate, signX509Svid } from '../../src/server/credtemplate/standalone.ts';
import { TemplateComposer, type TemplateRuleConfig } from '../../src/server/plugins/credentialcomposer/template/template.ts';
import { UniqueIdComposer } from '../../src/server/plugins/credentialcomposer/uniqueid/uniqueid.ts';
import { SpiffeId } from '../../src/spiffe/id.ts';
import { TrustDomain } from '../../src/spiffe/trust-domain.ts';
import { rate as measure } from '../lib/rate.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);

const rate = (fn: () => unknown): Promise<number> => measure(fn, SECONDS, 200);

const td = TrustDomain.fromString('example.org');
const id = SpiffeId.fromString('spiffe://example.org/db/orders');
const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const spki = keys.publicKey.export({ type: 'spki', format: 'der' });
const entry = { id: 'e', hint: 'orders-db', selectors: [{ type: 'k8s', value: 'ns:payments' }, { type: 'unix', value: 'uid:1000' }] } as never;
const rules: TemplateRuleConfig[] = [
  ...Array.from({ length: 19 }, (_, i) => ({ pattern: `spiffe://example.org/svc${i}/**`, subject: 'CN={{path.last}},O=Other', dnsNames: [], jwtClaims: {} })),
  { pattern: 'spiffe://example.org/db/*', subject: '/C=US/O=Payments/OU={{selector.k8s:ns}}/CN={{path.last}}', dnsNames: ['{{hint}}.db.internal'], jwtClaims: { role: '{{path.last}}', ns: '{{selector.k8s:ns}}' } },
];
const plain = new CredentialBuilder({ trustDomain: td, composers: [new UniqueIdComposer()] });
const templated = new CredentialBuilder({ trustDomain: td, composers: [new UniqueIdComposer(), new TemplateComposer(rules)] });
const now = Date.now();
const jwtCtx = { id, entry, audience: ['db'], expiresAt: now + 300_000, now };
const ca = await createCaCertificate({ trustDomain: td, publicKey: keys.publicKey, signer: { privateKey: keys.privateKey }, notBefore: now, notAfter: now + 86_400_000 });

const rows: [string, number][] = [
  ['X509-SVID templates/s, uniqueid', await rate(() => plain.buildX509SvidTemplate('workload', { id, spki, entry }))],
  ['X509-SVID templates/s, uniqueid + template (20 patterns)', await rate(() => templated.buildX509SvidTemplate('workload', { id, spki, entry }))],
  ['JWT-SVID claims/s, uniqueid', await rate(() => plain.buildWorkloadJwtSvidClaims(jwtCtx))],
  ['JWT-SVID claims/s, uniqueid + template (20 patterns)', await rate(() => templated.buildWorkloadJwtSvidClaims(jwtCtx))],
  ['X509-SVID signings/s (ES256, for scale)', await rate(() => signX509Svid({ ca: { certificate: ca, privateKey: keys.privateKey }, publicKey: keys.publicKey, id, now, ttlMs: 3_600_000 }))],
];
console.log(`node ${process.version}, ${SECONDS}s per measurement, one core\n`);
for (const [name, r] of rows) console.log(`${name.padEnd(58)}${r.toFixed(0).padStart(10)}`);
