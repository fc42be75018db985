// The X509-SVID leaf profile (seed 000) written directly as DER and signed
// with node:crypto: the fast path behind signX509Svid.
import { X509Certificate, createHash, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { bitString, bool, element, explicit, ia5, octets, oid, printable, seq, set, time, uint, utf8 } from './der-writer.ts';

const OID = {
  country: '2.5.4.6',
  organization: '2.5.4.10',
  commonName: '2.5.4.3',
  x500UniqueIdentifier: '2.5.4.45',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  basicConstraints: '2.5.29.19',
  subjectKeyId: '2.5.29.14',
  authorityKeyId: '2.5.29.35',
  subjectAltName: '2.5.29.17',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  ecdsaSha256: '1.2.840.10045.4.3.2',
  ecdsaSha384: '1.2.840.10045.4.3.3',
  rsaSha256: '1.2.840.113549.1.1.11',
} as const;

// digitalSignature (bit 0) | keyEncipherment (bit 2) | keyAgreement (bit 4): 1010 1000, 3 unused bits.
const LEAF_KEY_USAGE = bitString(Buffer.from([0xa8]), 3);

/** What signing needs from a CA, computed once per CA certificate. */
export interface CaSigningInfo {
  subjectDer: Buffer;
  subjectKeyId: Buffer | undefined;
  signatureAlgorithm: Buffer;
  hash: 'sha256' | 'sha384';
  notAfter: number;
}

const infos = new WeakMap<X509Certificate, CaSigningInfo>();

export function caSigningInfo(ca: X509Certificate, key: KeyObject): CaSigningInfo {
  let info = infos.get(ca);
  if (!info) {
    const der = ca.raw;
    const cert = element(der, 0);
    const tbs = element(der, cert.contentStart);
    let off = tbs.contentStart;
    if (der[off] === 0xa0) off = element(der, off).end; // version
    off = element(der, off).end; // serial
    off = element(der, off).end; // signature algorithm
    off = element(der, off).end; // issuer
    off = element(der, off).end; // validity
    const subject = element(der, off);
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const rsa = key.asymmetricKeyType === 'rsa';
    const hash = curve === 'secp384r1' ? 'sha384' : 'sha256';
    info = {
      subjectDer: der.subarray(subject.start, subject.end),
      subjectKeyId: subjectKeyIdOf(ca),
      signatureAlgorithm: rsa ? seq(oid(OID.rsaSha256), Buffer.from([0x05, 0x00])) : seq(oid(hash === 'sha384' ? OID.ecdsaSha384 : OID.ecdsaSha256)),
      hash,
      notAfter: Date.parse(ca.validTo),
    };
    infos.set(ca, info);
  }
  return info;
}

const SKI_OID = oid(OID.subjectKeyId);

function subjectKeyIdOf(cert: X509Certificate): Buffer | undefined {
  const der = cert.raw;
  const at = der.indexOf(SKI_OID);
  if (at < 0) return undefined;
  const outer = element(der, at + SKI_OID.length); // OCTET STRING { OCTET STRING keyid }
  const inner = element(der, outer.contentStart);
  return der.subarray(inner.contentStart, inner.end);
}

/** RFC 5280 method 1: SHA-1 of the subjectPublicKey BIT STRING contents. */
export function keyIdOfSpki(spki: Buffer): Buffer {
  const outer = element(spki, 0);
  const alg = element(spki, outer.contentStart);
  const bits = element(spki, alg.end);
  return createHash('sha1').update(spki.subarray(bits.contentStart + 1, bits.end)).digest();
}

function ext(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
}

function rdn(type: string, value: Buffer): Buffer {
  return set(seq(oid(type), value));
}

export interface LeafDerOptions {
  ca: X509Certificate;
  caKey: KeyObject;
  /** SubjectPublicKeyInfo DER of the leaf key. */
  spki: Buffer;
  spiffeId: string;
  serialHex: string;
  notBefore: number;
  notAfter: number;
  dnsNames: readonly string[];
  country: readonly string[];
  organization: readonly string[];
  uniqueId: string;
}

/** The leaf's DER (the hot path: no X509Certificate is parsed back). */
export function buildLeafCertificateDer(o: LeafDerOptions): Buffer {
  const info = caSigningInfo(o.ca, o.caKey);
  const spki = o.spki;
  const subject = seq(
    ...o.country.map((c) => rdn(OID.country, printable(c))),
    ...o.organization.map((org) => rdn(OID.organization, utf8(org))),
    rdn(OID.x500UniqueIdentifier, utf8(o.uniqueId)),
    ...(o.dnsNames.length > 0 ? [rdn(OID.commonName, utf8(o.dnsNames[0]!))] : []),
  );
  const sans = seq(ia5(0x86, o.spiffeId), ...o.dnsNames.map((d) => ia5(0x82, d)));
  const extensions = [
    ext(OID.keyUsage, true, LEAF_KEY_USAGE),
    ext(OID.extKeyUsage, false, seq(oid(OID.serverAuth), oid(OID.clientAuth))),
    ext(OID.basicConstraints, true, seq()),
    ext(OID.subjectKeyId, false, octets(keyIdOfSpki(spki))),
    ext(OID.subjectAltName, false, sans),
  ];
  if (info.subjectKeyId) extensions.push(ext(OID.authorityKeyId, false, seq(Buffer.concat([Buffer.from([0x80, info.subjectKeyId.length]), info.subjectKeyId]))));
  const tbs = seq(
    explicit(0, uint(Buffer.from([2]))),
    uint(Buffer.from(o.serialHex, 'hex')),
    info.signatureAlgorithm,
    info.subjectDer,
    seq(time(o.notBefore), time(o.notAfter)),
    subject,
    spki,
    explicit(3, seq(...extensions)),
  );
  const signature = cryptoSign(info.hash, tbs, o.caKey);
  return seq(tbs, info.signatureAlgorithm, bitString(signature));
}

// keyCertSign (bit 5) | cRLSign (bit 6): 0000 0110, 1 unused bit.
const CA_KEY_USAGE = bitString(Buffer.from([0x06]), 1);

/** PrintableString when every character allows it (as Go and @peculiar/x509 choose), else UTF8String. */
function directoryString(s: string): Buffer {
  return /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(s) ? printable(s) : utf8(s);
}

/** The signature AlgorithmIdentifier and digest for a signing key (ECDSA P-256/P-384, RSA PKCS#1 v1.5 SHA-256). */
function signatureAlgorithmOf(key: KeyObject): { algorithm: Buffer; hash: 'sha256' | 'sha384' } {
  if (key.asymmetricKeyType === 'rsa') return { algorithm: seq(oid(OID.rsaSha256), Buffer.from([0x05, 0x00])), hash: 'sha256' };
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== 'ec' || (curve !== 'prime256v1' && curve !== 'secp384r1')) {
    throw new TypeError(`x509svid: unsupported key ${String(key.asymmetricKeyType)} ${String(curve ?? '')}`.trimEnd());
  }
  return curve === 'secp384r1' ? { algorithm: seq(oid(OID.ecdsaSha384)), hash: 'sha384' } : { algorithm: seq(oid(OID.ecdsaSha256)), hash: 'sha256' };
}

