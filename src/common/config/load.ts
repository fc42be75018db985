// The config pipeline shared by herald-server and herald-agent, after SPIRE's
// run.go: read → (expand env) → parse HCL, YAML or JSON → merge flag overrides (flags win
// over the file, the file over defaults) → validate against the schema →
// deep-frozen plain object. Every problem is collected; one ConfigError lists
// them all as `file:line key.path: problem`.
import { errorMessage } from '../errors.ts';
import { ConfigError } from './config-error.ts';
import type { ConfigLocation, ConfigProblem } from './config-error.ts';
import { expandEnv } from './expand-env.ts';
import { readConfigFileText } from './read-text.ts';
import type { Env } from './expand-env.ts';
import { detectFormat, parseHcl } from './hcl.ts';
import type { ConfigFormat } from './hcl.ts';
import { textProblem } from './limits.ts';
import { emptyMap, parseYaml } from './raw-node.ts';
import type { ParsedConfig } from './raw-node.ts';
import type { MapEntry, RawNode } from './raw-node.ts';
import type { Infer, SectionSpec, Spec } from './schema.ts';
import { Walker } from './validate.ts';
import { INVALID } from './walk-util.ts';

/** A value that replaces (or supplies) one key, typically from a command-line flag. */
export interface ConfigOverride {
  /** Dotted key path (`agent.server_port`) or its segments. */
  readonly path: string | readonly string[];
  /** Input-shaped value: as YAML would give it; a duration may also be a number of ms. */
  readonly value: unknown;
  /** The flag (without its dash) that supplied the value; used in messages. */
  readonly flag?: string;
}

export interface ParseConfigOptions {
  /** Name used in messages (`file:line …`). Default `<config>`. */
  readonly filename?: string;
  /** SPIRE's -expandEnv: expand `$VAR`/`${VAR}` in the raw text. Requires `env`. */
  readonly expandEnv?: boolean;
  /** The environment for expandEnv (pass `process.env` from the CLI). */
  readonly env?: Env;
  /** Applied over the file's values before validation. */
  readonly overrides?: readonly ConfigOverride[];
  /** The text's syntax; default: by the filename's extension (.conf/.hcl: HCL; .yaml/.yml/.json: YAML), else by its content. */
  readonly format?: ConfigFormat;
}

/** Validates config text (HCL, YAML or JSON) against `schema`; throws ConfigError listing every problem. */
export function parseConfig<S extends SectionSpec<any, any>>(schema: S, text: string, options: ParseConfigOptions = {}): Infer<S> {
  if (typeof text !== 'string') throw new TypeError('parseConfig: text must be a string');
  const file = options.filename ?? '<config>';
  const bad = textProblem(text, file);
  if (bad !== undefined) throw new ConfigError([bad]);
  let source = text;
  if (options.expandEnv === true) {
    if (options.env === undefined) throw new TypeError('parseConfig: expandEnv needs options.env');
    source = expandEnv(source, options.env);
    const expanded = textProblem(source, file);
    if (expanded !== undefined) throw new ConfigError([{ ...expanded, message: `after -expandEnv: ${expanded.message}` }]);
  }
  // Detected on the text as written, not on what -expandEnv made of it.
  const format = options.format ?? detectFormat(options.filename, text);
  const parsed = format === 'hcl' ? parseHcl(source, file) : parseYaml(source, file);
  const hint = options.format === undefined ? formatHint(format, parsed, options.filename, source) : undefined;
  if (hint !== undefined) throw new ConfigError([...parsed.problems.slice(0, 1), { file, path: '', message: hint }]);
  if (parsed.syntaxError) throw new ConfigError(parsed.problems);
  return validateRoot(schema, parsed.root, parsed.problems, file, options.overrides ?? []);
}

/** When a file's name made it HCL (or YAML) and it is plainly the other, say so beside the first problem. */
function formatHint(format: ConfigFormat, parsed: ParsedConfig, filename: string | undefined, source: string): string | undefined {
  const ext = /\.([A-Za-z]+)$/.exec(filename ?? '')?.[1];
  if (ext === undefined) return undefined;
  if (format === 'hcl' && parsed.syntaxError) {
    const asYaml = parseYaml(source, filename ?? '');
    if (!asYaml.syntaxError && asYaml.root.t === 'map' && asYaml.root.entries.length > 0) {
      return `the file is read as HCL for its .${ext} name, and it is YAML: name it .yaml`;
    }
  }
  if (format === 'yaml' && !parsed.syntaxError && parsed.root.t === 'scalar' && typeof parsed.root.value === 'string' && detectFormat(undefined, source) === 'hcl') {
    return `the file is read as YAML for its .${ext} name, and it is HCL: name it .conf or .hcl`;
  }
  return undefined;
}

