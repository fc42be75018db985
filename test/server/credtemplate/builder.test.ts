// The credential template builder with composers, through the issuer: the
// inline and the worker signing paths apply the same template; a composer's
// output that breaks an SVID rule is refused naming the composer and the
// rule; a key manager whose keys cannot be exported signs inline.
import { X509Certificate, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/common/clock.ts';
import { GrpcCode, grpcStatusFor } from '../../../src/common/errors.ts';
import { SvidIssuer } from '../../../src/server/ca/issuer.ts';
import { MemoryKeyManager } from '../../../src/server/plugins/keymanager/memory/memory.ts';
import type { KeyManager, KeyManagerKey } from '../../../src/server/plugins/keymanager/types.ts';
import { CaManager } from '../../../src/server/ca/manager.ts';
import { SelfSignedCaMinter } from '../../../src/server/ca/self-signed-minter.ts';
import { SigningPool } from '../../../src/server/ca/signing-pool.ts';
import { CredentialBuilder } from '../../../src/server/credtemplate/builder.ts';
import type { CredentialComposer, X509SvidAttributes } from '../../../src/server/credtemplate/composer.ts';
import { UniqueIdComposer } from '../../../src/server/plugins/credentialcomposer/uniqueid/uniqueid.ts';
import { createCsr } from '../../../src/spiffe/csr.ts';
import { SpiffeId } from '../../../src/spiffe/id.ts';
import { parseAndValidate } from '../../../src/spiffe/jwtsvid.ts';
import { JwtBundle } from '../../../src/spiffe/bundle/jwt-bundle.ts';
import { uniqueIdFor } from '../../../src/spiffe/x509-template.ts';
import { TrustDomain } from '../../../src/spiffe/trust-domain.ts';
import { X509Bundle } from '../../../src/spiffe/bundle/x509-bundle.ts';
import { verify } from '../../../src/spiffe/x509-verify.ts';
import { makeTempDir } from '../../helpers/tmp.ts';

const td = TrustDomain.fromString('example.org');
const HOUR = 3_600_000;
/** certificatePolicies: SEQUENCE { SEQUENCE { OID 2.5.29.32.0 (anyPolicy) } } */
const POLICIES_VALUE = Buffer.from([0x30, 0x08, 0x30, 0x06, 0x06, 0x04, 0x55, 0x1d, 0x20, 0x00]);

let dir: { path: string; cleanup: () => Promise<void> };
let pool: SigningPool | undefined;
const clock = new ManualClock(Date.now());

beforeEach(async () => {
  dir = await makeTempDir();
});
afterEach(async () => {
  await pool?.close();
  pool = undefined;
  await dir.cleanup();
});

/** Sets CN and O from the path, adds a DNS name and a certificate policy. */
const payments: CredentialComposer = {
  name: 'payments',
  composeWorkloadX509Svid(a: X509SvidAttributes, ctx) {
    const last = ctx.id.path.split('/').pop()!;
    return {
      subject: [...a.subject.filter((x) => x.type !== 'CN'), { type: 'O', value: 'Payments' }, { type: 'CN', value: last }],
      dnsNames: [...a.dnsNames, `${last}.payments.internal`],
      extraExtensions: [...a.extraExtensions, { oid: '2.5.29.32', value: POLICIES_VALUE }],
    };
  },
  composeServerX509Ca(a) {
    return { ...a, subject: [...a.subject, { type: 'CN', value: 'Payments CA' }], extraExtensions: [{ oid: '2.5.29.32', value: POLICIES_VALUE }] };
  },
  composeWorkloadJwtSvid(a, ctx) {
    return { claims: { ...a.claims, db_role: ctx.id.path.split('/').pop() } };
  },
};

/** Keys that never leave the manager: no exportPkcs8 (a KMS). */
class NonExportableKeyManager implements KeyManager {
  readonly durable = false;
  readonly #inner = new MemoryKeyManager();
  readonly signed: string[] = [];
  #wrap(k: KeyManagerKey): KeyManagerKey {
    return { id: k.id, type: k.type, publicKey: k.publicKey, sign: (d, h) => (this.signed.push(k.id), k.sign(d, h)) };
  }
  async generateKey(id: string, type: 'ec-p256'): Promise<KeyManagerKey> {
    return this.#wrap(await this.#inner.generateKey(id, type));
  }
  async getKey(id: string): Promise<KeyManagerKey | undefined> {
    const k = await this.#inner.getKey(id);
    return k && this.#wrap(k);
  }
}

