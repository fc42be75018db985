// The HCL 1 scanner, after hashicorp/hcl v1's hcl/scanner (what SPIRE's
// hcl.Decode reads config files with): identifiers with `.` and `-`, numbers
// (decimal, octal, hex, floats, a `-` sign), strings that may not span lines
// (except inside `${…}`), heredocs, and `#`, `//`, `/* */` comments, which it
// skips. One pass, one token of lookahead for the parser: linear in the text.
// Positions are 1-based lines and columns (UTF-16 units) of the token start.

export type TokenType =
  | 'ident'
  | 'bool'
  | 'number'
  | 'float'
  | 'string'
  | 'heredoc'
  | '{'
  | '}'
  | '['
  | ']'
  | ','
  | '='
  | 'eof'
  /** Any other character (`:`, `(`, `+`, a lone `-` or `/`…): HCL 1 has no use for it. */
  | 'other';

export interface Token {
  readonly type: TokenType;
  /** UTF-16 offsets into the text: [start, end). */
  readonly start: number;
  readonly end: number;
  readonly line: number;
  readonly column: number;
}

/** A syntax error at a position; the parser turns it into a config problem. */
export class HclSyntaxError extends Error {
  readonly line: number;
  readonly column: number;
  constructor(line: number, column: number, what: string) {
    super(what);
    this.line = line;
    this.column = column;
  }
}

const IDENT = /[A-Za-z_\p{L}][\p{L}\p{Nd}_.-]*/uy;
// The scanner's number shapes; what they are worth (octal, int64 range…) is the parser's job.
// hashicorp/hcl v1 reads `.5` but no `-.5`, and no exponent after it (`.5e3` is an error there).
const NUMBER = /-?(?:0[xX][0-9A-Fa-f]*|[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]*)?)|\.[0-9]+/y;
const HEREDOC_ANCHOR = /<<(-?)([\p{L}\p{Nd}_]*)/uy;

export class Lexer {
  readonly text: string;
  private pos = 0;
  private line = 1;
  private lineStart = 0;

  constructor(text: string) {
    this.text = text;
  }

  /** The next token after whitespace and comments. */
  scan(): Token {
    this.skipSpace();
    const t = this.text;
    const start = this.pos;
    const line = this.line;
    const column = start - this.lineStart + 1;
    const tok = (type: TokenType, end: number): Token => {
      this.pos = end;
      return { type, start, end, line, column };
    };
    if (start >= t.length) return tok('eof', start);
    const c = t.charCodeAt(start);
    switch (c) {
      case 0x7b /* { */:
        return tok('{', start + 1);
      case 0x7d /* } */:
        return tok('}', start + 1);
      case 0x5b /* [ */:
        return tok('[', start + 1);
      case 0x5d /* ] */:
        return tok(']', start + 1);
      case 0x2c /* , */:
        return tok(',', start + 1);
      case 0x3d /* = */:
        return tok('=', start + 1);
      case 0x22 /* " */:
        return tok('string', this.stringEnd(start, line, column));
      case 0x3c /* < */:
        if (t.charCodeAt(start + 1) === 0x3c) return tok('heredoc', this.heredocEnd(start, line, column));
        return tok('other', start + 1);
    }
    const isDigit = c >= 0x30 && c <= 0x39;
    const next = t.charCodeAt(start + 1);
    const nextIsDigit = next >= 0x30 && next <= 0x39;
    if (isDigit || ((c === 0x2d /* - */ || c === 0x2e) /* . */ && nextIsDigit)) {
      NUMBER.lastIndex = start;
      const m = NUMBER.exec(t);
      const raw = m?.[0] ?? t[start] ?? '';
      if (/^-?0[xX]$/.test(raw)) throw new HclSyntaxError(line, column, `malformed number ${JSON.stringify(raw)}: no hexadecimal digits`);
      const after = t[start + raw.length];
      if (raw.startsWith('.') && (after === 'e' || after === 'E')) throw new HclSyntaxError(line, column, `malformed number ${JSON.stringify(raw + after)}: no exponent after a number that starts with "." (write 0${raw}e…)`);
      return tok(/^-?0[xX]/.test(raw) || !/[.eE]/.test(raw) ? 'number' : 'float', start + raw.length);
    }
    IDENT.lastIndex = start;
    const id = IDENT.exec(t);
    if (id !== null) return tok(id[0] === 'true' || id[0] === 'false' ? 'bool' : 'ident', start + id[0].length);
    // One code point, so a message never quotes half a surrogate pair.
    return tok('other', start + (c >= 0xd800 && c <= 0xdbff && start + 1 < t.length ? 2 : 1));
  }

