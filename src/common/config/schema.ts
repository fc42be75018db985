// A tiny declarative schema for config files. One schema per binary lists
// every key with its type, default and one-line description; the same object
// drives validation (validate.ts), `--help` and the docs (describe.ts).
//
//   const schema = s.section({
//     server: s.section({
//       trust_domain: s.string({ description: 'The trust domain', required: true }),
//       ca_ttl: s.duration({ description: 'CA certificate lifetime', default: '24h' }),
//     }),
//   });
//   type ServerFile = Infer<typeof schema>;   // { server: { trust_domain: string; ca_ttl: number } }
import { tryParseDuration } from './duration.ts';

/** Type-level marker carrying a spec's output type; never present at runtime. */
declare const OUT: unique symbol;

/** A problem found by a validator: a message, or messages keyed by a sub-path. */
export interface ValidationIssue {
  /** Path relative to the validated value, e.g. `trust_bundle_url` or `federates_with.a.b`. */
  readonly key?: string;
  readonly message: string;
}
export type ValidationResult = string | readonly ValidationIssue[] | undefined;

interface SpecBase<O> {
  readonly description: string;
  /** Phantom: the loaded value's type. */
  readonly [OUT]?: { readonly o: O };
}

/** The loaded value type of a spec. */
export type Infer<S> = S extends SpecBase<infer O> ? O : never;

export type LeafKind = 'string' | 'path' | 'int' | 'bool' | 'duration' | 'enum' | 'stringList';

export interface LeafSpec<K extends LeafKind, T, O> extends SpecBase<O> {
  readonly kind: K;
  /** Normalised default (durations in ms). */
  readonly default: T | undefined;
  /** The default as written in the schema, for help and docs. */
  readonly defaultText: string | undefined;
  readonly required: boolean;
  validate?(value: T): ValidationResult;
  /** int: inclusive bounds; duration: minimum ms (default 0). */
  readonly min: number | undefined;
  readonly max: number | undefined;
  /** enum only. */
  readonly values: readonly string[] | undefined;
  readonly caseInsensitive: boolean;
}

export interface SectionSpec<F extends Fields, O = InferFields<F>> extends SpecBase<O> {
  readonly kind: 'section';
  readonly fields: F;
  readonly optional: boolean;
  validate?(value: NonNullable<O>): ValidationResult;
}

export interface MapSpec<V extends Spec, O = Readonly<Record<string, Infer<V>>>> extends SpecBase<O> {
  readonly kind: 'map';
  readonly values: V;
  validateKey?(key: string): string | undefined;
  validate?(value: O): ValidationResult;
}

export interface PluginTypeSpec<P extends Plugins> {
  readonly description: string;
  /** Minimum/maximum enabled plugins of this type (defaults 0 / Infinity). */
  readonly min: number;
  readonly max: number;
  readonly plugins: P;
}
type Plugins = Readonly<Record<string, SectionSpec<Fields, unknown>>>;
type PluginTypes = Readonly<Record<string, PluginTypeSpec<Plugins>>>;

/** Output: per plugin type, the enabled plugins by name → their typed plugin_data. */
export type InferPlugins<T extends PluginTypes> = {
  readonly [K in keyof T]: { readonly [N in keyof T[K]['plugins']]?: Infer<T[K]['plugins'][N]> };
};

export interface PluginsSpec<T extends PluginTypes> extends SpecBase<InferPlugins<T>> {
  readonly kind: 'plugins';
  readonly types: T;
}

/** A key SPIRE has and Herald rejects with a reason. */
export interface UnsupportedSpec extends SpecBase<undefined> {
  readonly kind: 'unsupported';
  readonly reason: string;
}

export type Spec =
  | LeafSpec<LeafKind, any, unknown>
  | SectionSpec<Fields, any>
  | MapSpec<Spec, any>
  | PluginsSpec<PluginTypes>
  | UnsupportedSpec;
export type Fields = Readonly<Record<string, Spec>>;

type InferFields<F> = { readonly [K in keyof F as F[K] extends UnsupportedSpec ? never : K]: Infer<F[K]> };

