// The tree-sitter HCL parser Herald used before its own HCL 1 parser
// (src/common/config/hcl/), kept only as the reference of the differential
// test (hcl-differential.test.ts): web-tree-sitter and the tree-sitter HCL
// grammar are devDependencies. Unchanged but for its imports and name.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Language as LanguageT, Parser as ParserT, Node } from 'web-tree-sitter';
import type { ConfigLocation, ConfigProblem } from '../../../src/common/config/config-error.ts';
import { MAX_CONFIG_DEPTH, quoteExcerpt } from '../../../src/common/config/limits.ts';
import { Bail, emptyMap, joinKey, syntaxErrors } from '../../../src/common/config/raw-node.ts';
import type { MapEntry, ParsedConfig, RawNode } from '../../../src/common/config/raw-node.ts';

// ---- the parser (tree-sitter) ------------------------------------------------

let parser: ParserT | undefined;
let loading: Promise<ParserT> | undefined;

/** Loads the HCL grammar (WebAssembly, once per process); parseConfig needs it before it reads HCL. */
export async function loadHclParser(): Promise<void> {
  if (parser !== undefined) return;
  loading ??= (async () => {
    // Imported here: ~150 KB of JavaScript that a JSON or YAML config, and every CLI call, never needs.
    const { Language, Parser }: { Language: typeof LanguageT; Parser: typeof ParserT } = await import('web-tree-sitter');
    await Parser.init();
    const require = createRequire(import.meta.url);
    const wasm = await readFile(join(dirname(require.resolve('@tree-sitter-grammars/tree-sitter-hcl/package.json')), 'tree-sitter-hcl.wasm'));
    const p = new Parser();
    p.setLanguage(await Language.load(wasm));
    return p;
  })();
  parser = await loading;
}

export function hclParserLoaded(): boolean {
  return parser !== undefined;
}

const SKIPPED = new Set(['comment']);

function children(node: Node): Node[] {
  return node.children.filter((c): c is Node => c !== null && !SKIPPED.has(c.type));
}

function child(node: Node, type: string): Node | undefined {
  return node.children.find((c): c is Node => c !== null && c.type === type);
}

/** The first ERROR or MISSING node, in text order. */
function firstError(root: Node): Node | undefined {
  let cur: Node = root;
  for (;;) {
    if (cur.isError || cur.isMissing) return cur;
    const next = cur.children.find((c): c is Node => c !== null && (c.hasError || c.isError || c.isMissing));
    if (next === undefined) return cur.isError ? cur : undefined;
    cur = next;
  }
}

// ---- HCL → RawNode --------------------------------------------------------------

interface Slot {
  readonly entry: MapEntry;
  /** Made by a block (`type "label" {`): later blocks of the same type merge into it. */
  readonly block: boolean;
}
type MapNode = Extract<RawNode, { t: 'map' }>;

/** Parses HCL text into a RawNode tree; problems carry their line. Needs `await loadHclParser()` first. */
export function parseHclTreeSitter(text: string, file: string): ParsedConfig {
  if (parser === undefined) throw new TypeError('parseHcl: call `await loadHclParser()` first (loadConfigFile and the daemons\' loaders do)');
  const tree = parser.parse(text);
  if (tree === null) throw new TypeError('parseHcl: the parser returned no tree');
  try {
    return convertTree(tree.rootNode, file);
  } finally {
    tree.delete();
  }
}

