// HPACK (RFC 7541) as far as uds-authority.ts needs it: a decoder that keeps
// the client's dynamic table, and an encoder of plain literals that never
// touch the peer's table (so a rewritten header block cannot desynchronize it).

// SETTINGS_HEADER_TABLE_SIZE as Node advertises it (its default, not changed by grpc-js).
const HEADER_TABLE_SIZE = 4096;
// Bound on the decoded header list of one block.
const MAX_HEADER_LIST_BYTES = 256 * 1024;

export class HpackError extends Error {
  constructor(message: string) {
    super(`hpack: ${message}`);
    this.name = 'HpackError';
  }
}

export interface HeaderField {
  readonly name: string;
  readonly value: string;
  /** Sent as "never indexed" (RFC 7541 §6.2.3): intermediaries keep it so. */
  readonly sensitive: boolean;
}

// RFC 7541 Appendix A.
const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'],
  [':scheme', 'http'], [':scheme', 'https'], [':status', '200'], [':status', '204'], [':status', '206'],
  [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'], ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'], ['accept-language', ''], ['accept-ranges', ''], ['accept', ''],
  ['access-control-allow-origin', ''], ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''], ['date', ''], ['etag', ''],
  ['expect', ''], ['expires', ''], ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''], ['link', ''],
  ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''], ['proxy-authorization', ''], ['range', ''],
  ['referer', ''], ['refresh', ''], ['retry-after', ''], ['server', ''], ['set-cookie', ''],
  ['strict-transport-security', ''], ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];

// RFC 7541 Appendix B is a canonical Huffman code: the code lengths of
// symbols 0..255 and EOS (256) determine every code.
const HUFFMAN_CODE_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];
const EOS = 256;

// Decoding tree as a flat array: node n has children at tree[2n] (bit 0) and
// tree[2n+1] (bit 1); a child >= 0 is another node, -1 - sym is a leaf.
const HUFFMAN_TREE: Int32Array = (() => {
  const symbols = HUFFMAN_CODE_LENGTHS.map((len, sym) => ({ len, sym })).sort((a, b) => a.len - b.len || a.sym - b.sym);
  const tree = new Int32Array(2 * 512).fill(0);
  let nodes = 1;
  let code = 0;
  let prevLen = symbols[0]!.len;
  for (const { len, sym } of symbols) {
    code <<= len - prevLen;
    prevLen = len;
    let node = 0;
    for (let bit = len - 1; bit >= 0; bit--) {
      const slot = 2 * node + ((code >>> bit) & 1);
      if (bit === 0) tree[slot] = -1 - sym;
      else {
        if (tree[slot] === 0) tree[slot] = nodes++;
        node = tree[slot]!;
      }
    }
    code++;
  }
  return tree;
})();

function huffmanDecode(data: Buffer): string {
  const out: number[] = [];
  let node = 0;
  let depth = 0; // bits since the last symbol
  let allOnes = true; // those bits were all 1 (valid padding is a prefix of EOS)
  for (const byte of data) {
    for (let bit = 7; bit >= 0; bit--) {
      const b = (byte >>> bit) & 1;
      const next = HUFFMAN_TREE[2 * node + b]!;
      depth++;
      allOnes &&= b === 1;
      if (next < 0) {
        const sym = -1 - next;
        if (sym === EOS) throw new HpackError('EOS in a Huffman-encoded string');
        out.push(sym);
        node = 0;
        depth = 0;
        allOnes = true;
      } else {
        if (next === 0) throw new HpackError('invalid Huffman code');
        node = next;
      }
    }
  }
  if (depth > 7 || !allOnes) throw new HpackError('invalid Huffman padding');
  return Buffer.from(out).toString('latin1');
}

/** An HPACK decoder (RFC 7541) holding one connection's dynamic table. */
export class HpackDecoder {
  #table: [string, string][] = []; // newest first
  #size = 0;
  #maxSize = HEADER_TABLE_SIZE;

