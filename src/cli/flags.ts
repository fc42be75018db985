// Command-line flags parsed the way Go's `flag` package does (what every
// SPIRE command uses): `-name value`, `-name=value`, `--name value`, booleans
// as `-flag` / `-flag=false`, repeatable flags (`-selector a -selector b`),
// parsing stops at the first positional argument or `--`, and `-h`/`-help`
// asks for the usage text generated from the specs.
import { tryParseDuration } from '../common/config/duration.ts';
import { HeraldError } from '../common/errors.ts';

export type FlagType = 'string' | 'int' | 'bool' | 'duration' | 'strings';

type ValueOf<T extends FlagType> = T extends 'string'
  ? string
  : T extends 'int' | 'duration'
    ? number
    : T extends 'bool'
      ? boolean
      : readonly string[];

export interface FlagSpec<T extends FlagType = FlagType> {
  readonly type: T;
  /** One line (or a few) of help. A `backquoted` word names the value in usage, as in Go. */
  readonly usage: string;
  /** Default when the flag is absent. Durations: Go syntax ("1h") or ms. */
  readonly default?: T extends 'duration' ? string | number : ValueOf<T>;
  /**
   * Shown in usage as Go shows a `flag.Var` flag: value name "value", and no
   * default (true) or the default (`'withDefault'`, a Var whose zero value prints differently).
   */
  readonly goVar?: boolean | 'withDefault';
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

/** Parsed values: bool defaults to false, strings to [], others to their default or undefined. Durations are ms. */
export type FlagValues<S extends FlagSpecs> = {
  readonly [K in keyof S]: S[K] extends FlagSpec<infer T>
    ? S[K] extends { readonly default: unknown }
      ? ValueOf<T>
      : T extends 'bool' | 'strings'
        ? ValueOf<T>
        : ValueOf<T> | undefined
    : never;
};

export type ParsedFlags<S extends FlagSpecs> =
  | {
      readonly help: false;
      readonly values: FlagValues<S>;
      /** Flags given explicitly on the command line (Go's flag.Visit). */
      readonly set: ReadonlySet<keyof S & string>;
      /** Arguments after the flags. */
      readonly positionals: readonly string[];
    }
  | { readonly help: true; readonly usage: string };

export interface FlagParseOptions {
  /** Shown in the usage header: `Usage of <command>:`. */
  readonly command?: string;
}

export class FlagError extends HeraldError {
  /** The offending flag name (without dash), when there is one. */
  readonly flag: string | undefined;
  /** Usage text for the command, to print after the error. */
  readonly usage: string;
  /** The message exactly as Go's flag package prints it (what SPIRE's CLI shows). */
  readonly goMessage: string;

  constructor(message: string, flag: string | undefined, usage: string, goMessage = message) {
    super('ERR_FLAG_INVALID', `flags: ${message}`);
    this.flag = flag;
    this.usage = usage;
    this.goMessage = goMessage;
  }
}

/** Identity helper so `const` flag specs keep their literal types. */
export function defineFlags<const S extends FlagSpecs>(specs: S): S {
  for (const [name, spec] of Object.entries(specs)) {
    if (name === '' || name.startsWith('-') || name.includes('=')) throw new TypeError(`flags: bad flag name ${JSON.stringify(name)}`);
    if (typeof spec.usage !== 'string') throw new TypeError(`flags: flag -${name} needs a usage string`);
  }
  return specs;
}

const TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

export function parseFlags<const S extends FlagSpecs>(specs: S, argv: readonly string[], options: FlagParseOptions = {}): ParsedFlags<S> {
  defineFlags(specs);
  const usage = (): string => flagUsage(specs, options);
  const fail = (message: string, flag?: string, goMessage?: string): never => {
    throw new FlagError(message, flag, usage(), goMessage);
  };
  const values: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(specs)) values[name] = initialValue(name, spec);
  const set = new Set<string>();
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg.length < 2 || arg[0] !== '-') break;
    let minuses = 1;
    if (arg[1] === '-') {
      minuses = 2;
      if (arg.length === 2) {
        i++; // "--" ends the flags and is consumed
        break;
      }
    }
    const body = arg.slice(minuses);
    if (body === '' || body[0] === '-' || body[0] === '=') fail(`bad flag syntax: ${arg}`);
    const eq = body.indexOf('=');
    const name = eq === -1 ? body : body.slice(0, eq);
    const inline = eq === -1 ? undefined : body.slice(eq + 1);
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined;
    if (spec === undefined) {
      if (name === 'h' || name === 'help') return { help: true, usage: usage() };
      const known = Object.keys(specs).sort().map((n) => `-${n}`);
      return fail(
        `flag provided but not defined: -${name}${known.length > 0 ? ` (known flags: ${known.join(', ')})` : ' (this command takes no flags)'}`,
        name,
        `flag provided but not defined: -${name}`,
      );
    }
    let raw: string;
    if (spec.type === 'bool') {
      if (inline !== undefined && !TRUE.has(inline) && !FALSE.has(inline)) {
        fail(`invalid boolean value ${JSON.stringify(inline)} for -${name}: parse error`, name);
      }
      raw = inline ?? 'true';
    } else if (inline !== undefined) {
      raw = inline;
    } else if (i + 1 < argv.length) {
      raw = argv[++i] as string;
    } else {
      return fail(`flag needs an argument: -${name}`, name);
    }
    const parsed = convert(spec.type, raw);
    if (!parsed.ok) return fail(`invalid value ${JSON.stringify(raw)} for flag -${name}: ${parsed.problem}`, name);
    values[name] = spec.type === 'strings' ? [...(set.has(name) ? (values[name] as string[]) : []), parsed.value] : parsed.value;
    set.add(name);
  }
  for (const [name, spec] of Object.entries(specs)) {
    if (spec.type === 'strings') values[name] = Object.freeze([...(values[name] as string[])]);
  }
  return {
    help: false,
    values: Object.freeze(values) as FlagValues<S>,
    set: set as ReadonlySet<keyof S & string>,
    positionals: Object.freeze(argv.slice(i)),
  };
}