function convertTree(rootNode: Node, file: string): ParsedConfig {
  const loc = (n: Node): ConfigLocation => ({ file, line: n.startPosition.row + 1 });

  if (rootNode.hasError) {
    const e = firstError(rootNode);
    if (e !== undefined) {
      const column = e.startPosition.column + 1;
      const what = e.isMissing ? `missing ${quoteExcerpt(e.type)}` : e.text === '' ? 'unexpected end of file' : `unexpected ${quoteExcerpt(/^\S{1,20}/.exec(e.text)?.[0] ?? e.text.slice(0, 20))}`;
      return syntaxErrors([{ ...loc(e), path: '', message: `hcl: syntax error at column ${column}: ${what}` }], file);
    }
  }

  const problems: ConfigProblem[] = [];
  const fatal: ConfigProblem[] = [];
  const slots = new WeakMap<MapNode, Map<string, Slot>>();
  const slotsOf = (m: MapNode): Map<string, Slot> => {
    let s = slots.get(m);
    if (s === undefined) {
      s = new Map();
      slots.set(m, s);
    }
    return s;
  };
  const newMap = (at: ConfigLocation): MapNode => ({ t: 'map', entries: [], at });
  const tooDeep = (n: Node, path: string, depth: number): void => {
    if (depth > MAX_CONFIG_DEPTH) throw new Bail({ ...loc(n), path, message: `nested more than ${MAX_CONFIG_DEPTH} levels deep (the limit)` });
  };

  const body = (node: Node | undefined, target: MapNode, path: string, depth: number): void => {
    if (node === undefined) return;
    tooDeep(node, path, depth);
    for (const item of children(node)) {
      if (item.type === 'attribute') attribute(item, target, path, depth);
      else if (item.type === 'block') block(item, target, path, depth);
    }
  };

  const attribute = (node: Node, target: MapNode, path: string, depth: number): void => {
    const id = child(node, 'identifier');
    const expr = child(node, 'expression');
    if (id === undefined || expr === undefined) return;
    const key = id.text;
    const at = loc(id);
    const p = joinKey(path, key);
    const slots_ = slotsOf(target);
    const first = slots_.get(key);
    if (first !== undefined) {
      fatal.push({ ...at, path: p, message: `duplicate key${lineNote(first.entry.at)}` });
      return;
    }
    const entry: MapEntry = { key, at, node: expression(expr, at, p, depth + 1) };
    slots_.set(key, { entry, block: false });
    target.entries.push(entry);
  };

  const block = (node: Node, target: MapNode, path: string, depth: number): void => {
    const parts = children(node);
    const type = parts[0];
    if (type?.type !== 'identifier') return;
    const keys: { key: string; at: ConfigLocation }[] = [{ key: type.text, at: loc(type) }];
    for (const c of parts.slice(1)) {
      if (c.type === 'string_lit') keys.push({ key: quoted(c, path), at: loc(c) });
      else if (c.type === 'identifier') keys.push({ key: c.text, at: loc(c) });
    }
    let cur = target;
    let p = path;
    for (const [i, { key, at }] of keys.entries()) {
      p = joinKey(p, key);
      tooDeep(node, p, depth + i);
      const slots_ = slotsOf(cur);
      const existing = slots_.get(key);
      const last = i === keys.length - 1;
      if (existing !== undefined) {
        if (!existing.block || existing.entry.node.t !== 'map' || (last && keys.length > 1)) {
          const what = keys.length > 1 ? `${keys[0]?.key} ${keys.slice(1).map((k) => quoteExcerpt(k.key)).join(' ')} declared more than once` : 'duplicate key';
          fatal.push({ ...at, path: p, message: `${what}${lineNote(existing.entry.at)}` });
          return;
        }
        cur = existing.entry.node;
        continue;
      }
      const m = newMap(at);
      const entry: MapEntry = { key, at, node: m };
      slots_.set(key, { entry, block: true });
      cur.entries.push(entry);
      cur = m;
    }
    body(child(node, 'body'), cur, p, depth + keys.length);
  };

  const expression = (node: Node, at: ConfigLocation, path: string, depth: number): RawNode => {
    tooDeep(node, path, depth);
    switch (node.type) {
      case 'expression':
      case 'literal_value':
      case 'template_expr':
      case 'collection_value': {
        const parts = children(node);
        const v = parts[0];
        if (parts.length === 1 && v !== undefined) return expression(v, at, path, depth);
        break;
      }
      case 'numeric_lit':
        return number(node.text, loc(node), at, path);
      case 'bool_lit':
        return { t: 'scalar', value: node.text === 'true', at };
      case 'null_lit':
        return { t: 'scalar', value: null, at };
      case 'string_lit':
      case 'quoted_template':
        return { t: 'scalar', value: quoted(node, path), at };
      case 'heredoc_template':
        return { t: 'scalar', value: heredoc(node), at };
      case 'operation': {
        const u = children(node)[0];
        const parts = u?.type === 'unary_operation' ? u.children.filter((c): c is Node => c !== null) : [];
        const lit = parts[1]?.type === 'literal_value' ? children(parts[1])[0] : undefined;
        if (parts.length === 2 && parts[0]?.text === '-' && lit?.type === 'numeric_lit') return number(`-${lit.text}`, loc(node), at, path);
        break;
      }
      case 'tuple': {
        const items = children(node)
          .filter((c) => c.type === 'expression')
          .map((c, i) => expression(c, loc(c), `${path}[${i}]`, depth + 1));
        return { t: 'seq', items, at };
      }
      case 'object': {
        const m = newMap(at);
        for (const elem of children(node)) {
          if (elem.type !== 'object_elem') continue;
          const [k, , v] = children(elem);
          if (k === undefined || v === undefined) continue;
          const key = objectKey(k, path);
          if (key === undefined) continue;
          const keyAt = loc(k);
          const p = joinKey(path, key);
          const slots_ = slotsOf(m);
          const first = slots_.get(key);
          if (first !== undefined) {
            fatal.push({ ...keyAt, path: p, message: `duplicate key${lineNote(first.entry.at)}` });
            continue;
          }
          const entry: MapEntry = { key, at: keyAt, node: expression(v, keyAt, p, depth + 1) };
          slots_.set(key, { entry, block: false });
          m.entries.push(entry);
        }
        return m;
      }
    }
    problems.push({
      ...loc(node),
      path,
      message: `unsupported HCL expression ${quoteExcerpt(node.text)}: values are strings, numbers, booleans, lists and objects, as in SPIRE's HCL`,
    });
    return { t: 'scalar', value: null, at };
  };

  const objectKey = (k: Node, path: string): string | undefined => {
    let n: Node | undefined = k;
    while (n !== undefined && (n.type === 'expression' || n.type === 'literal_value' || n.type === 'template_expr')) n = children(n)[0];
    if (n?.type === 'variable_expr') return n.text;
    if (n?.type === 'string_lit' || n?.type === 'quoted_template') return quoted(n, path);
    problems.push({ ...loc(k), path, message: `object keys must be names or strings, got ${quoteExcerpt(k.text)}` });
    return undefined;
  };

  const number = (raw: string, here: ConfigLocation, at: ConfigLocation, path: string): RawNode => {
    const v = Number(raw);
    if (!Number.isFinite(v)) {
      problems.push({ ...here, path, message: `not a number: ${quoteExcerpt(raw)}` });
      return { t: 'scalar', value: null, at };
    }
    return { t: 'scalar', value: v, at };
  };

  /** A quoted string's value: escapes decoded, `${…}` interpolations kept as written (as HCL 1 leaves them). */
  const quoted = (node: Node, path: string): string => {
    const t = node.text;
    const raw = t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1) : t;
    const r = unescapeHcl(raw);
    if (typeof r !== 'string') {
      problems.push({ ...loc(node), path, message: `invalid escape ${quoteExcerpt(r.bad)} in string` });
      return raw;
    }
    return r;
  };

  /** `<<EOT` … `EOT`, each line with its newline (as HCL 1); `<<-EOT` also strips the common indentation. */
  const heredoc = (node: Node): string => {
    const start = child(node, 'heredoc_start');
    const t = node.text;
    const nl = t.indexOf('\n');
    const lastNl = t.lastIndexOf('\n');
    if (nl === -1 || lastNl <= nl) return '';
    let lines = t.slice(nl + 1, lastNl).split('\n');
    if (start?.text === '<<-') {
      const indents = lines.filter((l) => l.trim() !== '').map((l) => /^[ \t]*/.exec(l)?.[0].length ?? 0);
      const strip = indents.length === 0 ? 0 : Math.min(...indents);
      lines = lines.map((l) => l.slice(Math.min(strip, /^[ \t]*/.exec(l)?.[0].length ?? 0)));
    }
    return `${lines.join('\n')}\n`;
  };

  const root = newMap({ file });
  try {
    body(children(rootNode).find((c) => c.type === 'body'), root, '', 0);
  } catch (err) {
    if (err instanceof Bail) return syntaxErrors([err.problem], file);
    throw err;
  }
  if (fatal.length > 0) return syntaxErrors(fatal, file);
  return { root: root.entries.length === 0 ? emptyMap({ file }) : root, problems, syntaxError: false };
}

