// PKCS#10 certificate signing requests (RFC 2986): parsing with signature
// verification, and creation. Parsing sits on the server's SVID issuance
// hot path, so it walks the DER directly and hands only the signature check
// and the key to node:crypto.
import { constants, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { HeraldError } from '../common/errors.ts';
import { DerError, Tag, oidString, readTlv, smallUint, type Tlv } from './der-reader.ts';
import { bitString, explicit, ia5, octets, oid, seq, set, uint } from './der-writer.ts';
import { pemBlock } from './pem.ts';

export class CsrError extends HeraldError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ERR_CSR_INVALID', message, options);
  }
}

export interface ParsedCsr {
  publicKey: KeyObject;
  /** SubjectPublicKeyInfo DER, as in the CSR (shares memory with the input): signing uses it without re-encoding. */
  spki: Buffer;
  /** URI SANs from the extensionRequest attribute, if any */
  uris: string[];
  /** DNS name SANs from the extensionRequest attribute, if any */
  dnsNames: string[];
  /** raw DER of the CSR (shares memory with the input) */
  der: Buffer;
}

const OID = {
  extensionRequest: '1.2.840.113549.1.9.14',
  subjectAltName: '2.5.29.17',
  rsaPss: '1.2.840.113549.1.1.10',
  mgf1: '1.2.840.113549.1.1.8',
} as const;

type KeyType = 'ec' | 'rsa' | 'ed25519';

interface SigAlg {
  name: string;
  key: KeyType;
  /** null: none (Ed25519) or taken from the parameters (PSS) */
  hash: string | null;
}

const sigAlgs = new Map<string, SigAlg>([
  ['1.2.840.10045.4.3.2', { name: 'ecdsa-with-SHA256', key: 'ec', hash: 'sha256' }],
  ['1.2.840.10045.4.3.3', { name: 'ecdsa-with-SHA384', key: 'ec', hash: 'sha384' }],
  ['1.2.840.10045.4.3.4', { name: 'ecdsa-with-SHA512', key: 'ec', hash: 'sha512' }],
  ['1.2.840.113549.1.1.11', { name: 'sha256WithRSAEncryption', key: 'rsa', hash: 'sha256' }],
  ['1.2.840.113549.1.1.12', { name: 'sha384WithRSAEncryption', key: 'rsa', hash: 'sha384' }],
  ['1.2.840.113549.1.1.13', { name: 'sha512WithRSAEncryption', key: 'rsa', hash: 'sha512' }],
  [OID.rsaPss, { name: 'RSASSA-PSS', key: 'rsa', hash: null }],
  ['1.3.101.112', { name: 'Ed25519', key: 'ed25519', hash: null }],
]);

const hashes = new Map<string, string>([
  ['2.16.840.1.101.3.4.2.1', 'sha256'],
  ['2.16.840.1.101.3.4.2.2', 'sha384'],
  ['2.16.840.1.101.3.4.2.3', 'sha512'],
]);

const SHA1 = '1.3.14.3.2.26';

const malformed = (detail: string, cause?: unknown): CsrError => new CsrError(`malformed CSR: ${detail}`, { cause });

export function parseCsr(der: Uint8Array): ParsedCsr {
  const buf = Buffer.isBuffer(der) ? der : Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  if (buf.length === 0) throw malformed('empty');
  try {
    return parse(buf);
  } catch (err) {
    if (err instanceof DerError) throw malformed(err.message, err);
    throw err;
  }
}

/**
 * The SubjectPublicKeyInfo DER of a CSR, read without checking the CSR's
 * signature (parseCsr checks it): cheap, for deciding an SVID's template
 * before the CSR is verified elsewhere. Throws CsrError when malformed.
 */
