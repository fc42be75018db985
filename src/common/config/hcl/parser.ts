// HCL 1 → RawNode, in one recursive-descent pass over the lexer's tokens,
// following hashicorp/hcl v1's hcl/parser (what SPIRE reads its config with):
//   file, `{ … }`   items, each optionally followed by `,`
//   item            key… `{` items `}`  (a block: `type "l1" l2 { … }`)
//                 | key `=` value
//   key             identifier (letters, digits, `_`, `-`, `.`) or quoted string
//   value           string | heredoc | number | true | false | `{` items `}` | `[` list `]`
// and onto the RawNode tree as
//   block `type "l1" "l2" { body }`  → type: { l1: { l2: { …body } } }
//   `key = value`                    → key: value
// Blocks of the same type merge (`federates_with "a" {…}` and
// `federates_with "b" {…}`); the same labelled block twice, or a key given
// twice, is an error. A value HCL 1 does not have (a function call, a
// reference, `null`…) is a problem naming its key; the parse goes on.
// Recursion is bounded: nesting deeper than MAX_CONFIG_DEPTH stops the parse
// before the next level is entered.
import type { ConfigLocation, ConfigProblem } from '../config-error.ts';
import { MAX_CONFIG_DEPTH, quoteExcerpt } from '../limits.ts';
import { Bail, emptyMap, joinKey, syntaxErrors } from '../raw-node.ts';
import type { MapEntry, ParsedConfig, RawNode } from '../raw-node.ts';
import { HclSyntaxError, Lexer } from './lexer.ts';
import type { Token } from './lexer.ts';
import { heredocValue, numberValue, unescapeHcl } from './values.ts';

type MapNode = Extract<RawNode, { t: 'map' }>;

interface Slot {
  readonly entry: MapEntry;
  /** Made by a block (`type "label" {`): later blocks of the same type merge into it. */
  readonly block: boolean;
}

/** Parses HCL text into a RawNode tree; problems carry their line. */
export function parseHcl(text: string, file: string): ParsedConfig {
  // hashicorp/hcl v1 reads CRLF files as LF (lines are unchanged).
  try {
    const p = new Parser(text.includes('\r\n') ? text.replaceAll('\r\n', '\n') : text, file);
    const root = p.file();
    if (p.fatal.length > 0) return syntaxErrors(p.fatal, file);
    return { root: root.entries.length === 0 ? emptyMap({ file }) : root, problems: p.problems, syntaxError: false };
  } catch (err) {
    if (err instanceof HclSyntaxError) {
      return syntaxErrors([{ file, line: err.line, path: '', message: `hcl: syntax error at column ${err.column}: ${err.message}` }], file);
    }
    if (err instanceof Bail) return syntaxErrors([err.problem], file);
    throw err;
  }
}

class Parser {
  readonly problems: ConfigProblem[] = [];
  /** Duplicates: reported alone, after the whole file is read. */
  readonly fatal: ConfigProblem[] = [];
  private readonly lexer: Lexer;
  private readonly text: string;
  private readonly fileName: string;
  private tok: Token;
  private readonly slots = new WeakMap<MapNode, Map<string, Slot>>();
  /** > 0 while reading what a duplicate replaces: read for its syntax, not reported. */
  private discarding = 0;

  constructor(text: string, file: string) {
    this.text = text;
    this.fileName = file;
    this.lexer = new Lexer(text);
    this.tok = this.lexer.scan();
  }

  file(): MapNode {
    const root = this.newMap({ file: this.fileName });
    this.items(root, '', 0, false);
    return root;
  }

  private advance(): Token {
    const t = this.tok;
    this.tok = this.lexer.scan();
    return t;
  }

  private loc(t: Token): ConfigLocation {
    return { file: this.fileName, line: t.line };
  }

  private newMap(at: ConfigLocation): MapNode {
    return { t: 'map', entries: [], at };
  }

  private slotsOf(m: MapNode): Map<string, Slot> {
    let s = this.slots.get(m);
    if (s === undefined) {
      s = new Map();
      this.slots.set(m, s);
    }
    return s;
  }

  private problem(p: ConfigProblem): void {
    if (this.discarding === 0) this.problems.push(p);
  }

  private duplicate(p: ConfigProblem): void {
    if (this.discarding === 0) this.fatal.push(p);
  }

