// What HCL 1 literals are worth, as hashicorp/hcl v1's token.Value decodes
// them: strings (Go escapes, `${…}` kept as written), heredocs (`<<-` drops
// the closing line's indentation) and numbers (int64 in decimal, octal or hex;
// floats as Go's ParseFloat).

/** An escape as hashicorp/hcl's scanner takes it (its value is not checked). */
const ESCAPE_SHAPE = /^\\(?:[abfnrtv\\"]|[0-7]{3}|x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8})/;

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', a: '\x07', b: '\b', f: '\f', v: '\v' };

/** A quoted string's body (without its quotes) decoded; `bad` is the first invalid escape. */
export function unescapeHcl(raw: string): string | { bad: string } {
  if (!raw.includes('\\')) return raw;
  let out = '';
  let i = 0;
  let braces = 0;
  // Byte escapes not yet decoded (see utf8LikeGo).
  const bytes: number[] = [];
  const flush = (): string => {
    if (bytes.length === 0) return '';
    const text = utf8LikeGo(bytes);
    bytes.length = 0;
    return text;
  };
  while (i < raw.length) {
    const c = raw[i] as string;
    if (braces === 0 && c === '$' && raw[i + 1] === '{') {
      braces = 1;
      out += flush() + '${';
      i += 2;
      continue;
    }
    if (braces > 0) {
      // Kept as written, but hashicorp/hcl's scanner refuses a malformed escape here too.
      if (c === '\\') {
        const esc = ESCAPE_SHAPE.exec(raw.slice(i, i + 10))?.[0];
        if (esc === undefined) return { bad: raw.slice(i, i + 2) };
        out += esc;
        i += esc.length;
        continue;
      }
      if (c === '{') braces++;
      else if (c === '}') braces--;
      out += c;
      i++;
      continue;
    }
    if (c !== '\\') {
      out += flush() + c;
      i++;
      continue;
    }
    const e = raw[i + 1];
    if (e !== undefined && Object.hasOwn(SIMPLE_ESCAPES, e)) {
      out += flush() + SIMPLE_ESCAPES[e];
      i += 2;
      continue;
    }
    const hex = e === 'u' ? 4 : e === 'U' ? 8 : e === 'x' ? 2 : 0;
    if (hex > 0) {
      const digits = raw.slice(i + 2, i + 2 + hex);
      const cp = /^[0-9A-Fa-f]+$/.test(digits) && digits.length === hex ? Number.parseInt(digits, 16) : NaN;
      if (Number.isNaN(cp) || cp > 0x10ffff) return { bad: raw.slice(i, i + 2 + hex) };
      if (hex === 2) bytes.push(cp);
      // A surrogate half is no character: Go's UTF-8 encoding makes it U+FFFD.
      else out += flush() + (cp >= 0xd800 && cp <= 0xdfff ? '\ufffd' : String.fromCodePoint(cp));
      i += 2 + hex;
      continue;
    }
    if (e !== undefined && e >= '0' && e <= '7') {
      const digits = raw.slice(i + 1, i + 4);
      if (!/^[0-7]{3}$/.test(digits) || Number.parseInt(digits, 8) > 0xff) return { bad: raw.slice(i, i + 4) };
      bytes.push(Number.parseInt(digits, 8));
      i += 4;
      continue;
    }
    return { bad: raw.slice(i, i + 2) };
  }
  return out + flush();
}

/**
 * `\x` and octal escapes are bytes of the string's UTF-8, as in Go (`"\303\251"`
 * is "é"): a run of them is decoded as Go reads it, each byte that starts no
 * valid sequence becoming U+FFFD.
 */
function utf8LikeGo(bytes: readonly number[]): string {
  let out = '';
  for (let i = 0; i < bytes.length; ) {
    const b0 = bytes[i]!;
    const need = b0 < 0x80 ? 0 : b0 >= 0xc2 && b0 <= 0xdf ? 1 : b0 >= 0xe0 && b0 <= 0xef ? 2 : b0 >= 0xf0 && b0 <= 0xf4 ? 3 : -1;
    let cp = need === 0 ? b0 : need === 1 ? b0 & 0x1f : need === 2 ? b0 & 0x0f : b0 & 0x07;
    let ok = need >= 0 && i + need < bytes.length + (need === 0 ? 1 : 0);
    for (let k = 1; ok && k <= need; k++) {
      const b = bytes[i + k]!;
      // The second byte's range excludes overlongs, surrogates and code points beyond U+10FFFF (Go's utf8 acceptRanges).
      const lo = k === 1 && b0 === 0xe0 ? 0xa0 : k === 1 && b0 === 0xf0 ? 0x90 : 0x80;
      const hi = k === 1 && b0 === 0xed ? 0x9f : k === 1 && b0 === 0xf4 ? 0x8f : 0xbf;
      if (b === undefined || b < lo || b > hi) ok = false;
      else cp = (cp << 6) | (b & 0x3f);
    }
    if (ok) {
      out += String.fromCodePoint(cp);
      i += need + 1;
    } else {
      out += '\ufffd';
      i++;
    }
  }
  return out;
}

/**
 * A heredoc token's value (`<<EOF\n…\nEOF\n`): the lines between, each with
 * its newline. For `<<-EOF`, the closing line's indentation is removed from
 * every line when all lines have it, as hashicorp/hcl v1 does (not the
 * smallest common indentation, as HCL 2 does).
 */
export function heredocValue(token: string): string {
  const idx = token.indexOf('\n');
  if (token[2] !== '-') return token.slice(idx + 1, token.length - idx + 1);
  const lines = token.slice(idx + 1, token.length - idx + 2).split('\n');
  const prefix = lines[lines.length - 1] ?? '';
  if (!lines.every((l) => l.startsWith(prefix))) return token.slice(idx + 1, token.length - idx + 1).replace(/[ \t]+$/, '');
  return lines.map((l, k) => (k === lines.length - 1 ? '' : l.slice(prefix.length))).join('\n');
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** A number token's value, or why it is none (Go's ParseInt(text, 0, 64) / ParseFloat(text, 64)). */
export function numberValue(raw: string, float: boolean): number | { why: string } {
  if (float) {
    const v = Number(raw);
    return Number.isFinite(v) ? v : { why: '' };
  }
  const neg = raw.startsWith('-');
  const digits = neg ? raw.slice(1) : raw;
  let big: bigint;
  if (/^0[xX][0-9A-Fa-f]+$/.test(digits)) big = BigInt(digits);
  else if (/^0[0-7]+$/.test(digits)) big = BigInt(`0o${digits.slice(1)}`);
  else if (/^(0|[1-9][0-9]*)$/.test(digits)) big = BigInt(digits);
  else return { why: /^0[0-9]+$/.test(digits) ? ' (a leading 0 makes it octal)' : '' };
  if (neg) big = -big;
  if (big < INT64_MIN || big > INT64_MAX) return { why: ' (out of the 64-bit integer range)' };
  // Go keeps every int64 exactly; a JavaScript number only up to 2^53: refused rather than silently rounded.
  if (big < BigInt(Number.MIN_SAFE_INTEGER) || big > BigInt(Number.MAX_SAFE_INTEGER)) return { why: ' (beyond ±2^53, the integers Herald holds exactly)' };
  return Number(big);
}