export function csrPublicKeyInfo(der: Uint8Array): Buffer {
  const buf = Buffer.isBuffer(der) ? der : Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  if (buf.length === 0) throw malformed('empty');
  try {
    const csr = readTlv(buf, 0, buf.length, Tag.SEQUENCE);
    const info = readTlv(buf, csr.contentStart, csr.end, Tag.SEQUENCE);
    const version = readTlv(buf, info.contentStart, info.end, Tag.INTEGER);
    const subject = readTlv(buf, version.end, info.end, Tag.SEQUENCE);
    const spki = readTlv(buf, subject.end, info.end, Tag.SEQUENCE);
    return buf.subarray(spki.start, spki.end);
  } catch (err) {
    if (err instanceof DerError) throw malformed(err.message, err);
    throw err;
  }
}

function parse(der: Buffer): ParsedCsr {
  const csr = readTlv(der, 0, der.length, Tag.SEQUENCE);
  if (csr.end !== der.length) throw malformed('trailing data after CertificationRequest');
  const info = readTlv(der, csr.contentStart, csr.end, Tag.SEQUENCE);
  const version = readTlv(der, info.contentStart, info.end, Tag.INTEGER);
  if (version.end - version.contentStart !== 1 || der[version.contentStart] !== 0) {
    throw malformed(`unsupported version at offset ${version.start}, expected 0`);
  }
  // The subject is not used: SVID subjects come from registration entries.
  const subject = readTlv(der, version.end, info.end, Tag.SEQUENCE);
  const spki = readTlv(der, subject.end, info.end, Tag.SEQUENCE);
  const attributes = readTlv(der, spki.end, info.end, 0xa0);
  if (attributes.end !== info.end) throw malformed('trailing data in certificationRequestInfo');
  const algId = readTlv(der, info.end, csr.end, Tag.SEQUENCE);
  const signature = readTlv(der, algId.end, csr.end, Tag.BIT_STRING);
  if (signature.end !== csr.end) throw malformed('trailing data after signature');
  if (signature.end === signature.contentStart || der[signature.contentStart] !== 0) {
    throw malformed('signature BIT STRING has unused bits');
  }

  checkSpkiForm(der, spki);
  let publicKey: KeyObject;
  try {
    publicKey = importSpki(der.subarray(spki.start, spki.end));
  } catch (err) {
    throw malformed(`invalid subject public key info: ${(err as Error).message}`, err);
  }
  const alg = signatureAlgorithm(der, algId);
  checkSignature(alg, publicKey, der.subarray(info.start, info.end), der.subarray(signature.contentStart + 1, signature.end));
  const sans = requestedSans(der, attributes);
  return { publicKey, spki: der.subarray(spki.start, spki.end), uris: sans.uris, dnsNames: sans.dnsNames, der };
}

/** SPKI algorithms Go's crypto/x509 reads, with the parameters it requires (absent, NULL, or a named curve from the list). */
const SPKI_ALGORITHMS: ReadonlyMap<string, { name: string; params: 'none' | 'null' | ReadonlySet<string> }> = new Map([
  ['1.2.840.10045.2.1', { name: 'EC', params: new Set(['1.3.132.0.33', '1.2.840.10045.3.1.7', '1.3.132.0.34', '1.3.132.0.35']) }],
  ['1.2.840.113549.1.1.1', { name: 'RSA', params: 'null' }],
  ['1.3.101.112', { name: 'Ed25519', params: 'none' }],
]);

/**
 * The SPKI goes into the SVID as it is (see ParsedCsr.spki), so it must be
 * one every X.509 parser reads as OpenSSL did. OpenSSL also takes a key
 * BIT STRING with unused bits (it ignores them), an EC point in compressed
 * form, explicit or unusual curves, RSA keys without NULL parameters and
 * RSA-PSS keys; Go's crypto/x509 (SPIRE, go-spiffe workloads) refuses
 * each, and a certificate carrying one would be unreadable to them.
 */