  private tooDeep(t: Token, path: string, depth: number): void {
    if (depth > MAX_CONFIG_DEPTH) throw new Bail({ ...this.loc(t), path, message: `nested more than ${MAX_CONFIG_DEPTH} levels deep (the limit)` });
  }

  /** `unexpected "…"`: the text at `t`, up to its first space. */
  private unexpected(t: Token, what?: string): HclSyntaxError {
    if (t.type === 'eof') return new HclSyntaxError(t.line, t.column, what ?? 'unexpected end of file');
    // Up to the first space; a character that is itself space to JavaScript but not to HCL (\f, \v, U+00A0…) alone.
    const word = /^\S{1,20}/.exec(this.text.slice(t.start, t.start + 20))?.[0] ?? String.fromCodePoint(this.text.codePointAt(t.start) ?? 0);
    return new HclSyntaxError(t.line, t.column, `unexpected ${quoteExcerpt(word)}${what === undefined ? '' : ` (${what})`}`);
  }

  /** Items up to `}` (not consumed) or the end of the file; a block's body is checked for depth at its first item. */
  private items(target: MapNode, path: string, depth: number, inBraces: boolean, bodyDepth?: number): void {
    let first = true;
    for (;;) {
      const t = this.tok;
      if (t.type === 'eof') {
        if (inBraces) throw new HclSyntaxError(t.line, t.column, 'missing "}"');
        return;
      }
      if (t.type === '}' && inBraces) return;
      if (first && bodyDepth !== undefined) this.tooDeep(t, path, bodyDepth);
      first = false;
      this.item(target, path, depth);
      if (this.tok.type === ',') this.advance();
    }
  }

  private item(target: MapNode, path: string, depth: number): void {
    const start = this.tok;
    const keys: Token[] = [];
    while (this.tok.type === 'ident' || this.tok.type === 'string') keys.push(this.advance());
    const first = keys[0];
    if (first !== undefined && this.tok.type === '=' && keys.length === 1) {
      this.advance();
      this.attribute(first, start, target, path, depth);
    } else if (first !== undefined && this.tok.type === '{') {
      this.advance();
      this.block(keys, target, path, depth);
    } else if (keys.length > 1 && this.tok.type === '=') {
      throw this.unexpected(this.tok, `after ${keys.length} keys: \`${this.tokenText(start)} … = value\` takes one key, a block \`${this.tokenText(start)} … { … }\` several`);
    } else {
      throw this.unexpected(start);
    }
  }

  private attribute(keyTok: Token, start: Token, target: MapNode, path: string, depth: number): void {
    const key = this.key(keyTok, path);
    const at = this.loc(keyTok);
    const p = joinKey(path, key);
    const slots = this.slotsOf(target);
    const existing = slots.get(key);
    if (existing !== undefined) this.duplicate({ ...at, path: p, message: `duplicate key${lineNote(existing.entry.at)}` });
    if (existing !== undefined) this.discarding++;
    const node = this.value(at, p, depth + 1, start);
    if (existing !== undefined) {
      this.discarding--;
      return;
    }
    const entry: MapEntry = { key, at, node };
    slots.set(key, { entry, block: false });
    target.entries.push(entry);
  }

  /** After the `{`: label by label into (or merged with) maps of `target`, then the body. */
  private block(keyToks: readonly Token[], target: MapNode, path: string, depth: number): void {
    const keys = keyToks.map((t) => ({ key: this.key(t, path), at: this.loc(t) }));
    const blockTok = keyToks[0] as Token;
    let cur = target;
    let p = path;
    let dup = false;
    for (const [i, { key, at }] of keys.entries()) {
      p = joinKey(p, key);
      this.tooDeep(blockTok, p, depth + i);
      const slots = this.slotsOf(cur);
      const existing = slots.get(key);
      const last = i === keys.length - 1;
      if (existing !== undefined) {
        if (!existing.block || existing.entry.node.t !== 'map' || (last && keys.length > 1)) {
          const what = keys.length > 1 ? `${keys[0]?.key} ${keys.slice(1).map((k) => quoteExcerpt(k.key)).join(' ')} declared more than once` : 'duplicate key';
          this.duplicate({ ...at, path: p, message: `${what}${lineNote(existing.entry.at)}` });
          dup = true;
          break;
        }
        cur = existing.entry.node;
        continue;
      }
      const m = this.newMap(at);
      const entry: MapEntry = { key, at, node: m };
      slots.set(key, { entry, block: true });
      cur.entries.push(entry);
      cur = m;
    }
    if (dup) {
      this.discarding++;
      this.items(this.newMap(this.loc(blockTok)), p, depth + keys.length, true);
      this.discarding--;
    } else {
      this.items(cur, p, depth + keys.length, true, depth + keys.length);
    }
    this.advance(); // the `}` (items stops only there, or throws)
  }

