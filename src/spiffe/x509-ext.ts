// Reading the X.509 extensions the SVID rules look at. Node's native
// X509Certificate parses and verifies; key usage and basic constraints are
// read straight from the DER, with @peculiar/x509 as the fallback parser.
import type { X509Certificate } from 'node:crypto';
import { createRequire } from 'node:module';
import { errorMessage } from '../common/errors.ts';
import { DerError, Tag, readTlv, type Tlv } from './der-reader.ts';
import { X509SvidError } from './errors.ts';

/** RFC 5280 keyUsage bits (the values of @peculiar/x509's KeyUsageFlags). */
export const KeyUsage = {
  digitalSignature: 1,
  nonRepudiation: 2,
  keyEncipherment: 4,
  dataEncipherment: 8,
  keyAgreement: 16,
  keyCertSign: 32,
  cRLSign: 64,
  encipherOnly: 128,
  decipherOnly: 256,
} as const;

// The full parser is loaded only when a certificate's DER is not in the
// shape the fast scans read: it costs a process ~35 MB of RSS, which
// herald-agent otherwise never pays.
const require = createRequire(import.meta.url);
function peculiar(): typeof import('@peculiar/x509') {
  require('reflect-metadata');
  return require('@peculiar/x509') as typeof import('@peculiar/x509');
}

// Parsing with @peculiar is far slower than Node's native parser, so the
// key usage of each certificate object is read once.
const keyUsages = new WeakMap<X509Certificate, { bits: number | undefined; critical: boolean }>();

function keyUsageInfo(cert: X509Certificate): { bits: number | undefined; critical: boolean } {
  let info = keyUsages.get(cert);
  if (!info) {
    info = scanKeyUsage(cert) ?? parseKeyUsage(cert);
    keyUsages.set(cert, info);
  }
  return info;
}

function parseKeyUsage(cert: X509Certificate): { bits: number | undefined; critical: boolean } {
  const px509 = peculiar();
  const ext = fullParse(() => new px509.X509Certificate(cert.raw).getExtension(px509.KeyUsagesExtension));
  return { bits: ext ? ext.usages : undefined, critical: ext?.critical === true };
}

/**
 * A read through the full parser, which throws its own error types on DER
 * that Node's parser accepted (the certificate may come from a peer):
 * rethrown as the X509-SVID parse error.
 */
function fullParse<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    throw new X509SvidError('ERR_X509_SVID_PARSE_CERTIFICATES', `x509svid: cannot parse certificate extensions: ${errorMessage(err)}`, { cause: err });
  }
}

/** One extension of a certificate: its critical flag and where its extnValue's contents lie. */
interface ExtensionAt {
  critical: boolean;
  value: Tlv;
}

const KU_OID = Buffer.from([0x55, 0x1d, 0x0f]);
const BC_OID = Buffer.from([0x55, 0x1d, 0x13]);

/**
 * The extensions of a DER certificate, found by walking its structure
 * (Certificate → TBSCertificate → [3] Extensions) rather than by searching
 * for OID bytes, which a name or another extension can also contain.
 * Returns undefined when the DER is not in that shape (the caller then uses
 * the full parser); an empty map when there are no extensions.
 */
function extensionsOf(der: Buffer): Map<string, ExtensionAt> | undefined {
  try {
    const cert = readTlv(der, 0, der.length, Tag.SEQUENCE);
    const tbs = readTlv(der, cert.contentStart, cert.end, Tag.SEQUENCE);
    let off = tbs.contentStart;
    if (der[off] === 0xa0) off = readTlv(der, off, tbs.end).end; // version
    // serial, signature, issuer, validity, subject, subjectPublicKeyInfo
    for (const tag of [Tag.INTEGER, Tag.SEQUENCE, Tag.SEQUENCE, Tag.SEQUENCE, Tag.SEQUENCE, Tag.SEQUENCE]) off = readTlv(der, off, tbs.end, tag).end;
    const found = new Map<string, ExtensionAt>();
    while (off < tbs.end) {
      const field = readTlv(der, off, tbs.end); // [1] issuerUniqueID, [2] subjectUniqueID, [3] extensions
      off = field.end;
      if (field.tag !== 0xa3) continue;
      const list = readTlv(der, field.contentStart, field.end, Tag.SEQUENCE);
      if (list.end !== field.end) return undefined;
      for (let e = list.contentStart; e < list.end; ) {
        const ext = readTlv(der, e, list.end, Tag.SEQUENCE);
        e = ext.end;
        const id = readTlv(der, ext.contentStart, ext.end, Tag.OID);
        let next = id.end;
        let critical = false;
        if (der[next] === Tag.BOOLEAN) {
          const b = readTlv(der, next, ext.end, Tag.BOOLEAN);
          if (b.end - b.contentStart !== 1) return undefined;
          critical = der[b.contentStart] !== 0;
          next = b.end;
        }
        const value = readTlv(der, next, ext.end, Tag.OCTET_STRING);
        if (value.end !== ext.end) return undefined;
        const key = der.toString('hex', id.contentStart, id.end);
        // Two extensions of one type: let the full parser decide.
        if (found.has(key)) return undefined;
        found.set(key, { critical, value });
      }
    }
    return found;
  } catch (err) {
    if (err instanceof DerError) return undefined;
    throw err;
  }
}