async function setup(composers: CredentialComposer[], opts: { keyManager?: KeyManager; pool?: SigningPool } = {}): Promise<{ ca: CaManager; issuer: SvidIssuer }> {
  const credentials = new CredentialBuilder({ trustDomain: td, composers });
  const ca = new CaManager({
    trustDomain: td, caKeyType: 'ec-p256', jwtKeyType: 'ec-p256', caTtlMs: 24 * HOUR, journalPath: join(dir.path, 'journal.json'),
    keyManager: opts.keyManager ?? new MemoryKeyManager(), minter: new SelfSignedCaMinter(td), publisher: { publish: async () => {} },
    credentials, clock, log: pino({ level: 'silent' }),
  });
  await ca.initialize();
  const issuer = new SvidIssuer(ca, clock, { defaultX509SvidTtlMs: HOUR, defaultJwtSvidTtlMs: 300_000, jwtIssuer: undefined, credentials }, opts.pool);
  return { ca, issuer };
}

const newCsr = (): { key: KeyObject; csr: Buffer } => {
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  return { key, csr: createCsr(key) };
};
const ids = Array.from({ length: 6 }, (_, i) => SpiffeId.fromString(`spiffe://example.org/svc/db${i}`));

describe('credential template builder', () => {
  it('the default composer (uniqueid) gives the seed-000 subject on every kind of X509-SVID', async () => {
    const b = new CredentialBuilder({ trustDomain: td, composers: [new UniqueIdComposer()] });
    const id = SpiffeId.fromString('spiffe://example.org/myservice');
    for (const kind of ['workload', 'agent', 'server'] as const) {
      const t = await b.buildX509SvidTemplate(kind, { id, spki: Buffer.alloc(0), dnsNames: ['a.example.org'] });
      expect(t.subject.map((a) => `${a.type}=${a.value}`)).toEqual(['C=US', 'O=SPIRE', 'x500UniqueIdentifier=f7fa051b660f2be34e54056a8c4e281a', 'CN=a.example.org']);
    }
    expect((await b.buildX509CaTemplate({ publicKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey })).subject.map((a) => `${a.type}=${a.value}`)).toEqual(['C=US', 'O=SPIFFE']);
  });

  it('a composer\'s subject, DNS SANs and extensions reach the CA and X509-SVIDs signed inline and on the workers alike', async () => {
    pool = new SigningPool(1, undefined, 0); // every batch on the workers
    const { ca, issuer } = await setup([new UniqueIdComposer(), payments], { pool });
    const caCert = ca.currentX509Ca().certificate;
    expect(caCert.subject).toBe('C=US\nO=SPIFFE\nCN=Payments CA');
    expect(caCert.toLegacyObject().ext_key_usage).toBeUndefined();
    expect(new X509Certificate(caCert.raw).ca).toBe(true);

    const csrs = ids.map(() => newCsr());
    const inline = await issuer.signX509SvidBatch(csrs.slice(0, 1).map((c, i) => ({ id: ids[i]!, csr: c.csr, dnsNames: ['db.example.org'] })));
    const onWorkers = await issuer.signX509SvidBatch(csrs.map((c, i) => ({ id: ids[i]!, csr: c.csr, dnsNames: ['db.example.org'] })));
    const leafOf = (r: (typeof inline)[number]): X509Certificate => {
      if (!r.ok) throw new Error(r.message);
      return new X509Certificate(r.svid.chain[0]!);
    };
    const a = leafOf(inline[0]!);
    const b = leafOf(onWorkers[0]!);
    for (const leaf of [a, b]) {
      expect(leaf.subject).toBe(`C=US\nO=SPIRE\nx500UniqueIdentifier=${uniqueIdFor(ids[0]!)}\nO=Payments\nCN=db0`);
      expect(leaf.subjectAltName).toBe('URI:spiffe://example.org/svc/db0, DNS:db.example.org, DNS:db0.payments.internal');
      expect(leaf.raw.includes(POLICIES_VALUE)).toBe(true);
      expect(verify([leaf], new X509Bundle(td, [caCert]), { at: clock.now() }).id.equals(ids[0]!)).toBe(true);
    }
    expect(a.subject).toBe(b.subject);
    expect(onWorkers.every((r) => r.ok)).toBe(true);
  });

  it('batches on the signing workers: the pool grows only while its workers are busy; each leaf is for its own CSR\'s key, in order; a CSR whose signature does not verify fails alone, named', async () => {
    pool = new SigningPool(3, undefined, 0); // every batch on the workers
    const { ca, issuer } = await setup([new UniqueIdComposer()], { pool });
    const many = Array.from({ length: 20 }, (_, i) => ({ id: SpiffeId.fromString(`spiffe://example.org/batch/${i}`), ...newCsr() }));
    const forged = Buffer.from(many[13]!.csr);
    forged[forged.length - 1]! ^= 0x01; // the last byte of the signature
    const items = many.map((m, i) => ({ id: m.id, csr: i === 13 ? forged : m.csr }));
    // One batch at a time: one worker does it all.
    await issuer.signX509SvidBatch(items);
    await issuer.signX509SvidBatch(items);
    expect(pool.started).toBe(1);
    // Two at once: the second finds the worker busy and starts another; with
    // more than 8 items per worker it is split over both (slices travel packed).
    const [, results] = await Promise.all([issuer.signX509SvidBatch(items), issuer.signX509SvidBatch(items)]);
    expect(pool.started).toBe(2);
    const bundle = new X509Bundle(td, [ca.currentX509Ca().certificate]);
    results.forEach((r, i) => {
      if (i === 13) {
        expect(r).toMatchObject({ ok: false, code: GrpcCode.INVALID_ARGUMENT });
        expect(!r.ok && r.message).toMatch(/^invalid CSR signature/);
        return;
      }
      if (!r.ok) throw new Error(`item ${i}: ${r.message}`);
      const leaf = new X509Certificate(r.svid.chain[0]!);
      expect(verify([leaf], bundle, { at: clock.now() }).id.equals(many[i]!.id)).toBe(true);
      expect(leaf.publicKey.export({ format: 'der', type: 'spki' }).equals(createPublicKey(many[i]!.key).export({ format: 'der', type: 'spki' }))).toBe(true);
      expect(r.svid.serial).toBe(BigInt(`0x${leaf.serialNumber}`).toString(10));
    });
  });

  it('adds composer claims to JWT-SVIDs and keeps sub, aud, exp and iat', async () => {
    const { ca, issuer } = await setup([payments]);
    const jwt = await issuer.signJwtSvid({ id: ids[2]!, audience: ['db'] });
    const key = ca.currentJwtKey();
    const parsed = await parseAndValidate(jwt.token, new JwtBundle(td, new Map([[key.kid, key.publicKey]])), ['db'], { now: clock.now() });
    expect(parsed.claims.db_role).toBe('db2');
    expect(parsed.claims.sub).toBe('spiffe://example.org/svc/db2');
    expect(Object.keys(parsed.claims)).toEqual(['sub', 'aud', 'exp', 'iat', 'db_role']);
  });

  it.each([
    ['sub', { sub: 'spiffe://example.org/admin' }],
    ['aud', { aud: ['everyone'] }],
    ['exp', { exp: 4_000_000_000 }],
    ['iat', { iat: 1 }],
  ])('refuses a composer that changes the JWT claim %s, naming it', async (name, change) => {
    const bad: CredentialComposer = { name: 'greedy', composeWorkloadJwtSvid: (a) => ({ claims: { ...a.claims, ...change } }) };
    const { issuer } = await setup([bad]);
    const err = await issuer.signJwtSvid({ id: ids[0]!, audience: ['db'] }).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe(`credential composer "greedy": workload JWT-SVID for spiffe://example.org/svc/db0: claim "${name}" is set by the server and may not be changed or removed`);
    expect(grpcStatusFor(err)).toBe(GrpcCode.INTERNAL);
  });

  const x509Breakers: [string, (a: X509SvidAttributes) => X509SvidAttributes, string][] = [
    ['a second URI SAN', (a) => ({ ...a, extraExtensions: [{ oid: '2.5.29.17', value: Buffer.from([0x30, 0x00]) }] }), 'extension 2.5.29.17 (subjectAltName) may not be set by a composer: an X509-SVID has exactly one URI SAN, its SPIFFE ID, and is not a CA; the URI SAN is the SPIFFE ID and DNS SANs come from dnsNames'],
    ['CA:TRUE', (a) => ({ ...a, extraExtensions: [{ oid: '2.5.29.19', critical: true, value: Buffer.from([0x30, 0x03, 0x01, 0x01, 0xff]) }] }), 'extension 2.5.29.19 (basicConstraints) may not be set by a composer: an X509-SVID has exactly one URI SAN, its SPIFFE ID, and is not a CA; the CA flag is fixed by the profile'],
    ['a URI in the DNS names', (a) => ({ ...a, dnsNames: ['spiffe://example.org/other'] }), 'dnsNames "spiffe://example.org/other" is not a DNS name (a URI SAN other than the SPIFFE ID is not allowed in an X509-SVID)'],
    ['an empty subject', (a) => ({ ...a, subject: [] }), 'subject must not be empty (the SAN extension is not critical, so RFC 5280 §4.1.2.6 requires a subject)'],
    ['an unknown attribute', (a) => ({ ...a, subject: [{ type: 'FOO', value: 'x' }] }), 'subject attribute type "FOO" is neither a known short name nor a dotted OID'],
    ['a malformed extension', (a) => ({ ...a, extraExtensions: [{ oid: '1.2.3.4', value: Buffer.from([0x30, 0x05]) }] }), 'extension 1.2.3.4 value must be one DER element (the extnValue contents)'],
  ];

  it.each(x509Breakers)('refuses a composer that adds %s, naming the composer and the rule (inline and batch)', async (_what, fn, rule) => {
    pool = new SigningPool(1);
    const bad: CredentialComposer = { name: 'breaker', composeWorkloadX509Svid: fn, composeAgentX509Svid: fn };
    const { issuer } = await setup([new UniqueIdComposer(), bad], { pool });
    const { csr } = newCsr();
    const err = await issuer.signX509Svid({ id: ids[0]!, spki: Buffer.from(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' })), kind: 'agent' }).catch((e: unknown) => e as Error);
    expect((err as Error).message).toBe(`credential composer "breaker": agent X509-SVID for spiffe://example.org/svc/db0: ${rule}`);
    const batch = await issuer.signX509SvidBatch(ids.map((id) => ({ id, csr })));
    expect(batch.every((r) => !r.ok && r.code === GrpcCode.INTERNAL && r.message.startsWith('credential composer "breaker": workload X509-SVID for spiffe://example.org/svc/db') && r.message.endsWith(rule))).toBe(true);
  });

  it('refuses a CA composer that sets the SAN', async () => {
    const bad: CredentialComposer = { name: 'ca-breaker', composeServerX509Ca: (a) => ({ ...a, extraExtensions: [{ oid: '2.5.29.17', value: Buffer.from([0x30, 0x00]) }] }) };
    await expect(setup([bad])).rejects.toThrow('credential composer "ca-breaker": server X509 CA for spiffe://example.org: extension 2.5.29.17 (subjectAltName) may not be set by a composer: an X.509 CA has exactly one URI SAN, the trust domain ID, and is a CA');
  });

  it('a key that cannot be exported signs every SVID inline through the key manager, never on the workers', async () => {
    const km = new NonExportableKeyManager();
    const failingPool = { sign: async () => { throw new Error('must not reach the workers'); }, close: async () => {} } as unknown as SigningPool;
    const { ca, issuer } = await setup([new UniqueIdComposer()], { keyManager: km, pool: failingPool });
    expect(km.signed).toContain('x509-CA-A'); // the self-signed CA, signed through the manager
    const before = km.signed.length;
    const results = await issuer.signX509SvidBatch(ids.map((id) => ({ id, csr: newCsr().csr })));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(km.signed.length - before).toBe(ids.length);
    const jwt = await issuer.signJwtSvid({ id: ids[0]!, audience: ['x'] });
    expect(km.signed.at(-1)).toBe('JWT-Signer-A');
    const key = ca.currentJwtKey();
    expect((await parseAndValidate(jwt.token, new JwtBundle(td, new Map([[key.kid, key.publicKey]])), ['x'], { now: clock.now() })).id.equals(ids[0]!)).toBe(true);
    expect(ca.currentX509Ca().key.exportPkcs8).toBeUndefined();
  });
});