  /** A value after `=` or in a list; `start` is what a missing value is reported at. */
  private value(at: ConfigLocation, path: string, depth: number, start: Token): RawNode {
    const t = this.tok;
    this.tooDeep(t, path, depth);
    switch (t.type) {
      case 'string':
        this.advance();
        return { t: 'scalar', value: this.key(t, path), at };
      case 'heredoc':
        this.advance();
        return { t: 'scalar', value: heredocValue(this.tokenText(t)), at };
      case 'bool':
        this.advance();
        return { t: 'scalar', value: this.tokenText(t) === 'true', at };
      case 'number':
      case 'float': {
        this.advance();
        const raw = this.tokenText(t);
        const v = numberValue(raw, t.type === 'float');
        if (typeof v === 'number') return { t: 'scalar', value: v, at };
        this.problem({ ...this.loc(t), path, message: `not a number: ${quoteExcerpt(raw)}${v.why}` });
        return { t: 'scalar', value: null, at };
      }
      case '{': {
        this.advance();
        const m = this.newMap(at);
        this.items(m, path, depth, true);
        this.advance();
        return m;
      }
      case '[':
        return this.list(at, path, depth);
      case 'ident':
      case 'other': {
        const end = this.lexer.skipExpression(t);
        this.tok = this.lexer.scan();
        this.problem({
          ...this.loc(t),
          path,
          message: `unsupported HCL expression ${quoteExcerpt(this.text.slice(t.start, end).trimEnd())}: values are strings, numbers, booleans, lists and objects, as in SPIRE's HCL`,
        });
        return { t: 'scalar', value: null, at };
      }
      default:
        // After `key =`: say what is missing, at the key (its line).
        if (start !== t) {
          const found = t.type === 'eof' ? 'the end of the file' : quoteExcerpt(/^\S{1,20}/.exec(this.text.slice(t.start, t.start + 20))?.[0] ?? this.tokenText(t));
          throw new HclSyntaxError(start.line, start.column, `no value after ${quoteExcerpt(`${this.tokenText(start)} =`)} (found ${found})`);
        }
        throw this.unexpected(start);
    }
  }

  /** `[` items `]`, as hashicorp/hcl v1's listType: commas between items, and (its quirk) none needed after a nested list. */
  private list(at: ConfigLocation, path: string, depth: number): RawNode {
    this.advance();
    const items: RawNode[] = [];
    let needComma = false;
    for (;;) {
      const t = this.tok;
      if (t.type === ']') {
        this.advance();
        return { t: 'seq', items, at };
      }
      if (t.type === ',') {
        this.advance();
        needComma = false;
        continue;
      }
      if (t.type === 'eof') throw new HclSyntaxError(t.line, t.column, 'missing "]"');
      if (needComma) throw this.unexpected(t, 'expected "," or "]"');
      if (t.type === '}' || t.type === '=') throw this.unexpected(t);
      items.push(this.value(this.loc(t), `${path}[${items.length}]`, depth + 1, t));
      needComma = t.type !== '[';
    }
  }

  private tokenText(t: Token): string {
    return this.text.slice(t.start, t.end);
  }

  /** A key's or string's value: an identifier as written, a quoted string decoded (a bad escape is a problem at `path`). */
  private key(t: Token, path: string): string {
    const text = this.tokenText(t);
    if (t.type !== 'string') return text;
    const raw = text.slice(1, -1);
    const r = unescapeHcl(raw);
    if (typeof r === 'string') return r;
    this.problem({ ...this.loc(t), path, message: `invalid escape ${quoteExcerpt(r.bad)} in string` });
    return raw;
  }
}

function lineNote(at: ConfigLocation): string {
  return at.line === undefined ? '' : ` (first at line ${at.line})`;
}