// ---- constructors ---------------------------------------------------------

interface LeafOptions<T, D = T> {
  readonly description: string;
  readonly default?: D;
  readonly required?: boolean;
  readonly validate?: (value: T) => ValidationResult;
}
/** Output is `T` when a default is given or the key is required, else `T | undefined`. */
type Out<T, O> = O extends { readonly default: unknown } ? T : O extends { readonly required: true } ? T : T | undefined;

function leaf<K extends LeafKind, T, O>(
  kind: K,
  opts: LeafOptions<T, unknown>,
  extra: { default?: T; defaultText?: string; min?: number; max?: number; values?: readonly string[]; caseInsensitive?: boolean } = {},
): LeafSpec<K, T, O> {
  if (typeof opts.description !== 'string' || opts.description === '') {
    throw new TypeError(`config schema: ${kind} key needs a description`);
  }
  const def = 'default' in extra ? extra.default : (opts.default as T | undefined);
  const spec: LeafSpec<K, T, O> = {
    kind,
    description: opts.description,
    default: def,
    defaultText: extra.defaultText ?? (def === undefined ? undefined : JSON.stringify(def)),
    required: opts.required === true,
    min: extra.min,
    max: extra.max,
    values: extra.values,
    caseInsensitive: extra.caseInsensitive === true,
    ...(opts.validate ? { validate: opts.validate } : {}),
  };
  return Object.freeze(spec);
}

function string<const O extends LeafOptions<string>>(opts: O): LeafSpec<'string', string, Out<string, O>> {
  return leaf('string', opts);
}

/** A filesystem path (non-empty string); binaries make it absolute. */
function path<const O extends LeafOptions<string>>(opts: O): LeafSpec<'path', string, Out<string, O>> {
  return leaf('path', opts);
}

function int<const O extends LeafOptions<number> & { readonly min?: number; readonly max?: number }>(
  opts: O,
): LeafSpec<'int', number, Out<number, O>> {
  if (opts.default !== undefined && !Number.isSafeInteger(opts.default)) {
    throw new TypeError('config schema: int default must be a safe integer');
  }
  return leaf('int', opts, { ...(opts.min !== undefined ? { min: opts.min } : {}), ...(opts.max !== undefined ? { max: opts.max } : {}) });
}

function bool<const O extends LeafOptions<boolean>>(opts: O): LeafSpec<'bool', boolean, Out<boolean, O>> {
  return leaf('bool', opts);
}

/** Go duration ("1h30m"); loads as milliseconds. Default as text or ms. */
function duration<const O extends LeafOptions<number, string | number> & { readonly min?: string | number }>(
  opts: O,
): LeafSpec<'duration', number, Out<number, O>> {
  const toMs = (v: string | number, what: string): number => {
    if (typeof v === 'number') return v;
    const r = tryParseDuration(v);
    if (!r.ok) throw new TypeError(`config schema: duration ${what}: ${r.problem}`);
    return r.ms;
  };
  const extra: { default?: number; defaultText?: string; min: number } = { min: opts.min === undefined ? 0 : toMs(opts.min, 'min') };
  if (opts.default !== undefined) {
    extra.default = toMs(opts.default, 'default');
    extra.defaultText = typeof opts.default === 'string' ? opts.default : `${opts.default}ms`;
  }
  return leaf('duration', opts, extra);
}

/** One of a fixed set of strings; `caseInsensitive` maps input onto the listed spelling. */
function enumOf<const V extends string, const O extends LeafOptions<V> & { readonly caseInsensitive?: boolean }>(
  values: readonly V[],
  opts: O,
): LeafSpec<'enum', V, Out<V, O>> {
  if (values.length === 0) throw new TypeError('config schema: enum needs at least one value');
  if (opts.default !== undefined && !values.includes(opts.default)) {
    throw new TypeError(`config schema: enum default ${JSON.stringify(opts.default)} is not a listed value`);
  }
  return leaf('enum', opts, { values: Object.freeze([...values]), caseInsensitive: opts.caseInsensitive === true });
}

