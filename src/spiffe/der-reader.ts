// A minimal, strict DER reader: bounds-checked TLV walking for parsers on the
// hot path (CSRs), where an ASN.1 schema library costs far more than the
// few elements actually read. der-writer's `element` is the unchecked twin
// for DER we produced ourselves.

/** Structural DER problem; callers wrap it in their own error family. */
export class DerError extends Error {}

export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

const tagNames: Record<number, string> = {
  0x01: 'BOOLEAN',
  0x02: 'INTEGER',
  0x03: 'BIT STRING',
  0x04: 'OCTET STRING',
  0x05: 'NULL',
  0x06: 'OBJECT IDENTIFIER',
  0x30: 'SEQUENCE',
  0x31: 'SET',
};

const hex = (b: number): string => b.toString(16).padStart(2, '0');

export function tagName(tag: number): string {
  const known = tagNames[tag];
  if (known) return known;
  if ((tag & 0xc0) === 0x80) return `[${tag & 0x1f}]`;
  return `tag 0x${hex(tag)}`;
}

export interface Tlv {
  tag: number;
  start: number;
  contentStart: number;
  end: number;
}

/**
 * The element at `offset`, which must end by `limit`; with `expected`, its
 * tag must match. Rejects what DER forbids (indefinite and non-minimal
 * lengths) so that one input has one reading.
 */
export function readTlv(der: Uint8Array, offset: number, limit: number, expected?: number): Tlv {
  const want = expected === undefined ? '' : `, expected ${tagName(expected)}`;
  if (offset + 2 > limit) throw new DerError(`unexpected end of data at offset ${offset}${want}`);
  const tag = der[offset]!;
  if (expected !== undefined && tag !== expected) {
    throw new DerError(`unexpected tag 0x${hex(tag)} at offset ${offset}${want}`);
  }
  if ((tag & 0x1f) === 0x1f) throw new DerError(`unsupported high tag number at offset ${offset}`);
  // Universal tag 0 is BER's end-of-contents marker, which DER never has.
  if ((tag & 0xdf) === 0) throw new DerError(`end-of-contents tag at offset ${offset}`);
  // DER encodes every universal type but SEQUENCE and SET (strings included) in primitive form.
  if ((tag & 0xe0) === 0x20 && tag !== Tag.SEQUENCE && tag !== Tag.SET) {
    throw new DerError(`constructed encoding of ${tagName(tag & 0xdf)} at offset ${offset}`);
  }
  let len = der[offset + 1]!;
  let contentStart = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) throw new DerError(`indefinite length at offset ${offset}`);
    if (n > 4) throw new DerError(`length of ${n} bytes at offset ${offset}`);
    if (contentStart + n > limit) throw new DerError(`unexpected end of data in length at offset ${offset}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[contentStart + i]!;
    if (len < 0x80 || der[contentStart] === 0) throw new DerError(`non-minimal length at offset ${offset}`);
    contentStart += n;
  }
  const end = contentStart + len;
  if (end > limit) {
    throw new DerError(`truncated ${tagName(tag)} at offset ${offset}: length ${len}, ${limit - contentStart} bytes available`);
  }
  return { tag, start: offset, contentStart, end };
}

/** Dotted form of an OBJECT IDENTIFIER element. */
export function oidString(der: Uint8Array, el: Tlv): string {
  if (el.end === el.contentStart) throw new DerError(`empty OBJECT IDENTIFIER at offset ${el.start}`);
  let out = '';
  let v = 0;
  let first = true;
  for (let i = el.contentStart; i < el.end; i++) {
    const b = der[i]!;
    if (v === 0 && b === 0x80) throw new DerError(`non-minimal OBJECT IDENTIFIER at offset ${el.start}`);
    v = v * 128 + (b & 0x7f);
    if (b & 0x80) continue;
    if (first) {
      out = v < 80 ? `${Math.floor(v / 40)}.${v % 40}` : `2.${v - 80}`;
      first = false;
    } else {
      out += `.${v}`;
    }
    v = 0;
  }
  if (der[el.end - 1]! & 0x80) throw new DerError(`truncated OBJECT IDENTIFIER at offset ${el.start}`);
  return out;
}

/** A small non-negative INTEGER element (lengths, counts), as a number. */
export function smallUint(der: Uint8Array, el: Tlv): number {
  const n = el.end - el.contentStart;
  if (n < 1 || n > 4 || der[el.contentStart]! & 0x80) {
    throw new DerError(`INTEGER at offset ${el.start} is not a small non-negative number`);
  }
  if (n > 1 && der[el.contentStart] === 0 && !(der[el.contentStart + 1]! & 0x80)) {
    throw new DerError(`non-minimal INTEGER at offset ${el.start}`);
  }
  let v = 0;
  for (let i = el.contentStart; i < el.end; i++) v = v * 256 + der[i]!;
  return v;
}
