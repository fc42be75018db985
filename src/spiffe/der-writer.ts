// A minimal DER writer: just the ASN.1 types an X.509 leaf needs. Issuing
// leaves is the server's hot path, and building them byte by byte is ~10×
// faster than a general ASN.1 library.

/** Bytes a DER length takes. */
export function lengthSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x1000000 ? 4 : 5;
}

/** Writes a DER length at `off`; returns the offset after it. */
export function writeLength(out: Uint8Array, off: number, n: number): number {
  if (n < 0x80) {
    out[off] = n;
    return off + 1;
  }
  const k = lengthSize(n) - 1;
  out[off++] = 0x80 | k;
  for (let i = k - 1; i >= 0; i--) out[off++] = Math.floor(n / 2 ** (8 * i)) & 0xff;
  return off;
}

// One allocation per element: the header and the contents are written into
// a buffer of the final size (no separate tag, length and concat buffers).
export function tlv(tag: number, ...content: Uint8Array[]): Buffer {
  let n = 0;
  for (const c of content) n += c.length;
  const out = Buffer.allocUnsafe(1 + lengthSize(n) + n);
  out[0] = tag;
  let off = writeLength(out, 1, n);
  for (const c of content) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

export const seq = (...c: Buffer[]): Buffer => tlv(0x30, ...c);
export const set = (...c: Buffer[]): Buffer => tlv(0x31, ...c);
export const octets = (b: Buffer): Buffer => tlv(0x04, b);
export const explicit = (n: number, ...c: Buffer[]): Buffer => tlv(0xa0 | n, ...c);
export const bool = (v: boolean): Buffer => Buffer.from([0x01, 0x01, v ? 0xff : 0x00]);
export const utf8 = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
export const printable = (s: string): Buffer => tlv(0x13, Buffer.from(s, 'ascii'));
export const ia5 = (tag: number, s: string): Buffer => tlv(tag, Buffer.from(s, 'ascii'));

/** A non-negative INTEGER from big-endian magnitude bytes. */
export function uint(bytes: Buffer): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const b = bytes.subarray(i);
  return tlv(0x02, b[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
}

export function bitString(bytes: Buffer, unusedBits = 0): Buffer {
  return tlv(0x03, Buffer.from([unusedBits]), bytes);
}

// Encoded OIDs by dotted string: a certificate names the same dozen over and
// over. Bounded, as extra extensions' OIDs come from configuration.
const oids = new Map<string, Buffer>();
const MAX_CACHED_OIDS = 256;

/** An OBJECT IDENTIFIER; the returned buffer is shared: never write to it. */
export function oid(dotted: string): Buffer {
  let b = oids.get(dotted);
  if (!b) {
    b = encodeOid(dotted);
    if (oids.size < MAX_CACHED_OIDS) oids.set(dotted, b);
  }
  return b;
}

function encodeOid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out: number[] = [40 * parts[0]! + parts[1]!];
  for (const p of parts.slice(2)) {
    const chunk: number[] = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** UTCTime before 2050, GeneralizedTime from 2050 on (RFC 5280 §4.1.2.5). */
export function time(ms: number): Buffer {
  const d = new Date(Math.floor(ms / 1000) * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  const body = `${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  const y = d.getUTCFullYear();
  return y < 2050 ? tlv(0x17, Buffer.from(p(y % 100) + body)) : tlv(0x18, Buffer.from(String(y) + body));
}

/** The element at `offset` of a DER buffer: its full bytes and where its content starts. */
export function element(der: Buffer, offset: number): { start: number; contentStart: number; end: number } {
  let l = der[offset + 1]!;
  let hdr = 2;
  if (l & 0x80) {
    const n = l & 0x7f;
    l = 0;
    for (let i = 0; i < n; i++) l = l * 256 + der[offset + 2 + i]!;
    hdr += n;
  }
  return { start: offset, contentStart: offset + hdr, end: offset + hdr + l };
}
