// The input tree the validator walks: YAML or HCL nodes (with their line
// numbers) and command-line overrides (with their flag) in one shape, so
// flags and the file go through exactly the same checks.
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { Document, Node as YamlNode } from 'yaml';
import type { ConfigLocation, ConfigProblem } from './config-error.ts';
import { MAX_ALIAS_VALUES, MAX_CONFIG_DEPTH, quoteExcerpt, shortKey } from './limits.ts';

export type Scalar = string | number | boolean | null;

export interface MapEntry {
  readonly key: string;
  /** Location of the key (what problems about this entry point at). */
  readonly at: ConfigLocation;
  node: RawNode;
}

export type RawNode =
  | { readonly t: 'scalar'; readonly value: Scalar; readonly at: ConfigLocation }
  | { readonly t: 'seq'; readonly items: readonly RawNode[]; readonly at: ConfigLocation }
  | { readonly t: 'map'; readonly entries: MapEntry[]; readonly at: ConfigLocation }
  /** A whole value supplied by an override (never from YAML). */
  | { readonly t: 'override'; readonly value: unknown; readonly at: ConfigLocation };

export interface ParsedYaml {
  /** The document root; an empty document is an empty map. */
  readonly root: RawNode;
  readonly problems: readonly ConfigProblem[];
  /** The text is not valid YAML (or HCL), or past a bound: `root` is empty and only those problems are listed. */
  readonly syntaxError: boolean;
}
/** What parsing HCL or YAML gives. */
export type ParsedConfig = ParsedYaml;

/** Parses YAML (or JSON) text into a RawNode tree; syntax problems carry their line. */
export function parseYaml(text: string, file: string): ParsedYaml {
  const lineCounter = new LineCounter();
  // uniqueKeys: false — yaml's own check is quadratic in the keys of a mapping; duplicates are found below.
  // logLevel 'error': yaml would print its warnings (an unknown !tag) to stderr; they are config problems here.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, keepSourceTokens: false, uniqueKeys: false, logLevel: 'error' });
  const lineOf = (offset: number | undefined): number | undefined =>
    offset === undefined ? undefined : lineCounter.linePos(offset).line;
  const invalid = [...doc.errors, ...doc.warnings];
  if (invalid.length > 0) {
    return syntaxErrors(invalid.slice(0, 10).map((e) => ({ file, ...optLine(lineOf(e.pos[0])), path: '', message: `yaml: ${e.message}` })), file);
  }
  const problems: ConfigProblem[] = [];
  const fatal: ConfigProblem[] = [];
  let aliasValues = 0;
  const convert = (node: unknown, at: ConfigLocation, path: string, depth: number, viaAlias: boolean): RawNode => {
    const alias = isAlias(node);
    const n = resolveAlias(node, doc);
    const counted = viaAlias || alias;
    if (counted && ++aliasValues > MAX_ALIAS_VALUES) {
      throw new Bail({ ...at, path, message: `yaml: aliases expand to more than ${MAX_ALIAS_VALUES} values (the limit; a config file needs far fewer)` });
    }
    if (depth > MAX_CONFIG_DEPTH) throw new Bail({ ...at, path, message: `nested more than ${MAX_CONFIG_DEPTH} levels deep (the limit)` });
    if (n === null || n === undefined) return { t: 'scalar', value: null, at };
    if (isScalar(n)) {
      const v = n.value;
      if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') {
        return { t: 'scalar', value: v, at };
      }
      problems.push({ ...at, path, message: `unsupported YAML value of type ${typeof v}` });
      return { t: 'scalar', value: null, at };
    }
    if (isSeq(n)) {
      const items = n.items.map((item, i) => {
        const itemAt: ConfigLocation = { file, ...optLine(lineOf(rangeStart(item) ?? rangeStart(n))) };
        return convert(item, itemAt, `${path}[${i}]`, depth + 1, counted);
      });
      return { t: 'seq', items, at };
    }
    if (isMap(n)) {
      const entries: MapEntry[] = [];
      const seen = new Map<string, ConfigLocation>();
      for (const pair of n.items) {
        if (!isPair(pair)) continue;
        const keyNode = resolveAlias(pair.key, doc);
        const keyAt: ConfigLocation = { file, ...optLine(lineOf(rangeStart(pair.key) ?? rangeStart(n))) };
        const key = isScalar(keyNode) ? keyNode.value : undefined;
        if (typeof key !== 'string' && typeof key !== 'number' && typeof key !== 'boolean') {
          problems.push({ ...keyAt, path, message: 'mapping keys must be strings' });
          continue;
        }
        const k = String(key);
        const first = seen.get(k);
        if (first !== undefined) {
          fatal.push({ ...keyAt, path: joinKey(path, k), message: `yaml: duplicate key${first.line === undefined ? '' : ` (first at line ${first.line})`}` });
          continue;
        }
        seen.set(k, keyAt);
        entries.push({ key: k, at: keyAt, node: convert(pair.value, keyAt, joinKey(path, k), depth + 1, counted) });
      }
      return { t: 'map', entries, at };
    }
    problems.push({ ...at, path, message: 'unsupported YAML node' });
    return { t: 'scalar', value: null, at };
  };
  const rootAt: ConfigLocation = { file };
  let root: RawNode;
  try {
    root = doc.contents === null ? emptyMap(rootAt) : convert(doc.contents, rootAt, '', 0, false);
  } catch (err) {
    if (err instanceof Bail) return syntaxErrors([err.problem], file);
    throw err;
  }
  if (fatal.length > 0) return syntaxErrors(fatal, file);
  return { root, problems, syntaxError: false };
}

/** Thrown inside a conversion to stop at a bound; carries the one problem to report. */
export class Bail extends Error {
  readonly problem: ConfigProblem;
  constructor(problem: ConfigProblem) {
    super(problem.message);
    this.problem = problem;
  }
}

export function syntaxErrors(problems: readonly ConfigProblem[], file: string): ParsedYaml {
  return { root: emptyMap({ file }), problems, syntaxError: true };
}

export function emptyMap(at: ConfigLocation): RawNode {
  return { t: 'map', entries: [], at };
}

/** `a.b` for plain keys, `a["x.y"]` for keys that are not identifiers. */
export function joinKey(parent: string, key: string): string {
  const part = /^[A-Za-z0-9_-]+$/.test(key) ? shortKey(key) : `[${quoteExcerpt(key)}]`;
  if (parent === '') return part;
  return part.startsWith('[') ? `${parent}${part}` : `${parent}.${part}`;
}

/** A plain JS value (from an override) as a RawNode located at `at`. */
export function fromJs(value: unknown, at: ConfigLocation): RawNode {
  if (value === undefined || value === null) return { t: 'scalar', value: null, at };
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return { t: 'scalar', value, at };
  if (Array.isArray(value)) return { t: 'seq', items: value.map((v) => fromJs(v, at)), at };
  if (typeof value === 'object') {
    return { t: 'map', entries: Object.entries(value).map(([key, v]) => ({ key, at, node: fromJs(v, at) })), at };
  }
  throw new TypeError(`config: override value of type ${typeof value} is not supported`);
}

function resolveAlias(node: unknown, doc: Document): unknown {
  if (isAlias(node)) return node.resolve(doc) ?? null;
  return node;
}

function rangeStart(node: unknown): number | undefined {
  const r = (node as YamlNode | null | undefined)?.range;
  return r ? r[0] : undefined;
}

function optLine(line: number | undefined): { line?: number } {
  return line === undefined ? {} : { line };
}
