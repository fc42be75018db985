// The plugin catalog core, shared by herald-server and herald-agent (SPIRE's
// pkg/common/catalog): a plugin is one definition — its type, its name, its
// plugin_data schema and how to build it — and a daemon lists its built-in
// definitions per plugin type. From that list come the config schema's
// `plugins` section (so validation, `--help` and docs/config know every
// plugin), the runtime config's declared plugins, and the instances:
//
//   export const plugin = definePlugin({
//     type: 'NodeAttestor',
//     name: 'x509pop',
//     configSchema: s.section({ ca_bundle_path: s.path({ … }) }, { description: '…' }),
//     configure: (data, ctx) => ({ caBundlePaths: [ctx.abs(data.ca_bundle_path)] }),
//     create: async (config, deps: ServerPluginDeps) => (await import('./x509pop.ts')).X509PopAttestor.load(…),
//   });
//
// Definitions are loaded with the config (every CLI command loads it), so
// they import their implementation lazily, in create().
import { HeraldError, errorMessage } from '../errors.ts';
import { disabledPlugins } from '../config/plugins.ts';
import { s } from '../config/schema.ts';
import type { Fields, PluginsSpec, PluginTypeSpec, SectionSpec } from '../config/schema.ts';

/** One plugin type of a daemon (SPIRE's catalog.PluginType), with SPIRE's constraints. */
export interface PluginTypeInfo {
  /** SPIRE's name, as in the config file: `NodeAttestor`. */
  readonly type: string;
  /** One line for the config docs. */
  readonly description: string;
  /** Fewest and most plugins of this type a config may enable. */
  readonly min: number;
  readonly max: number;
  /**
   * SPIRE plugins Herald knows but does not implement yet: schema only (their
   * keys and an error giving the reason), listed after the built-ins.
   */
  readonly notYet?: Readonly<Record<string, SectionSpec<Fields, unknown>>>;
  /**
   * Built-ins loaded without being declared, before the declared ones,
   * unless the config declares them with `enabled: false` (Herald's
   * `uniqueid` composer). Their plugin_data must have no required key.
   */
  readonly defaults?: readonly string[];
}

/** What configure() may use: the same path rules as the rest of the config file. */
export interface ConfigureContext {
  /** A path from the config file made absolute (against the working directory). */
  abs(path: string): string;
  /** The daemon's data_dir, absolute (defaults such as keys.json live there). */
  readonly dataDir: string;
}

/** A file an earlier run of a plugin left behind: its presence means the daemon has run on this data_dir. */
export interface PluginStateFile {
  readonly path: string;
  /** E.g. `key file`, as in "the key file /x/keys.json exists". */
  readonly what: string;
}

/**
 * One plugin. `Data` is plugin_data as validated by `configSchema`;
 * `Config` what configure() makes of it for the runtime config (paths
 * absolute, defaults filled; plugin_data itself without configure);
 * `Deps` what the composition root hands every plugin of its type;
 * `Instance` what the daemon's components use.
 */
export interface PluginDefinition<Data = any, Config = any, Deps = any, Instance = any> {
  readonly type: string;
  readonly name: string;
  /** plugin_data: validation, defaults, `--help` and docs/config. */
  readonly configSchema: SectionSpec<Fields, Data>;
  /** plugin_data → runtime config. Pure: no I/O (config loading stays a pure conversion). */
  configure?(data: Data, ctx: ConfigureContext): Config;
  /** Files an earlier run left behind (see PluginStateFile). */
  stateFiles?(config: Config): readonly PluginStateFile[];
  /** Builds the plugin; its errors are start-up errors. An instance with close() is closed when the catalog is. */
  create(config: Config, deps: Deps): Instance | Promise<Instance>;
}

/** Checks a definition's shape and keeps its types (plugin_data, config, deps, instance) inferred. */
export function definePlugin<Data, Config = Data, Deps = unknown, Instance = unknown>(
  def: PluginDefinition<Data, Config, Deps, Instance>,
): PluginDefinition<Data, Config, Deps, Instance> {
  if (typeof def.type !== 'string' || def.type === '' || typeof def.name !== 'string' || def.name === '') {
    throw new TypeError('definePlugin: type and name are required');
  }
  if (def.configSchema?.kind !== 'section') throw new TypeError(`definePlugin: ${def.type} "${def.name}": configSchema must be an s.section`);
  if (typeof def.create !== 'function') throw new TypeError(`definePlugin: ${def.type} "${def.name}": create is required`);
  return Object.freeze({ ...def });
}

/** The built-in plugins of each type. */
export type BuiltIns = Readonly<Record<string, readonly PluginDefinition[]>>;

/** A daemon's catalog: its plugin types, in creation order, and their built-ins. */
export interface Catalog<B extends BuiltIns = BuiltIns> {
  readonly types: readonly PluginTypeInfo[];
  readonly builtIns: B;
}

