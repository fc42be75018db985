// The leaf TBSCertificate is written in one pass from its parts (the
// signing workers' hot path); it must be the same bytes as the profile
// written element by element with the DER writer, for every length form
// and edge of the encoding. The reference below is that element-by-element
// construction (the writer before issue 22), kept here as the oracle.
import { X509Certificate, generateKeyPairSync, sign, createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bitString, bool, explicit, ia5, octets, oid, seq, time, uint } from '../../src/spiffe/der-writer.ts';
import { assembleCertificate, buildLeafTbs, caSigningInfo, encodeName, type CaSigningInfo, type ExtraExtension, type NameAttribute } from '../../src/spiffe/x509-leaf-der.ts';
import { signX509SvidDer, createCaCertificate } from '../../src/server/credtemplate/standalone.ts';
import { TrustDomain } from '../../src/spiffe/trust-domain.ts';
import { SpiffeId } from '../../src/spiffe/id.ts';

function ext(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
}

function referenceTbs(info: CaSigningInfo, o: { spki: Buffer; spiffeId: string; serialHex: string; notBefore: number; notAfter: number; subject: NameAttribute[]; dnsNames: string[]; extraExtensions: ExtraExtension[] }): Buffer {
  const bits = o.spki.subarray(o.spki.length - 65);
  const extensions = [
    ext('2.5.29.15', true, bitString(Buffer.from([0xa8]), 3)),
    ext('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'), oid('1.3.6.1.5.5.7.3.2'))),
    ext('2.5.29.19', true, seq()),
    ext('2.5.29.14', false, octets(createHash('sha1').update(bits).digest())),
    ext('2.5.29.17', false, seq(ia5(0x86, o.spiffeId), ...o.dnsNames.map((d) => ia5(0x82, d)))),
  ];
  if (info.leafAuthorityKeyId) extensions.push(info.leafAuthorityKeyId);
  for (const e of o.extraExtensions) extensions.push(ext(e.oid, e.critical === true, Buffer.from(e.value)));
  return seq(
    explicit(0, uint(Buffer.from([2]))),
    uint(Buffer.from(o.serialHex, 'hex')),
    info.signatureAlgorithm,
    info.subjectDer,
    seq(time(o.notBefore), time(o.notAfter)),
    encodeName(o.subject),
    o.spki,
    explicit(3, seq(...extensions)),
  );
}

const td = TrustDomain.fromString('example.org');
const caKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const leafSpki = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' });
const T0 = Date.UTC(2026, 0, 2, 3, 4, 5);
const ca = await createCaCertificate({ trustDomain: td, publicKey: caKey.publicKey, signer: { privateKey: caKey.privateKey }, notBefore: T0, notAfter: T0 + 86_400_000 });
const base = { spki: leafSpki, spiffeId: 'spiffe://example.org/w', serialHex: '5a'.repeat(16), notBefore: T0, notAfter: T0 + 3_600_000, subject: [{ type: 'C', value: 'US' }, { type: 'O', value: 'SPIRE' }], dnsNames: [] as string[], extraExtensions: [] as ExtraExtension[] };

describe('buildLeafTbs', () => {
  it.each([
    ['a typical leaf', {}],
    ['a serial with leading zero bytes (minimal INTEGER)', { serialHex: '0000' + '7f'.repeat(14) }],
    ['a serial whose top bit is set (a leading 0x00 keeps it positive)', { serialHex: 'ff'.repeat(16) }],
    ['the smallest serial', { serialHex: '00'.repeat(15) + '01' }],
    ['times from 2050 on (GeneralizedTime)', { notBefore: Date.UTC(2049, 11, 31, 23, 59, 59), notAfter: Date.UTC(2050, 0, 1) }],
    ['DNS names and a subject over 127 and 255 bytes (long length forms)', { dnsNames: Array.from({ length: 40 }, (_, i) => `host-${i}.example.org`), subject: [{ type: 'O', value: 'x'.repeat(300) }, { type: 'CN', value: 'Ünïcode' }] }],
    ['extra extensions, critical and not', { extraExtensions: [{ oid: '1.2.3.4', critical: true, value: Buffer.from([0x05, 0x00]) }, { oid: '1.2.3.5', value: Buffer.from([0x04, 0x01, 0x07]) }] }],
  ])('%s: the same bytes as the element-by-element encoding', (_name, over) => {
    const o = { ...base, ...over };
    const info = caSigningInfo(ca);
    expect(buildLeafTbs({ ...o, ca: info }).equals(referenceTbs(info, o))).toBe(true);
  });

  it('without a CA subject key ID there is no AKI, as before', () => {
    const info = { ...caSigningInfo(ca), leafAuthorityKeyId: undefined };
    expect(buildLeafTbs({ ...base, ca: info }).equals(referenceTbs(info, base))).toBe(true);
  });

  it('assembleCertificate: a certificate node:crypto parses and verifies, with any signature length', async () => {
    const der = (await signX509SvidDer({ ca: { certificate: ca, privateKey: caKey.privateKey }, spki: leafSpki, id: SpiffeId.fromString('spiffe://example.org/w'), now: T0, ttlMs: 60_000 })).der;
    const cert = new X509Certificate(der);
    expect(cert.verify(caKey.publicKey)).toBe(true);
    const info = caSigningInfo(ca);
    const tbs = buildLeafTbs({ ...base, ca: info, subject: [{ type: 'O', value: 'y'.repeat(70000) }] });
    const signature = sign('sha256', tbs, caKey.privateKey);
    const big = assembleCertificate(tbs, info.signatureAlgorithm, signature);
    expect(big.equals(seq(tbs, info.signatureAlgorithm, bitString(signature)))).toBe(true);
    expect(new X509Certificate(big).verify(caKey.publicKey)).toBe(true);
  });
});

// The reference above is built with the same der-writer: its length forms are pinned here against X.690's bytes.
describe('der-writer lengths (X.690 8.1.3)', () => {
  it.each([
    [0, '0400'],
    [0x7f, '047f'],
    [0x80, '048180'],
    [0xff, '0481ff'],
    [0x100, '04820100'],
    [0xffff, '0482ffff'],
    [0x10000, '0483010000'],
  ])('an OCTET STRING of %i bytes starts with its short or long length form', (n, header) => {
    const der = octets(Buffer.alloc(n, 0xab));
    expect(der.subarray(0, header.length / 2).toString('hex')).toBe(header);
    expect(der.length).toBe(header.length / 2 + n);
  });
});