function checkSpkiForm(der: Buffer, spki: Tlv): void {
  const algId = readTlv(der, spki.contentStart, spki.end, Tag.SEQUENCE);
  const key = readTlv(der, algId.end, spki.end, Tag.BIT_STRING);
  if (key.end !== spki.end) throw malformed('trailing data in subject public key info');
  if (key.end === key.contentStart || der[key.contentStart] !== 0) throw malformed('subject public key BIT STRING has unused bits');
  const algOid = readTlv(der, algId.contentStart, algId.end, Tag.OID);
  const dotted = oidString(der, algOid);
  const alg = SPKI_ALGORITHMS.get(dotted);
  if (alg === undefined) throw new CsrError(`unsupported CSR public key algorithm ${dotted}`);
  const params = algOid.end < algId.end ? readTlv(der, algOid.end, algId.end) : undefined;
  if (params !== undefined && params.end !== algId.end) throw malformed('trailing data in the public key algorithm');
  if (alg.params === 'none') {
    if (params !== undefined) throw malformed(`unexpected parameters for an ${alg.name} public key`);
  } else if (alg.params === 'null') {
    if (params === undefined || der[params.start] !== Tag.NULL || params.end - params.contentStart !== 0) throw malformed(`${alg.name} public key without NULL parameters`);
  } else {
    if (params === undefined || der[params.start] !== Tag.OID) throw malformed('EC public key without a named curve (explicit curve parameters are not accepted)');
    const curve = oidString(der, params);
    if (!alg.params.has(curve)) throw new CsrError(`unsupported CSR public key curve ${curve} (P-224, P-256, P-384 and P-521 are)`);
    if (der[key.contentStart + 1] !== 0x04) throw malformed('EC public key point is not in uncompressed form');
  }
}

/**
 * The SubjectPublicKeyInfo as a KeyObject, read from PEM: node:crypto reads
 * PEM "PUBLIC KEY" straight as an SPKI, while DER input goes through
 * OpenSSL 3's decoder probing, which costs more than the EC point itself
 * (29 vs 17 µs for P-256, 29 vs 8 µs for Ed25519, Node 24 / OpenSSL 3.5):
 * one CSR per SVID makes it a third of the CSR check. Same bytes, same
 * parser behind it, so the same keys are accepted and refused.
 */
function importSpki(spki: Buffer): KeyObject {
  return createPublicKey(pemBlock('PUBLIC KEY', spki));
}

interface Verifier {
  name: string;
  key: KeyType;
  hash: string | null;
  pssSaltLength?: number;
}

function signatureAlgorithm(der: Buffer, algId: Tlv): Verifier {
  const oidEl = readTlv(der, algId.contentStart, algId.end, Tag.OID);
  const dotted = oidString(der, oidEl);
  const alg = sigAlgs.get(dotted);
  if (!alg) throw new CsrError(`unsupported CSR signature algorithm ${dotted}`);
  const hasParams = oidEl.end < algId.end;
  if (dotted === OID.rsaPss) {
    if (!hasParams) throw malformed('RSASSA-PSS signature algorithm without parameters');
    return pssParams(der, readTlv(der, oidEl.end, algId.end, Tag.SEQUENCE), algId.end);
  }
  // RFC 5758 / 8410: no parameters for ECDSA and Ed25519; RFC 4055: NULL (or, in practice, none) for RSA.
  if (hasParams) {
    const p = readTlv(der, oidEl.end, algId.end);
    if (alg.key !== 'rsa' || p.tag !== Tag.NULL || p.end !== p.contentStart || p.end !== algId.end) {
      throw malformed(`unexpected parameters for ${alg.name}`);
    }
  }
  return alg;
}