/** A plugin the config declares (and enables): type, name and the config configure() made. */
export interface DeclaredPlugin {
  readonly type: string;
  readonly name: string;
  readonly config: unknown;
}

export type InstanceOf<L> = L extends readonly PluginDefinition<any, any, any, infer I>[] ? I : never;
export type DepsOf<L> = L extends readonly PluginDefinition<any, any, infer D, any>[] ? D : never;

/** A created plugin. */
export interface LoadedPlugin<I> {
  readonly type: string;
  readonly name: string;
  readonly instance: I;
}

/** Checks the catalog is consistent (every type listed once, with its built-ins; names unique). */
export function defineCatalog<const B extends BuiltIns>(types: readonly PluginTypeInfo[], builtIns: B): Catalog<B> {
  const typeNames = types.map((t) => t.type);
  for (const t of types) {
    if (typeNames.indexOf(t.type) !== typeNames.lastIndexOf(t.type)) throw new TypeError(`catalog: plugin type ${t.type} listed twice`);
    if (!Object.hasOwn(builtIns, t.type)) throw new TypeError(`catalog: no built-ins list for plugin type ${t.type}`);
    if (t.min > t.max) throw new TypeError(`catalog: ${t.type}: min > max`);
    const names = new Set<string>();
    for (const def of builtIns[t.type]!) {
      if (def.type !== t.type) throw new TypeError(`catalog: ${def.type} "${def.name}" is listed under ${t.type}`);
      if (names.has(def.name)) throw new TypeError(`catalog: ${t.type} "${def.name}" listed twice`);
      names.add(def.name);
    }
    for (const name of t.defaults ?? []) {
      const def = builtIns[t.type]!.find((d) => d.name === name);
      if (def === undefined) throw new TypeError(`catalog: ${t.type} default "${name}" is not a built-in`);
      if (Object.values(def.configSchema.fields).some((f) => (f as { required?: boolean }).required === true)) {
        throw new TypeError(`catalog: ${t.type} default "${name}" has required plugin_data`);
      }
    }
    for (const name of Object.keys(t.notYet ?? {})) {
      if (names.has(name)) throw new TypeError(`catalog: ${t.type} "${name}" is both built in and not yet implemented`);
    }
  }
  for (const k of Object.keys(builtIns)) {
    if (!typeNames.includes(k)) throw new TypeError(`catalog: built-ins for unknown plugin type ${k}`);
  }
  return Object.freeze({ types: Object.freeze([...types]), builtIns });
}

type AnyPluginTypes = Readonly<Record<string, PluginTypeSpec<Readonly<Record<string, SectionSpec<Fields, unknown>>>>>>;

/** The config schema's `plugins` section: per type, each built-in's plugin_data schema, then the not-yet ones. */
export function pluginsSchema(catalog: Catalog, opts: { readonly description?: string } = {}): PluginsSpec<AnyPluginTypes> {
  const types: Record<string, PluginTypeSpec<Readonly<Record<string, SectionSpec<Fields, unknown>>>>> = {};
  for (const t of catalog.types) {
    const plugins: Record<string, SectionSpec<Fields, unknown>> = {};
    for (const def of catalog.builtIns[t.type]!) plugins[def.name] = def.configSchema;
    Object.assign(plugins, t.notYet ?? {});
    types[t.type] = s.pluginType({ description: t.description, min: t.min, max: t.max, plugins });
  }
  return s.plugins(types, opts);
}

function definitionOf(catalog: Catalog, type: string, name: string): PluginDefinition | undefined {
  return catalog.builtIns[type]?.find((d) => d.name === name);
}

/**
 * The validated `plugins` section → the declared plugins, in the catalog's
 * type order and, within a type, in the order the file declares them.
 */
export function declaredPlugins(
  catalog: Catalog,
  section: Readonly<Record<string, Readonly<Record<string, unknown>> | undefined>>,
  ctx: ConfigureContext,
): DeclaredPlugin[] {
  const out: DeclaredPlugin[] = [];
  for (const t of catalog.types) {
    const walked = section[t.type];
    const off = disabledPlugins(walked);
    for (const name of t.defaults ?? []) {
      if (walked?.[name] !== undefined || off.includes(name)) continue;
      const def = definitionOf(catalog, t.type, name)!;
      out.push({ type: t.type, name, config: def.configure ? def.configure({}, ctx) : {} });
    }
    for (const [name, data] of Object.entries(walked ?? {})) {
      if (data === undefined) continue;
      const def = definitionOf(catalog, t.type, name);
      // The schema admits built-ins only (not-yet plugins always fail validation).
      if (def === undefined) throw new TypeError(`declaredPlugins: ${t.type} "${name}" is not a built-in`);
      out.push({ type: t.type, name, config: def.configure ? def.configure(data, ctx) : data });
    }
  }
  return out;
}

/** The state files of every declared plugin (PluginDefinition.stateFiles). */
export function pluginStateFiles(catalog: Catalog, declared: readonly DeclaredPlugin[]): PluginStateFile[] {
  return declared.flatMap((p) => definitionOf(catalog, p.type, p.name)?.stateFiles?.(p.config) ?? []);
}