/** Reads and validates a config file; `filename` in messages defaults to `path`. */
export async function loadConfigFile<S extends SectionSpec<any, any>>(
  schema: S,
  path: string,
  options: ParseConfigOptions = {},
): Promise<Infer<S>> {
  let text: string;
  try {
    text = await readConfigFileText(path, options.filename ?? path);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError([{ file: options.filename ?? path, path: '', message: `cannot read config file: ${errorMessage(err)}` }], {
      cause: err,
    });
  }
  return parseConfig(schema, text, { ...options, filename: options.filename ?? path });
}

/** Validates defaults plus overrides alone, for running without a config file. */
export function configFromOverrides<S extends SectionSpec<any, any>>(
  schema: S,
  overrides: readonly ConfigOverride[],
  filename = '<defaults>',
): Infer<S> {
  return validateRoot(schema, emptyMap({ file: filename }), [], filename, overrides);
}

function validateRoot<S extends SectionSpec<any, any>>(
  schema: S,
  root: RawNode,
  earlier: readonly ConfigProblem[],
  file: string,
  overrides: readonly ConfigOverride[],
): Infer<S> {
  for (const o of overrides) {
    if (o.value === undefined) continue;
    const segs = typeof o.path === 'string' ? o.path.split('.') : [...o.path];
    checkOverridePath(schema, segs);
    const at: ConfigLocation = o.flag === undefined ? { file: `override ${segs.join('.')}` } : { flag: o.flag };
    applyOverride(root, segs, o.value, at);
  }
  const w = new Walker();
  const value = w.walk(schema, root, '', { file });
  const problems = sortProblems([...earlier, ...w.problems]);
  if (problems.length > 0) throw new ConfigError(problems);
  if (value === INVALID) throw new TypeError('config: validation failed without reporting a problem');
  return deepFreeze(value) as Infer<S>;
}

/** File problems by line (stable), then file-wide ones, then flags. */
function sortProblems(problems: readonly ConfigProblem[]): ConfigProblem[] {
  const rank = (p: ConfigProblem): number =>
    p.flag !== undefined ? Number.MAX_SAFE_INTEGER : (p.line ?? Number.MAX_SAFE_INTEGER - 1);
  return problems.map((p, i) => ({ p, i })).sort((a, b) => rank(a.p) - rank(b.p) || a.i - b.i).map((x) => x.p);
}

function checkOverridePath(schema: Spec, segs: readonly string[]): void {
  let spec: Spec = schema;
  for (const seg of segs) {
    if (spec.kind === 'section' && Object.hasOwn(spec.fields, seg)) spec = (spec.fields as Readonly<Record<string, Spec>>)[seg] as Spec;
    else if (spec.kind === 'map') spec = spec.values;
    else throw new TypeError(`config: override path ${JSON.stringify(segs.join('.'))} is not in the schema`);
  }
}

function applyOverride(root: RawNode, segs: readonly string[], value: unknown, at: ConfigLocation): void {
  let cur = root;
  for (const [i, key] of segs.entries()) {
    if (cur.t !== 'map') return; // the file's own problem at this spot is reported by the walk
    const entries: MapEntry[] = cur.entries;
    const idx = entries.findIndex((e) => e.key === key);
    if (i === segs.length - 1) {
      const entry: MapEntry = { key, at, node: { t: 'override', value, at } };
      if (idx === -1) entries.push(entry);
      else entries[idx] = entry;
      return;
    }
    let entry = entries[idx];
    if (entry === undefined) {
      entry = { key, at, node: emptyMap(at) };
      entries.push(entry);
    } else if (entry.node.t === 'scalar' && entry.node.value === null) {
      entry.node = emptyMap(entry.at);
    }
    cur = entry.node;
  }
}

function deepFreeze(v: unknown): unknown {
  if (typeof v === 'object' && v !== null) {
    Object.freeze(v);
    for (const child of Object.values(v)) deepFreeze(child);
  }
  return v;
}