function initialValue(name: string, spec: FlagSpec): unknown {
  const d = spec.default;
  if (d === undefined) {
    if (spec.type === 'bool') return false;
    if (spec.type === 'strings') return [];
    return undefined;
  }
  if (spec.type === 'duration' && typeof d === 'string') {
    const r = tryParseDuration(d);
    if (!r.ok) throw new TypeError(`flags: default of -${name}: ${r.problem}`);
    return r.ms;
  }
  return spec.type === 'strings' ? [...(d as readonly string[])] : d;
}

type Converted = { ok: true; value: string | number | boolean } | { ok: false; problem: string };

function convert(type: FlagType, raw: string): Converted {
  switch (type) {
    case 'string':
    case 'strings':
      return { ok: true, value: raw };
    case 'bool':
      return { ok: true, value: TRUE.has(raw) };
    case 'int': {
      const n = /^[+-]?\d+$/.test(raw) ? Number(raw) : NaN;
      if (!Number.isSafeInteger(n)) return { ok: false, problem: /^[+-]?\d+$/.test(raw) ? 'value out of range' : 'parse error' };
      return { ok: true, value: n };
    }
    case 'duration': {
      const r = tryParseDuration(raw);
      return r.ok ? { ok: true, value: r.ms } : { ok: false, problem: r.problem };
    }
  }
}

/** Go's PrintDefaults layout, flags sorted by name. */
export function flagUsage(specs: FlagSpecs, options: FlagParseOptions = {}): string {
  const lines: string[] = [options.command === undefined ? 'Usage:' : `Usage of ${options.command}:`];
  for (const name of Object.keys(specs).sort()) {
    const spec = specs[name] as FlagSpec;
    const { valueName, text } = spec.goVar ? { valueName: 'value', text: spec.usage } : unquoteUsage(spec);
    let line = `  -${name}${valueName === '' ? '' : ` ${valueName}`}`;
    line += line.length <= 4 ? '\t' : '\n    \t';
    line += text.replaceAll('\n', '\n    \t');
    const def = defaultText(spec);
    if (def !== undefined) line += ` (default ${def})`;
    lines.push(line);
  }
  return `${lines.join('\n')}\n`;
}

function unquoteUsage(spec: FlagSpec): { valueName: string; text: string } {
  const m = /`([^`]*)`/.exec(spec.usage);
  if (m) return { valueName: m[1] ?? '', text: spec.usage.replace(m[0], m[1] ?? '') };
  const byType: Record<FlagType, string> = { string: 'string', int: 'int', bool: '', duration: 'duration', strings: 'value' };
  return { valueName: byType[spec.type], text: spec.usage };
}

function defaultText(spec: FlagSpec): string | undefined {
  if (spec.goVar === true) return undefined;
  const d = spec.default;
  // Go's isZeroValue: a zero default (false, "", 0, 0s, empty) is not shown.
  if (d === undefined || d === false || d === '' || d === 0 || (Array.isArray(d) && d.length === 0)) return undefined;
  if (spec.type === 'string') return JSON.stringify(d);
  if (spec.type === 'strings') return `[${(d as readonly string[]).join(' ')}]`;
  if (spec.type === 'duration') return goDurationString(typeof d === 'number' ? d : (tryParseDuration(String(d)) as { ms: number }).ms);
  return String(d);
}

/** Go's time.Duration.String() (what PrintDefaults shows): 720h0m0s, 1m30s, 5s, 1.5s, 250ms. */
export function goDurationString(ms: number): string {
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  const abs = Math.abs(ms);
  if (abs < 1000) return `${sign}${trim(abs.toFixed(6))}ms`;
  const h = Math.floor(abs / 3_600_000);
  const m = Math.floor((abs % 3_600_000) / 60_000);
  const sec = trim(((abs % 60_000) / 1000).toFixed(9));
  return `${sign}${h > 0 ? `${h}h${m}m` : m > 0 ? `${m}m` : ''}${sec}s`;
}

function trim(n: string): string {
  return n.includes('.') ? n.replace(/0+$/, '').replace(/\.$/, '') : n;
}
