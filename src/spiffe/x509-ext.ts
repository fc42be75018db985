// Reading the X.509 extensions the SVID rules look at. Node's native
// X509Certificate parses and verifies; key usage and basic constraints are
// read straight from the DER, with @peculiar/x509 as the fallback parser.
import type { X509Certificate } from 'node:crypto';
import { createRequire } from 'node:module';

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
    info = scanKeyUsage(cert.raw) ?? parseKeyUsage(cert);
    keyUsages.set(cert, info);
  }
  return info;
}

function parseKeyUsage(cert: X509Certificate): { bits: number | undefined; critical: boolean } {
  const px509 = peculiar();
  const ext = new px509.X509Certificate(cert.raw).getExtension(px509.KeyUsagesExtension);
  return { bits: ext ? ext.usages : undefined, critical: ext?.critical === true };
}

const KU_OID = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x0f]);

/**
 * Fast path: the keyUsage extension read straight from the DER
 * (OID 2.5.29.15, optional critical BOOLEAN, OCTET STRING { BIT STRING }).
 * Returns undefined when the bytes are not in that shape (the caller then
 * uses the full parser); a certificate without the OID has no key usage.
 */
function scanKeyUsage(der: Buffer): { bits: number | undefined; critical: boolean } | undefined {
  const at = der.indexOf(KU_OID);
  if (at < 0) return { bits: undefined, critical: false };
  let i = at + KU_OID.length;
  let critical = false;
  if (der[i] === 0x01 && der[i + 1] === 0x01) {
    critical = der[i + 2] !== 0;
    i += 3;
  }
  if (der[i] !== 0x04 || der[i + 2] !== 0x03) return undefined;
  const bitLen = der[i + 3]!;
  if (bitLen < 1 || bitLen > 3) return undefined;
  const unused = der[i + 4]!;
  const bytes = der.subarray(i + 5, i + 4 + bitLen);
  let bits = 0;
  for (let b = 0; b < bytes.length * 8 - unused; b++) {
    if (bytes[b >> 3]! & (0x80 >> (b & 7))) bits |= 1 << b;
  }
  return { bits, critical };
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

const BC_OID = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x13]);
const caFlags = new WeakMap<X509Certificate, boolean>();

/**
 * The basicConstraints cA flag as written in the certificate. Node's
 * `X509Certificate.ca` is OpenSSL's X509_check_ca, which also looks at key
 * usage, so a leaf with CA:TRUE but no keyCertSign would slip through it.
 */
export function isCa(cert: X509Certificate): boolean {
  let flag = caFlags.get(cert);
  if (flag === undefined) {
    flag = scanCaFlag(cert.raw) ?? parseCaFlag(cert);
    caFlags.set(cert, flag);
  }
  return flag;
}

function parseCaFlag(cert: X509Certificate): boolean {
  const px509 = peculiar();
  return new px509.X509Certificate(cert.raw).getExtension(px509.BasicConstraintsExtension)?.ca === true;
}

function scanCaFlag(der: Buffer): boolean | undefined {
  const at = der.indexOf(BC_OID);
  if (at < 0) return false;
  let i = at + BC_OID.length;
  if (der[i] === 0x01 && der[i + 1] === 0x01) i += 3;
  if (der[i] !== 0x04 || der[i + 2] !== 0x30) return undefined;
  if (der[i + 3] === 0) return false;
  if (der[i + 4] === 0x01 && der[i + 5] === 0x01) return der[i + 6] !== 0;
  return false;
}