  /**
   * Where a value that is no HCL 1 value (a function call, a reference, an
   * operator…) ends, so the parser can quote it whole and go on: at the first
   * newline, `,`, `}`, `]` or comment outside brackets and strings. The lexer
   * continues from there.
   */
  skipExpression(from: Token): number {
    const t = this.text;
    this.pos = from.start;
    this.line = from.line;
    this.lineStart = from.start - from.column + 1;
    let depth = 0;
    let i = from.start;
    for (; i < t.length; i++) {
      const c = t[i];
      if (c === '"') {
        i = this.stringEnd(i, this.line, i - this.lineStart + 1) - 1;
        continue;
      }
      if (depth === 0 && (c === '\n' || c === ',' || c === '}' || c === ']' || c === ')' || c === '#' || (c === '/' && (t[i + 1] === '/' || t[i + 1] === '*')))) break;
      if (c === '(' || c === '[' || c === '{') depth++;
      else if (c === ')' || c === ']' || c === '}') depth--;
      else if (c === '\n') this.newline(i);
    }
    if (depth > 0) throw new HclSyntaxError(from.line, from.column, `unclosed bracket in ${quoteShort(t.slice(from.start, i))}`);
    this.pos = i;
    return i;
  }

  private newline(at: number): void {
    this.line++;
    this.lineStart = at + 1;
  }

  private skipSpace(): void {
    const t = this.text;
    let i = this.pos;
    for (;;) {
      const c = t.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0d) i++;
      else if (c === 0x0a) this.newline(i++);
      else if (c === 0x23 /* # */ || (c === 0x2f && t.charCodeAt(i + 1) === 0x2f) /* // */) {
        const e = t.indexOf('\n', i);
        i = e === -1 ? t.length : e;
      } else if (c === 0x2f && t.charCodeAt(i + 1) === 0x2a /* /* */) {
        const e = t.indexOf('*/', i + 2);
        if (e === -1) throw new HclSyntaxError(this.line, i - this.lineStart + 1, 'unterminated /* comment: no */ follows');
        this.countLines(i, e);
        i = e + 2;
      } else break;
    }
    this.pos = i;
  }

  private countLines(from: number, to: number): void {
    for (let n = this.text.indexOf('\n', from); n !== -1 && n < to; n = this.text.indexOf('\n', n + 1)) this.newline(n);
  }

  /** End of the string opening at `start`: `"` ends it unless escaped or inside `${…}`; a newline only inside `${…}`. */
  private stringEnd(start: number, line: number, column: number): number {
    const t = this.text;
    let braces = 0;
    for (let i = start + 1; i < t.length; i++) {
      const c = t[i];
      if (c === '\\') {
        if (t[i + 1] === '\n' || i + 1 >= t.length) break;
        i++;
      } else if (c === '"' && braces === 0) {
        return i + 1;
      } else if (c === '\n') {
        if (braces === 0) break;
        this.newline(i);
      } else if (braces === 0 && c === '$' && t[i + 1] === '{') {
        braces = 1;
        i++;
      } else if (braces > 0 && c === '{') braces++;
      else if (braces > 0 && c === '}') braces--;
    }
    const rest = t.slice(start, Math.min(t.length, start + 80)).split('\n')[0] ?? '';
    throw new HclSyntaxError(line, column, `unterminated string ${quoteShort(rest)}: a string must end with " on the line it starts on`);
  }

  /** End of the heredoc at `start` (after its closing line's newline, as HCL 1 wants it). */
  private heredocEnd(start: number, line: number, column: number): number {
    const t = this.text;
    HEREDOC_ANCHOR.lastIndex = start;
    const m = HEREDOC_ANCHOR.exec(t);
    const dash = m?.[1] ?? '';
    const anchor = m?.[2] ?? '';
    const afterAnchor = start + (m?.[0].length ?? 2);
    if (anchor === '') throw new HclSyntaxError(line, column, 'heredoc without an anchor: write <<EOF (or <<-EOF), a newline, the text, then EOF on its own line');
    if (t[afterAnchor] !== '\n') {
      throw new HclSyntaxError(line, column, `heredoc anchor <<${dash}${anchor} must end its line`);
    }
    // hashicorp/hcl v1: a line that is the anchor after any whitespace (and \r) closes it, and only when
    // followed by a newline. Its length check counts the `-` of <<-: there, `EOF` alone at column 1 does not close.
    const close = new RegExp(`^[ \\t\\n\\v\\f\\r]*${anchor}\\r*$`, 'u');
    const minLength = dash.length + anchor.length;
    let lineStart = afterAnchor + 1;
    for (let nl = t.indexOf('\n', lineStart); nl !== -1; nl = t.indexOf('\n', lineStart)) {
      const l = t.slice(lineStart, nl);
      if (l.length >= minLength && close.test(l)) {
        this.countLines(afterAnchor, nl + 1);
        return nl + 1;
      }
      lineStart = nl + 1;
    }
    const why = dash === '' ? `no line ${JSON.stringify(anchor)} follows` : `no indented line ${JSON.stringify(anchor)} follows`;
    throw new HclSyntaxError(line, column, `unterminated heredoc <<${dash}${anchor}: ${why} (followed by a newline)`);
  }
}

function quoteShort(text: string): string {
  return JSON.stringify(text.length <= 20 ? text : `${text.slice(0, 20)}…`);
}