/** RSASSA-PSS-params (RFC 4055 §3.1). Node's MGF1 always uses the message hash, so a different MGF1 hash is unsupported. */
function pssParams(der: Buffer, params: Tlv, limit: number): Verifier {
  if (params.end !== limit) throw malformed('trailing data in RSASSA-PSS signature algorithm');
  let hash = SHA1;
  let mgfHash = SHA1;
  let saltLength = 20;
  let lastTag = 0;
  for (let off = params.contentStart; off < params.end; ) {
    const field = readTlv(der, off, params.end);
    if (field.tag <= lastTag || field.tag < 0xa0 || field.tag > 0xa3) {
      throw malformed(`unexpected tag 0x${field.tag.toString(16)} at offset ${off} in RSASSA-PSS parameters`);
    }
    lastTag = field.tag;
    off = field.end;
    const inner = readTlv(der, field.contentStart, field.end, field.tag <= 0xa1 ? Tag.SEQUENCE : Tag.INTEGER);
    if (inner.end !== field.end) throw malformed(`trailing data in RSASSA-PSS parameters at offset ${inner.end}`);
    if (field.tag === 0xa0) {
      hash = algorithmOid(der, inner);
    } else if (field.tag === 0xa1) {
      const mgfOid = readTlv(der, inner.contentStart, inner.end, Tag.OID);
      const mgf = oidString(der, mgfOid);
      if (mgf !== OID.mgf1) throw new CsrError(`unsupported CSR signature algorithm ${OID.rsaPss} (mask generation function ${mgf})`);
      mgfHash = algorithmOid(der, readTlv(der, mgfOid.end, inner.end, Tag.SEQUENCE));
    } else if (field.tag === 0xa2) {
      saltLength = smallUint(der, inner);
    } else if (smallUint(der, inner) !== 1) {
      throw malformed('RSASSA-PSS trailerField must be 1');
    }
  }
  const name = hashes.get(hash);
  if (!name) throw new CsrError(`unsupported CSR signature algorithm ${OID.rsaPss} (hash ${hash})`);
  if (mgfHash !== hash) throw new CsrError(`unsupported CSR signature algorithm ${OID.rsaPss} (MGF1 hash ${mgfHash} differs from hash ${hash})`);
  return { name: `RSASSA-PSS with ${name.toUpperCase()}`, key: 'rsa', hash: name, pssSaltLength: saltLength };
}

/** The OID of a hash AlgorithmIdentifier, whose parameters must be NULL or absent. */
function algorithmOid(der: Buffer, algId: Tlv): string {
  const o = readTlv(der, algId.contentStart, algId.end, Tag.OID);
  if (o.end !== algId.end) {
    const p = readTlv(der, o.end, algId.end, Tag.NULL);
    if (p.end !== algId.end || p.contentStart !== p.end) throw malformed(`unexpected hash parameters at offset ${p.start}`);
  }
  return oidString(der, o);
}

function checkSignature(alg: Verifier, key: KeyObject, data: Buffer, sig: Buffer): void {
  const keyType = key.asymmetricKeyType;
  // Node would happily check an RSA signature labelled ECDSA; the label must match the key.
  const keyOk = keyType === alg.key || (alg.pssSaltLength !== undefined && keyType === 'rsa-pss');
  if (!keyOk) throw new CsrError(`invalid CSR signature: ${alg.name} does not match the ${keyType} public key`);
  let ok: boolean;
  try {
    ok =
      alg.pssSaltLength === undefined
        ? verify(alg.hash, data, key, sig)
        : verify(alg.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: alg.pssSaltLength }, sig);
  } catch (err) {
    throw new CsrError(`invalid CSR signature: ${(err as Error).message}`, { cause: err });
  }
  if (!ok) throw new CsrError(`invalid CSR signature: ${alg.name} signature does not verify with the CSR's public key`);
}

/** URI and DNS SANs of the extensionRequest attribute (PKCS#9); other attributes are skipped. */
function requestedSans(der: Buffer, attributes: Tlv): { uris: string[]; dnsNames: string[] } {
  const uris: string[] = [];
  const dnsNames: string[] = [];
  let sawSan = false;
  for (let off = attributes.contentStart; off < attributes.end; ) {
    const attr = readTlv(der, off, attributes.end, Tag.SEQUENCE);
    off = attr.end;
    const type = readTlv(der, attr.contentStart, attr.end, Tag.OID);
    const values = readTlv(der, type.end, attr.end, Tag.SET);
    if (values.end !== attr.end) throw malformed(`trailing data in attribute at offset ${attr.start}`);
    if (oidString(der, type) !== OID.extensionRequest) continue;
    for (let v = values.contentStart; v < values.end; ) {
      const exts = readTlv(der, v, values.end, Tag.SEQUENCE);
      v = exts.end;
      for (let e = exts.contentStart; e < exts.end; ) {
        const ext = readTlv(der, e, exts.end, Tag.SEQUENCE);
        e = ext.end;
        const id = readTlv(der, ext.contentStart, ext.end, Tag.OID);
        let next = id.end;
        if (next < ext.end && der[next] === Tag.BOOLEAN) next = readTlv(der, next, ext.end, Tag.BOOLEAN).end;
        const value = readTlv(der, next, ext.end, Tag.OCTET_STRING);
        if (value.end !== ext.end) throw malformed(`trailing data in extension at offset ${ext.start}`);
        if (oidString(der, id) !== OID.subjectAltName) continue;
        // Two SAN extensions would let two parsers disagree on the identity requested.
        if (sawSan) throw malformed('duplicate subjectAltName extension');
        sawSan = true;
        readSans(der, value, uris, dnsNames);
      }
    }
  }
  return { uris, dnsNames };
}

