// bench/primitives: X509-SVID chain verifications/s, JWT-SVID validations/s
// (ES256) and X509-SVID signings/s, each beside this machine's
// `openssl speed ecdsap256` sign/verify rates measured in the same run.
// Bounded: ~3 s per measurement, under a minute in all.
//   npm run bench:primitives
import { X509Certificate } from 'node:crypto';
import { BundleSet } from '../../src/spiffe/bundle/set.ts';
import { SpiffeBundle } from '../../src/spiffe/bundle/spiffe-bundle.ts';
import { SpiffeId } from '../../src/spiffe/id.ts';
import { parseAndValidate, sign } from '../../src/spiffe/jwtsvid.ts';
import { generateKeyPair } from '../../src/spiffe/keys.ts';
import { TrustDomain } from '../../src/spiffe/trust-domain.ts';
import { verify } from '../../src/spiffe/x509-verify.ts';
import { createCaCertificate, signX509Svid } from '../../src/server/credtemplate/standalone.ts';
import { opensslSpeed } from '../lib/openssl.ts';
import { rate as measure } from '../lib/rate.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);

const rate = (fn: () => unknown): Promise<number> => measure(fn, SECONDS, 50);

const td = TrustDomain.fromString('example.org');
const now = Date.now();
const caKeys = generateKeyPair('ec-p256');
const ca = await createCaCertificate({ trustDomain: td, publicKey: caKeys.publicKey, signer: { privateKey: caKeys.privateKey }, notBefore: now, notAfter: now + 86_400_000 });
const leafKeys = generateKeyPair('ec-p256');
const id = SpiffeId.fromString('spiffe://example.org/web');
const leaf = await signX509Svid({ ca: { certificate: ca, privateKey: caKeys.privateKey }, publicKey: leafKeys.publicKey, id, now, ttlMs: 3_600_000 });
const jwtKeys = generateKeyPair('ec-p256');
const bundles = new BundleSet([new SpiffeBundle(td, { x509Authorities: [ca], jwtAuthorities: new Map([['kid', jwtKeys.publicKey]]) })]);
const token = await sign({ id, audience: ['db'], expiresAt: now + 300_000, key: jwtKeys.privateKey, kid: 'kid', now });

// A peer's chain arrives as bytes: parse it each time, as a server would.
const x509Verify = await rate(() => verify([new X509Certificate(leaf.raw)], bundles, { at: now }));
const jwtValidate = await rate(() => parseAndValidate(token, bundles, ['db'], { now }));
const signing = await rate(() => signX509Svid({ ca: { certificate: ca, privateKey: caKeys.privateKey }, publicKey: leafKeys.publicKey, id, now, ttlMs: 3_600_000 }));
const ossl = opensslSpeed(SECONDS);

const rows: [string, number, string, number][] = [
  ['X509-SVID chain verifications/s', x509Verify, 'openssl ecdsap256 verify/s', ossl.verify],
  ['JWT-SVID validations/s (ES256)', jwtValidate, 'openssl ecdsap256 verify/s', ossl.verify],
  ['X509-SVID signings/s (ES256 CA)', signing, 'openssl ecdsap256 sign/s', ossl.sign],
];
console.log(`node ${process.version}, ${SECONDS}s per measurement, one core\n`);
console.log(`${'measurement'.padEnd(34)}${'rate'.padStart(10)}   ${'compared with'.padEnd(28)}${'rate'.padStart(10)}${'ratio'.padStart(8)}`);
for (const [name, r, other, o] of rows) {
  console.log(`${name.padEnd(34)}${r.toFixed(0).padStart(10)}   ${other.padEnd(28)}${o.toFixed(0).padStart(10)}${(r / o).toFixed(3).padStart(8)}`);
}
