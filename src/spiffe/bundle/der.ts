// Concatenated DER certificates (the Workload API's encoding): successive
// ASN.1 SEQUENCEs, no separators.
import { X509Certificate } from 'node:crypto';
import { errorMessage } from '../../common/errors.ts';
import { DerError, Tag, readTlv } from '../der-reader.ts';
import { BundleError } from '../errors.ts';

/**
 * Splits back-to-back DER SEQUENCEs; throws BundleError (ERR_BUNDLE_X509_PARSE)
 * on truncated, non-minimal or non-SEQUENCE data.
 */
export function splitDer(buf: Uint8Array): Buffer[] {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: Buffer[] = [];
  try {
    for (let off = 0; off < b.length; ) {
      const el = readTlv(b, off, b.length, Tag.SEQUENCE);
      out.push(b.subarray(el.start, el.end));
      off = el.end;
    }
  } catch (err) {
    if (err instanceof DerError) throw x509ParseError(`invalid DER certificate data: ${err.message}`, err);
    throw err;
  }
  return out;
}

/**
 * A certificate from bytes received, refused unless they are its DER: OpenSSL
 * also reads some non-canonical forms (a BIT STRING whose padding bits are
 * set, say) and re-encodes them, so `raw` would not be the bytes received
 * (fingerprints, chains passed on) and Go's crypto/x509 (SPIRE, go-spiffe)
 * would refuse what Herald took. Throws an untyped Error: callers say what
 * the bytes were.
 */
export function strictCertificate(der: Uint8Array): X509Certificate {
  const cert = new X509Certificate(der);
  if (!cert.raw.equals(der)) throw new Error('not DER: the certificate is not in its canonical encoding');
  return cert;
}

/** One certificate through Node's parser, whose own errors are untyped. */
function certificate(der: Buffer): X509Certificate {
  try {
    return strictCertificate(der);
  } catch (err) {
    throw x509ParseError(`invalid certificate: ${errorMessage(err)}`, err);
  }
}

function x509ParseError(message: string, cause: unknown): BundleError {
  return new BundleError('ERR_BUNDLE_X509_PARSE', message, { cause });
}

export function parseCertificatesDer(buf: Uint8Array): X509Certificate[] {
  return splitDer(buf).map(certificate);
}

export function concatDer(certs: readonly X509Certificate[]): Buffer {
  return Buffer.concat(certs.map((c) => c.raw));
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;

/** All CERTIFICATE blocks of a PEM text, in order. */
export function parseCertificatesPem(pem: string): X509Certificate[] {
  const out: X509Certificate[] = [];
  for (const m of pem.matchAll(PEM_CERT)) out.push(certificate(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64')));
  return out;
}

export function certificatesToPem(certs: readonly X509Certificate[]): string {
  return certs.map((c) => c.toString().trimEnd() + '\n').join('');
}
