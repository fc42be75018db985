// X.509 certificates written directly as DER: the to-be-signed part of
// X509-SVID leaves and CA certificates from a resolved template (subject,
// DNS SANs, extra extensions — see src/server/credtemplate), and the
// signed certificate around a signature made elsewhere (a Signer, or
// node:crypto in a signing worker). The hot path of issuance: no ASN.1
// library, no certificate parsed back.
import { X509Certificate, createHash } from 'node:crypto';
import { bitString, bool, element, explicit, ia5, lengthSize, octets, oid, printable, seq, set, time, tlv, uint, utf8, writeLength } from './der-writer.ts';
import { certificateSignatureAlgorithm } from './signer.ts';

const OID = {
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  basicConstraints: '2.5.29.19',
  subjectKeyId: '2.5.29.14',
  authorityKeyId: '2.5.29.35',
  subjectAltName: '2.5.29.17',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** The extensions the X509-SVID and CA profiles write themselves; a template's extra extensions may not repeat them. */
export const PROFILE_EXTENSIONS: Readonly<Record<string, string>> = {
  [OID.keyUsage]: 'keyUsage',
  [OID.extKeyUsage]: 'extKeyUsage',
  [OID.basicConstraints]: 'basicConstraints',
  [OID.subjectKeyId]: 'subjectKeyIdentifier',
  [OID.authorityKeyId]: 'authorityKeyIdentifier',
  [OID.subjectAltName]: 'subjectAltName',
};

/** Distinguished-name attribute types by the short names RFC 4514 and OpenSSL use. */
export const NAME_ATTRIBUTES: Readonly<Record<string, string>> = {
  C: '2.5.4.6',
  O: '2.5.4.10',
  OU: '2.5.4.11',
  CN: '2.5.4.3',
  L: '2.5.4.7',
  ST: '2.5.4.8',
  STREET: '2.5.4.9',
  POSTALCODE: '2.5.4.17',
  SERIALNUMBER: '2.5.4.5',
  x500UniqueIdentifier: '2.5.4.45',
  DC: '0.9.2342.19200300.100.1.25',
  UID: '0.9.2342.19200300.100.1.1',
  emailAddress: '1.2.840.113549.1.9.1',
};

export type NameValueEncoding = 'printable' | 'utf8' | 'ia5';

/**
 * One attribute of a subject, in order (one RDN each). `type` is a short
 * name of NAME_ATTRIBUTES or a dotted OID; without `encoding` the value is
 * a PrintableString when every character allows it, else a UTF8String.
 */
export interface NameAttribute {
  type: string;
  value: string;
  encoding?: NameValueEncoding;
}

/** An extension written as given after the profile's own: `value` is the extnValue's contents (DER). */
export interface ExtraExtension {
  oid: string;
  critical?: boolean;
  value: Uint8Array;
}

/** The dotted OID of a name attribute type (short name or dotted OID), or undefined. */
export function nameAttributeOid(type: string): string | undefined {
  if (Object.hasOwn(NAME_ATTRIBUTES, type)) return NAME_ATTRIBUTES[type];
  return isDottedOid(type) ? type : undefined;
}

export function isDottedOid(s: string): boolean {
  return /^[0-2]\.(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$/.test(s) && (s[0] === '2' || Number(s.split('.')[1]) < 40);
}

export const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

function nameValue(a: NameAttribute): Buffer {
  switch (a.encoding) {
    case 'printable':
      return printable(a.value);
    case 'utf8':
      return utf8(a.value);
    case 'ia5':
      return tlv(0x16, Buffer.from(a.value, 'ascii'));
    default:
      // PrintableString when every character allows it (as Go and @peculiar/x509 choose), else UTF8String.
      return PRINTABLE.test(a.value) ? printable(a.value) : utf8(a.value);
  }
}

/** A Name (RDNSequence), one attribute per RDN, in the given order. */
export function encodeName(attributes: readonly NameAttribute[]): Buffer {
  return seq(...attributes.map((a) => rdn(nameAttributeOid(a.type)!, nameValue(a))));
}

// digitalSignature (bit 0) | keyEncipherment (bit 2) | keyAgreement (bit 4): 1010 1000, 3 unused bits.
const LEAF_KEY_USAGE = bitString(Buffer.from([0xa8]), 3);

/** KU, EKU and basicConstraints: the same bytes in every leaf, encoded once. */
const LEAF_CONSTANT_EXTENSIONS = Buffer.concat([
  ext(OID.keyUsage, true, LEAF_KEY_USAGE),
  ext(OID.extKeyUsage, false, seq(oid(OID.serverAuth), oid(OID.clientAuth))),
  ext(OID.basicConstraints, true, seq()),
]);

/** [0] EXPLICIT INTEGER 2 (v3). */
const VERSION_V3 = explicit(0, uint(Buffer.from([2])));
/** The subjectKeyIdentifier extension up to its 20-byte key ID (SHA-1). */
const SKI_EXTENSION_HEAD = Buffer.from([0x30, 0x1d, ...oid(OID.subjectKeyId), 0x04, 0x16, 0x04, 0x14]);
const SKI_EXTENSION_SIZE = SKI_EXTENSION_HEAD.length + 20;

/** What signing under a CA needs from its certificate, computed once per certificate. */
export interface CaSigningInfo {
  subjectDer: Buffer;
  subjectKeyId: Buffer | undefined;
  /** The AlgorithmIdentifier of what the CA's key signs, and its digest. */
  signatureAlgorithm: Buffer;
  hash: 'sha256' | 'sha384';
  notAfter: number;
  /** The authorityKeyIdentifier extension of the leaves it signs, when the CA has an SKI. */
  leafAuthorityKeyId: Buffer | undefined;
  /** A leaf TBSCertificate's signature AlgorithmIdentifier and issuer Name, as one run of bytes. */
  leafSignatureAndIssuer: Buffer;
}

const infos = new WeakMap<X509Certificate, CaSigningInfo>();

export function caSigningInfo(ca: X509Certificate): CaSigningInfo {
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
    const { algorithm, hash } = certificateSignatureAlgorithm(ca.publicKey);
    const subjectKeyId = subjectKeyIdOf(ca);
    info = {
      subjectDer: der.subarray(subject.start, subject.end),
      subjectKeyId,
      leafAuthorityKeyId: subjectKeyId && authorityKeyId(subjectKeyId),
      signatureAlgorithm: algorithm,
      hash,
      notAfter: Date.parse(ca.validTo),
      leafSignatureAndIssuer: Buffer.concat([algorithm, der.subarray(subject.start, subject.end)]),
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

function extra(e: ExtraExtension): Buffer {
  return ext(e.oid, e.critical === true, Buffer.from(e.value.buffer, e.value.byteOffset, e.value.byteLength));
}

function rdn(type: string, value: Buffer): Buffer {
  return set(seq(oid(type), value));
}

function authorityKeyId(keyId: Buffer): Buffer {
  return ext(OID.authorityKeyId, false, seq(Buffer.concat([Buffer.from([0x80, keyId.length]), keyId])));
}

export interface LeafTbsOptions {
  ca: CaSigningInfo;
  /** SubjectPublicKeyInfo DER of the leaf key. */
  spki: Buffer;
  spiffeId: string;
  serialHex: string;
  notBefore: number;
  notAfter: number;
  subject: readonly NameAttribute[];
  dnsNames: readonly string[];
  extraExtensions: readonly ExtraExtension[];
}

/**
 * The parts of an X509-SVID leaf that differ from leaf to leaf, the
 * template's already encoded (leafTemplateDer): a signing worker splices
 * them between its CA's constant parts without encoding anything else.
 */
export interface LeafParts {
  /** The serial number's magnitude, big-endian (randomSerials: 16 bytes, positive). */
  serial: Uint8Array;
  notBefore: number;
  notAfter: number;
  /** The subject Name, DER. */
  subject: Uint8Array;
  /** SubjectPublicKeyInfo DER of the leaf key. */
  spki: Buffer;
  /** The subjectAltName extension, DER. */
  subjectAltName: Uint8Array;
  /** The extra extensions, DER, one after the other (possibly none). */
  extraExtensions: Uint8Array;
}

/** A template's encoded parts: the subject Name, the SAN extension (SPIFFE ID, then DNS names) and the extra extensions. */
export function leafTemplateDer(spiffeId: string, t: { subject: readonly NameAttribute[]; dnsNames: readonly string[]; extraExtensions: readonly ExtraExtension[] }): Pick<LeafParts, 'subject' | 'subjectAltName' | 'extraExtensions'> {
  return {
    subject: encodeName(t.subject),
    subjectAltName: ext(OID.subjectAltName, false, seq(ia5(0x86, spiffeId), ...t.dnsNames.map((d) => ia5(0x82, d)))),
    extraExtensions: t.extraExtensions.length === 0 ? EMPTY : Buffer.concat(t.extraExtensions.map(extra)),
  };
}

const EMPTY = Buffer.alloc(0);

/**
 * An X509-SVID leaf's TBSCertificate: the template's subject; KU
 * digitalSignature|keyEncipherment|keyAgreement (critical); EKU
 * serverAuth+clientAuth; CA:FALSE (critical); SKI; URI SAN = the SPIFFE ID
 * then the DNS SANs; AKI when the CA has an SKI; then the extra extensions.
 */
export function buildLeafTbs(o: LeafTbsOptions): Buffer {
  return writeLeafTbs(o.ca, { ...leafTemplateDer(o.spiffeId, o), serial: Buffer.from(o.serialHex, 'hex'), notBefore: o.notBefore, notAfter: o.notAfter, spki: o.spki });
}

/**
 * buildLeafTbs from encoded parts, written into one buffer of the final
 * size: per SVID this is the only encoding a signing worker does, and a
 * tree of small buffers concatenated level by level cost more than the
 * signature (many allocations, each byte copied at every level).
 */
export function writeLeafTbs(info: CaSigningInfo, p: LeafParts): Buffer {
  let skip = 0; // INTEGER: minimal, non-negative
  while (skip < p.serial.length - 1 && p.serial[skip] === 0) skip++;
  const pad = p.serial[skip]! & 0x80 ? 1 : 0;
  const serialLen = p.serial.length - skip + pad;
  const notBefore = utcOrGeneralized(p.notBefore);
  const notAfter = utcOrGeneralized(p.notAfter);
  const validityLen = 2 + notBefore.length + 2 + notAfter.length;
  const aki = info.leafAuthorityKeyId ?? EMPTY;
  const extsLen = LEAF_CONSTANT_EXTENSIONS.length + SKI_EXTENSION_SIZE + p.subjectAltName.length + aki.length + p.extraExtensions.length;
  const extsSeqLen = 1 + lengthSize(extsLen) + extsLen;
  const tbsLen =
    VERSION_V3.length +
    1 + lengthSize(serialLen) + serialLen +
    info.leafSignatureAndIssuer.length +
    1 + lengthSize(validityLen) + validityLen +
    p.subject.length +
    p.spki.length +
    1 + lengthSize(extsSeqLen) + extsSeqLen;
  const out = Buffer.allocUnsafe(1 + lengthSize(tbsLen) + tbsLen);
  out[0] = 0x30;
  let o = writeLength(out, 1, tbsLen);
  const put = (b: Uint8Array): void => {
    out.set(b, o);
    o += b.length;
  };
  put(VERSION_V3);
  out[o++] = 0x02;
  o = writeLength(out, o, serialLen);
  if (pad) out[o++] = 0;
  put(p.serial.subarray(skip));
  put(info.leafSignatureAndIssuer);
  out[o++] = 0x30;
  o = writeLength(out, o, validityLen);
  for (const t of [notBefore, notAfter]) {
    out[o++] = t.length === 13 ? 0x17 : 0x18;
    out[o++] = t.length;
    o += out.write(t, o, 'latin1');
  }
  put(p.subject);
  put(p.spki);
  out[o++] = 0xa3;
  o = writeLength(out, o, extsSeqLen);
  out[o++] = 0x30;
  o = writeLength(out, o, extsLen);
  put(LEAF_CONSTANT_EXTENSIONS);
  put(SKI_EXTENSION_HEAD);
  put(keyIdOfSpki(p.spki));
  put(p.subjectAltName);
  put(aki);
  put(p.extraExtensions);
  if (o !== out.length) throw new Error(`x509: leaf TBSCertificate is ${o} bytes, expected ${out.length}`);
  return out;
}

/** UTCTime before 2050, GeneralizedTime from 2050 on (RFC 5280 §4.1.2.5): the characters (der-writer time()). */
function utcOrGeneralized(ms: number): string {
  const d = new Date(Math.floor(ms / 1000) * 1000);
  const y = d.getUTCFullYear();
  const p = (n: number): string => (n < 10 ? `0${n}` : `${n}`);
  const body = `${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  return y < 2050 ? p(y % 100) + body : String(y) + body;
}

/** The Certificate around a TBSCertificate and its signature. */
export function assembleCertificate(tbs: Buffer, signatureAlgorithm: Buffer, signature: Buffer): Buffer {
  const bits = 1 + signature.length;
  const len = tbs.length + signatureAlgorithm.length + 1 + lengthSize(bits) + bits;
  const out = Buffer.allocUnsafe(1 + lengthSize(len) + len);
  out[0] = 0x30;
  let o = writeLength(out, 1, len);
  out.set(tbs, o);
  o += tbs.length;
  out.set(signatureAlgorithm, o);
  o += signatureAlgorithm.length;
  out[o++] = 0x03;
  o = writeLength(out, o, bits);
  out[o++] = 0; // no unused bits
  out.set(signature, o);
  return out;
}

// keyCertSign (bit 5) | cRLSign (bit 6): 0000 0110, 1 unused bit.
const CA_KEY_USAGE = bitString(Buffer.from([0x06]), 1);

export interface CaTbsOptions {
  /** SubjectPublicKeyInfo DER of the CA key. */
  spki: Buffer;
  /** The issuing CA (upstream); absent when self-signed. */
  issuer?: CaSigningInfo | undefined;
  /** The AlgorithmIdentifier of the signing key (the issuer's, or the CA's own). */
  signatureAlgorithm: Buffer;
  trustDomainId: string;
  serialHex: string;
  notBefore: number;
  notAfter: number;
  subject: readonly NameAttribute[];
  extraExtensions: readonly ExtraExtension[];
}

/**
 * A CA certificate's TBSCertificate, as @peculiar/x509 wrote it before:
 * the template's subject; BasicConstraints CA:TRUE and KeyUsage
 * keyCertSign|cRLSign (both critical), SKI (RFC 5280 method 1), URI SAN =
 * trust domain ID, and AKI when the issuer has an SKI; then the extra
 * extensions.
 */
export function buildCaTbs(o: CaTbsOptions): Buffer {
  const subject = encodeName(o.subject);
  const issuerDer = o.issuer ? o.issuer.subjectDer : subject;
  const issuerKeyId = o.issuer?.subjectKeyId;
  const extensions = [
    ext(OID.basicConstraints, true, seq(bool(true))),
    ext(OID.keyUsage, true, CA_KEY_USAGE),
    ext(OID.subjectKeyId, false, octets(keyIdOfSpki(o.spki))),
    ext(OID.subjectAltName, false, seq(ia5(0x86, o.trustDomainId))),
  ];
  if (issuerKeyId) extensions.push(authorityKeyId(issuerKeyId));
  for (const e of o.extraExtensions) extensions.push(extra(e));
  return seq(
    explicit(0, uint(Buffer.from([2]))),
    uint(Buffer.from(o.serialHex, 'hex')),
    o.signatureAlgorithm,
    issuerDer,
    seq(time(o.notBefore), time(o.notAfter)),
    subject,
    o.spki,
    explicit(3, seq(...extensions)),
  );
}