function supported(catalog: Catalog, type: string): string {
  const names = (catalog.builtIns[type] ?? []).map((d) => d.name);
  return names.length === 0 ? 'none' : names.join(', ');
}

/**
 * Plugins created so far, closed together in reverse order of creation.
 * create() builds one type's declared plugins; on a failure the caller
 * closes what was created (loadCatalog does).
 */
export class PluginSet {
  readonly #catalog: Catalog;
  readonly #created: LoadedPlugin<unknown>[] = [];

  constructor(catalog: Catalog) {
    this.#catalog = catalog;
  }

  /**
   * Creates the declared plugins of `type`, in declaration order, checking
   * the type's min/max. A create() failure that is not already a HeraldError
   * (whose message is for the operator) is reported naming the plugin.
   */
  async create<B extends BuiltIns, K extends keyof B & string>(type: K, declared: readonly DeclaredPlugin[], deps: DepsOf<B[K]>): Promise<LoadedPlugin<InstanceOf<B[K]>>[]> {
    const info = this.#catalog.types.find((t) => t.type === type);
    if (info === undefined) throw new TypeError(`catalog: unknown plugin type ${type}`);
    const mine = declared.filter((p) => p.type === type);
    const found = mine.length === 0 ? 'found none' : `found ${mine.length} (${mine.map((p) => p.name).join(', ')})`;
    // The config walker's wording (src/common/config/plugins.ts): a runtime config built by hand gets the same message.
    if (mine.length < info.min) {
      const need = info.min === 1 && info.max === 1 ? 'exactly one plugin' : `at least ${info.min} plugin${info.min === 1 ? '' : 's'}`;
      throw new HeraldError('ERR_CONFIG_PLUGINS', `${type}: ${need} must be configured, ${found}`);
    }
    if (mine.length > info.max) {
      const need = info.max === 1 ? (info.min === 1 ? 'exactly one plugin' : 'at most one plugin') : `at most ${info.max} plugins`;
      throw new HeraldError('ERR_CONFIG_PLUGINS', `${type}: ${need} may be configured, ${found}`);
    }
    const out: LoadedPlugin<InstanceOf<B[K]>>[] = [];
    for (const p of mine) {
      const def = definitionOf(this.#catalog, type, p.name);
      if (def === undefined) throw new HeraldError('ERR_CONFIG_PLUGINS', `${type} "${p.name}": plugin not supported by Herald (supported: ${supported(this.#catalog, type)})`);
      let instance: InstanceOf<B[K]>;
      try {
        instance = (await def.create(p.config, deps)) as InstanceOf<B[K]>;
      } catch (err) {
        if (err instanceof HeraldError) throw err;
        throw new HeraldError('ERR_CONFIG_PLUGIN_LOAD', `${type} "${p.name}": failed to load: ${errorMessage(err)}`, { cause: err });
      }
      const loaded = Object.freeze({ type, name: p.name, instance });
      this.#created.push(loaded);
      out.push(loaded);
    }
    return out;
  }

  /** Every plugin created, in creation order. */
  get all(): readonly LoadedPlugin<unknown>[] {
    return this.#created;
  }

  /** Closes every created instance that has close(), last created first; the first failure is thrown after all were tried. */
  async close(): Promise<void> {
    let first: unknown;
    for (const p of [...this.#created].reverse()) {
      const close = (p.instance as { close?: unknown } | null | undefined)?.close;
      if (typeof close !== 'function') continue;
      try {
        await close.call(p.instance);
      } catch (err) {
        first ??= err;
      }
    }
    this.#created.length = 0;
    if (first !== undefined) throw first;
  }
}

/** Every type's created plugins, by type; close() closes them all. */
export type LoadedCatalog<B extends BuiltIns> = { readonly [K in keyof B]: readonly LoadedPlugin<InstanceOf<B[K]>>[] } & {
  close(): Promise<void>;
};

/**
 * Creates every declared plugin, type by type in the catalog's order, each
 * with the same deps. On a failure, what was created is closed and the error
 * thrown. (A daemon whose later types need an earlier one's instance, as the
 * server's need its DataStore, uses PluginSet directly.)
 */
export async function loadCatalog<B extends BuiltIns>(catalog: Catalog<B>, declared: readonly DeclaredPlugin[], deps: DepsOf<B[keyof B]>): Promise<LoadedCatalog<B>> {
  const set = new PluginSet(catalog);
  const byType: Record<string, readonly LoadedPlugin<unknown>[]> = {};
  try {
    for (const t of catalog.types) byType[t.type] = await set.create<B, keyof B & string>(t.type as keyof B & string, declared, deps as never);
  } catch (err) {
    await set.close().catch(() => undefined);
    throw err;
  }
  return Object.freeze({ ...byType, close: () => set.close() }) as unknown as LoadedCatalog<B>;
}