/** A list of strings; absent → the default or []. */
function stringList<const O extends LeafOptions<readonly string[]>>(opts: O): LeafSpec<'stringList', readonly string[], readonly string[]> {
  return leaf('stringList', opts, { default: Object.freeze([...(opts.default ?? [])]) });
}

interface SectionOptions<F extends Fields> {
  readonly description?: string;
  /**
   * Absent → `undefined` instead of an object of defaults (its required keys
   * are then only required when the section is present). `key:` with an
   * empty value counts as present.
   */
  readonly optional?: boolean;
  readonly validate?: (value: InferFields<F>) => ValidationResult;
}

/** A fixed set of keys. An absent section loads as its defaults, or as undefined when `optional`. */
function section<const F extends Fields>(fields: F, opts: SectionOptions<F> & { readonly optional: true }): SectionSpec<F, InferFields<F> | undefined>;
function section<const F extends Fields>(fields: F, opts?: SectionOptions<F>): SectionSpec<F>;
function section<const F extends Fields>(fields: F, opts: SectionOptions<F> = {}): SectionSpec<F, unknown> {
  for (const [k, v] of Object.entries(fields)) {
    if (typeof v !== 'object' || v === null || typeof (v as { kind?: unknown }).kind !== 'string') {
      throw new TypeError(`config schema: field ${JSON.stringify(k)} is not a spec`);
    }
  }
  return Object.freeze({
    kind: 'section',
    description: opts.description ?? '',
    fields: Object.freeze({ ...fields }),
    optional: opts.optional === true,
    ...(opts.validate ? { validate: opts.validate } : {}),
  }) as SectionSpec<F, unknown>;
}

/** Arbitrary keys (e.g. federates_with's trust domains), each value of one spec. */
function map<const V extends Spec>(
  values: V,
  opts: {
    readonly description: string;
    readonly validateKey?: (key: string) => string | undefined;
    readonly validate?: (value: Readonly<Record<string, Infer<V>>>) => ValidationResult;
  },
): MapSpec<V> {
  return Object.freeze({
    kind: 'map',
    description: opts.description,
    values,
    ...(opts.validateKey ? { validateKey: opts.validateKey } : {}),
    ...(opts.validate ? { validate: opts.validate } : {}),
  }) as MapSpec<V>;
}

/**
 * One SPIRE plugin type: the built-in plugin names Herald supports and each
 * plugin_data schema. A type may have none yet (every name is then refused,
 * "supported: none"), but not none while requiring one.
 */
function pluginType<const P extends Plugins>(opts: {
  readonly description: string;
  readonly min?: number;
  readonly max?: number;
  readonly plugins: P;
}): PluginTypeSpec<P> {
  if (Object.keys(opts.plugins).length === 0 && (opts.min ?? 0) > 0) throw new TypeError('config schema: a plugin type that requires a plugin needs at least one');
  return Object.freeze({
    description: opts.description,
    min: opts.min ?? 0,
    max: opts.max ?? Number.POSITIVE_INFINITY,
    plugins: Object.freeze({ ...opts.plugins }),
  });
}

/** SPIRE's `plugins { Type "name" { plugin_data { … } } }` section. */
function plugins<const T extends PluginTypes>(types: T, opts: { readonly description?: string } = {}): PluginsSpec<T> {
  return Object.freeze({
    kind: 'plugins',
    description: opts.description ?? 'Plugins, by SPIRE plugin type and name',
    types: Object.freeze({ ...types }),
  }) as PluginsSpec<T>;
}

/** A SPIRE key Herald knows but does not support: any value is an error stating `reason`. */
function unsupported(reason: string): UnsupportedSpec {
  return Object.freeze({ kind: 'unsupported', description: `Not supported by Herald: ${reason}`, reason });
}

/** The schema DSL. */
export const s = Object.freeze({
  string,
  path,
  int,
  bool,
  duration,
  enum: enumOf,
  stringList,
  section,
  map,
  plugins,
  pluginType,
  unsupported,
});