function readSans(der: Buffer, value: Tlv, out: string[], dns: string[]): void {
  const names = readTlv(der, value.contentStart, value.end, Tag.SEQUENCE);
  if (names.end !== value.end) throw malformed(`trailing data in subjectAltName at offset ${names.end}`);
  for (let off = names.contentStart; off < names.end; ) {
    const name = readTlv(der, off, names.end);
    off = name.end;
    // uniformResourceIdentifier [6] and dNSName [2], both IA5String.
    if (name.tag !== 0x86 && name.tag !== 0x82) continue;
    for (let i = name.contentStart; i < name.end; i++) {
      if (der[i]! > 0x7f) throw malformed(`${name.tag === 0x86 ? 'URI' : 'DNS'} SAN at offset ${name.start} is not an IA5String`);
    }
    (name.tag === 0x86 ? out : dns).push(der.toString('latin1', name.contentStart, name.end));
  }
}

const SIGNING: Record<string, { algId: Buffer; hash: string | null }> = {
  prime256v1: { algId: seq(oid('1.2.840.10045.4.3.2')), hash: 'sha256' },
  secp384r1: { algId: seq(oid('1.2.840.10045.4.3.3')), hash: 'sha384' },
  secp521r1: { algId: seq(oid('1.2.840.10045.4.3.4')), hash: 'sha512' },
  rsa: { algId: seq(oid('1.2.840.113549.1.1.11'), Buffer.from([Tag.NULL, 0])), hash: 'sha256' },
  ed25519: { algId: seq(oid('1.3.101.112')), hash: null },
};

/** A DER CSR with an empty subject and, if given, URI SANs; signed with `privateKey` (EC P-256/384/521, RSA, Ed25519). */
export function createCsr(privateKey: KeyObject, opts: { uris?: string[]; dnsNames?: string[] } = {}): Buffer {
  if (privateKey.type !== 'private') throw new CsrError(`cannot sign a CSR with a ${privateKey.type} key`);
  const keyType = privateKey.asymmetricKeyType;
  const how = keyType === 'ec' ? SIGNING[privateKey.asymmetricKeyDetails?.namedCurve ?? ''] : keyType === 'rsa' || keyType === 'ed25519' ? SIGNING[keyType] : undefined;
  if (!how) throw new CsrError(`unsupported CSR key type ${keyType}${keyType === 'ec' ? ` (${privateKey.asymmetricKeyDetails?.namedCurve})` : ''}`);

  const attributes: Buffer[] = [];
  const uris = opts.uris ?? [];
  const dnsNames = opts.dnsNames ?? [];
  if (uris.length > 0 || dnsNames.length > 0) {
    for (const u of [...uris, ...dnsNames]) {
      if (!/^[\x00-\x7f]*$/.test(u)) throw new CsrError(`SAN ${JSON.stringify(u)} is not ASCII`);
    }
    // GeneralNames in Go's order: dNSName [2] first, then uniformResourceIdentifier [6].
    const san = seq(oid(OID.subjectAltName), octets(seq(...dnsNames.map((d) => ia5(0x82, d)), ...uris.map((u) => ia5(0x86, u)))));
    attributes.push(seq(oid(OID.extensionRequest), set(seq(san))));
  }
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const info = seq(uint(Buffer.from([0])), seq(), spki, explicit(0, ...attributes));
  return seq(info, how.algId, bitString(sign(how.hash, info, privateKey)));
}