export interface CaDerOptions {
  /** SubjectPublicKeyInfo DER of the CA key. */
  spki: Buffer;
  /** Signs the certificate; with `issuer`, the issuer's key, else the CA's own (self-signed). */
  signerKey: KeyObject;
  issuer?: X509Certificate | undefined;
  trustDomainId: string;
  serialHex: string;
  notBefore: number;
  notAfter: number;
  country: readonly string[];
  organization: readonly string[];
  commonName?: string | undefined;
}

/**
 * A CA certificate's DER, as @peculiar/x509 wrote it before: subject C, O,
 * CN; BasicConstraints CA:TRUE and KeyUsage keyCertSign|cRLSign (both
 * critical), SKI (RFC 5280 method 1), URI SAN = trust domain ID, and AKI
 * when the issuer has an SKI. Written here so a server start never loads
 * that library (~60 ms).
 */
export function buildCaCertificateDer(o: CaDerOptions): Buffer {
  const { algorithm, hash } = signatureAlgorithmOf(o.signerKey);
  const subject = seq(
    ...o.country.map((c) => rdn(OID.country, directoryString(c))),
    ...o.organization.map((org) => rdn(OID.organization, directoryString(org))),
    ...(o.commonName ? [rdn(OID.commonName, directoryString(o.commonName))] : []),
  );
  const issuerDer = o.issuer ? caSigningInfo(o.issuer, o.signerKey).subjectDer : subject;
  const issuerKeyId = o.issuer ? subjectKeyIdOf(o.issuer) : undefined;
  const extensions = [
    ext(OID.basicConstraints, true, seq(bool(true))),
    ext(OID.keyUsage, true, CA_KEY_USAGE),
    ext(OID.subjectKeyId, false, octets(keyIdOfSpki(o.spki))),
    ext(OID.subjectAltName, false, seq(ia5(0x86, o.trustDomainId))),
  ];
  if (issuerKeyId) extensions.push(ext(OID.authorityKeyId, false, seq(Buffer.concat([Buffer.from([0x80, issuerKeyId.length]), issuerKeyId]))));
  const tbs = seq(
    explicit(0, uint(Buffer.from([2]))),
    uint(Buffer.from(o.serialHex, 'hex')),
    algorithm,
    issuerDer,
    seq(time(o.notBefore), time(o.notAfter)),
    subject,
    o.spki,
    explicit(3, seq(...extensions)),
  );
  return seq(tbs, algorithm, bitString(cryptoSign(hash, tbs, o.signerKey)));
}