function lineNote(at: ConfigLocation): string {
  return at.line === undefined ? '' : ` (first at line ${at.line})`;
}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', a: '\x07', b: '\b', f: '\f', v: '\v', "'": "'" };

/** Go-style escapes, as hashicorp/hcl v1 decodes them; text inside `${…}` is copied as written. */
export function unescapeHcl(raw: string): string | { bad: string } {
  if (!raw.includes('\\')) return raw;
  let out = '';
  let i = 0;
  let braces = 0;
  while (i < raw.length) {
    const c = raw[i] as string;
    if (braces === 0 && c === '$' && raw[i + 1] === '{') {
      braces = 1;
      out += '${';
      i += 2;
      continue;
    }
    if (braces > 0) {
      if (c === '{') braces++;
      else if (c === '}') braces--;
      out += c;
      i++;
      continue;
    }
    if (c !== '\\') {
      out += c;
      i++;
      continue;
    }
    const e = raw[i + 1];
    if (e !== undefined && Object.hasOwn(SIMPLE_ESCAPES, e)) {
      out += SIMPLE_ESCAPES[e];
      i += 2;
      continue;
    }
    const hex = e === 'u' ? 4 : e === 'U' ? 8 : e === 'x' ? 2 : 0;
    if (hex > 0) {
      const digits = raw.slice(i + 2, i + 2 + hex);
      const cp = /^[0-9A-Fa-f]+$/.test(digits) && digits.length === hex ? Number.parseInt(digits, 16) : NaN;
      if (Number.isNaN(cp) || cp > 0x10ffff) return { bad: raw.slice(i, i + 2 + hex) };
      out += String.fromCodePoint(cp);
      i += 2 + hex;
      continue;
    }
    if (e !== undefined && /[0-7]/.test(e)) {
      const digits = raw.slice(i + 1, i + 4);
      if (!/^[0-7]{3}$/.test(digits)) return { bad: raw.slice(i, i + 4) };
      out += String.fromCharCode(Number.parseInt(digits, 8));
      i += 4;
      continue;
    }
    return { bad: raw.slice(i, i + 2) };
  }
  return out;
}