const extensionCache = new WeakMap<X509Certificate, Map<string, ExtensionAt> | null>();

function extensionsOfCert(cert: X509Certificate): Map<string, ExtensionAt> | undefined {
  let found = extensionCache.get(cert);
  if (found === undefined) {
    found = extensionsOf(cert.raw) ?? null;
    extensionCache.set(cert, found);
  }
  return found ?? undefined;
}

/**
 * Fast path: the keyUsage extension (OID 2.5.29.15, OCTET STRING { BIT
 * STRING }) read from the DER. Returns undefined when the bytes are not in
 * that shape (the caller then uses the full parser).
 */
function scanKeyUsage(cert: X509Certificate): { bits: number | undefined; critical: boolean } | undefined {
  const exts = extensionsOfCert(cert);
  if (!exts) return undefined;
  const ku = exts.get(KU_OID.toString('hex'));
  if (!ku) return { bits: undefined, critical: false };
  const der = cert.raw;
  try {
    const bs = readTlv(der, ku.value.contentStart, ku.value.end, Tag.BIT_STRING);
    const len = bs.end - bs.contentStart;
    if (bs.end !== ku.value.end || len < 2 || len > 3) return undefined;
    const unused = der[bs.contentStart]!;
    if (unused > 7) return undefined;
    let bits = 0;
    for (let b = 0; b < (len - 1) * 8 - unused; b++) {
      if (der[bs.contentStart + 1 + (b >> 3)]! & (0x80 >> (b & 7))) bits |= 1 << b;
    }
    return { bits, critical: ku.critical };
  } catch (err) {
    if (err instanceof DerError) return undefined;
    throw err;
  }
}

/** Key usage bits, or undefined when the extension is absent. */
export function keyUsageOf(cert: X509Certificate): number | undefined {
  return keyUsageInfo(cert).bits;
}

export function keyUsageIsCritical(cert: X509Certificate): boolean {
  return keyUsageInfo(cert).critical;
}

/** URI SANs from Node's `subjectAltName` text ("URI:spiffe://td/x, DNS:a"). */
export function uriSansOf(cert: X509Certificate): string[] {
  const san = cert.subjectAltName;
  if (!san) return [];
  return san.split(', ').filter((s) => s.startsWith('URI:')).map((s) => s.slice(4));
}

export function dnsSansOf(cert: X509Certificate): string[] {
  const san = cert.subjectAltName;
  if (!san) return [];
  return san.split(', ').filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4));
}

const caFlags = new WeakMap<X509Certificate, boolean>();

/**
 * The basicConstraints cA flag as written in the certificate. Node's
 * `X509Certificate.ca` is OpenSSL's X509_check_ca, which also looks at key
 * usage, so a leaf with CA:TRUE but no keyCertSign would slip through it.
 */
export function isCa(cert: X509Certificate): boolean {
  let flag = caFlags.get(cert);
  if (flag === undefined) {
    flag = scanCaFlag(cert) ?? parseCaFlag(cert);
    caFlags.set(cert, flag);
  }
  return flag;
}

function parseCaFlag(cert: X509Certificate): boolean {
  const px509 = peculiar();
  return fullParse(() => new px509.X509Certificate(cert.raw).getExtension(px509.BasicConstraintsExtension))?.ca === true;
}

/** Fast path: the cA BOOLEAN of basicConstraints (SEQUENCE { cA DEFAULT FALSE, pathLen OPTIONAL }). */
function scanCaFlag(cert: X509Certificate): boolean | undefined {
  const exts = extensionsOfCert(cert);
  if (!exts) return undefined;
  const bc = exts.get(BC_OID.toString('hex'));
  if (!bc) return false;
  const der = cert.raw;
  try {
    const body = readTlv(der, bc.value.contentStart, bc.value.end, Tag.SEQUENCE);
    if (body.end !== bc.value.end) return undefined;
    if (body.contentStart === body.end || der[body.contentStart] !== Tag.BOOLEAN) return false;
    const flag = readTlv(der, body.contentStart, body.end, Tag.BOOLEAN);
    if (flag.end - flag.contentStart !== 1) return undefined;
    return der[flag.contentStart] !== 0;
  } catch (err) {
    if (err instanceof DerError) return undefined;
    throw err;
  }
}