  decode(block: Buffer): HeaderField[] {
    const fields: HeaderField[] = [];
    let pos = 0;
    let listBytes = 0;
    const int = (prefixBits: number): number => {
      if (pos >= block.length) throw new HpackError('truncated integer');
      const mask = (1 << prefixBits) - 1;
      let value = block[pos++]! & mask;
      if (value < mask) return value;
      for (let shift = 0; ; shift += 7) {
        if (pos >= block.length) throw new HpackError('truncated integer');
        if (shift > 21) throw new HpackError('integer too large');
        const b = block[pos++]!;
        value += (b & 0x7f) * 2 ** shift;
        if ((b & 0x80) === 0) return value;
      }
    };
    const str = (): string => {
      if (pos >= block.length) throw new HpackError('truncated string');
      const huffman = (block[pos]! & 0x80) !== 0;
      const len = int(7);
      if (pos + len > block.length) throw new HpackError('truncated string');
      const raw = block.subarray(pos, pos + len);
      pos += len;
      return huffman ? huffmanDecode(raw) : raw.toString('latin1');
    };
    const entry = (index: number): readonly [string, string] => {
      if (index === 0) throw new HpackError('index 0');
      if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1]!;
      const dyn = this.#table[index - STATIC_TABLE.length - 1];
      if (dyn === undefined) throw new HpackError(`index ${index} is not in the table`);
      return dyn;
    };
    while (pos < block.length) {
      const first = block[pos]!;
      let field: HeaderField;
      if (first & 0x80) {
        const [name, value] = entry(int(7));
        field = { name, value, sensitive: false };
      } else if ((first & 0xe0) === 0x20) {
        // A table size update may only open a block (§4.2).
        if (fields.length > 0) throw new HpackError('table size update after a field');
        const size = int(5);
        if (size > HEADER_TABLE_SIZE) throw new HpackError(`table size ${size} above the ${HEADER_TABLE_SIZE} allowed`);
        this.#maxSize = size;
        this.#evict(0);
        continue;
      } else {
        const indexing = (first & 0xc0) === 0x40;
        const index = int(indexing ? 6 : 4);
        const name = index === 0 ? str() : entry(index)[0];
        const value = str();
        field = { name, value, sensitive: !indexing && (first & 0xf0) === 0x10 };
        if (indexing) this.#add(name, value);
      }
      listBytes += field.name.length + field.value.length + 32;
      if (listBytes > MAX_HEADER_LIST_BYTES) throw new HpackError('header list too large');
      fields.push(field);
    }
    return fields;
  }

  #add(name: string, value: string): void {
    const size = name.length + value.length + 32;
    this.#evict(size);
    // An entry larger than the table empties it and is not added (§4.4).
    if (size <= this.#maxSize) {
      this.#table.unshift([name, value]);
      this.#size += size;
    }
  }

  #evict(room: number): void {
    while (this.#table.length > 0 && this.#size + room > this.#maxSize) {
      const [name, value] = this.#table.pop()!;
      this.#size -= name.length + value.length + 32;
    }
  }
}

function encodeInt(out: number[], value: number, prefixBits: number, pattern: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(pattern | value);
    return;
  }
  out.push(pattern | max);
  value -= max;
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
}

/**
 * Encodes fields as literals that never touch the dynamic table (§6.2.2,
 * §6.2.3), so the receiver's table stays empty and needs no syncing.
 */
export function encodeLiterals(fields: readonly HeaderField[]): Buffer {
  const out: number[] = [];
  for (const { name, value, sensitive } of fields) {
    out.push(sensitive ? 0x10 : 0x00);
    for (const s of [name, value]) {
      const bytes = Buffer.from(s, 'latin1');
      encodeInt(out, bytes.length, 7, 0x00);
      for (const b of bytes) out.push(b);
    }
  }
  return Buffer.from(out);
}
