// Concatenated DER certificates (the Workload API's encoding): successive
// ASN.1 SEQUENCEs, no separators.
import { X509Certificate } from 'node:crypto';

/** Splits back-to-back DER SEQUENCEs; throws on truncated or non-SEQUENCE data. */
export function splitDer(buf: Uint8Array): Buffer[] {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: Buffer[] = [];
  let off = 0;
  while (off < b.length) {
    if (b[off] !== 0x30) throw new Error(`expected an ASN.1 SEQUENCE at offset ${off}`);
    if (off + 2 > b.length) throw new Error('truncated DER header');
    let len = b[off + 1]!;
    let hdr = 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0 || n > 4 || off + 2 + n > b.length) throw new Error('invalid DER length');
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + b[off + 2 + i]!;
      hdr += n;
    }
    if (off + hdr + len > b.length) throw new Error('truncated DER certificate');
    out.push(b.subarray(off, off + hdr + len));
    off += hdr + len;
  }
  return out;
}

export function parseCertificatesDer(buf: Uint8Array): X509Certificate[] {
  return splitDer(buf).map((d) => new X509Certificate(d));
}

export function concatDer(certs: readonly X509Certificate[]): Buffer {
  return Buffer.concat(certs.map((c) => c.raw));
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;

/** All CERTIFICATE blocks of a PEM text, in order. */
export function parseCertificatesPem(pem: string): X509Certificate[] {
  const out: X509Certificate[] = [];
  for (const m of pem.matchAll(PEM_CERT)) out.push(new X509Certificate(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64')));
  return out;
}

export function certificatesToPem(certs: readonly X509Certificate[]): string {
  return certs.map((c) => c.toString().trimEnd() + '\n').join('');
}
