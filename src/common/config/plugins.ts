// SPIRE's plugins section:
//   plugins: { KeyManager: { disk: { plugin_data: { … }, enabled: true } }, … }
// and HCL-JSON's list form `KeyManager: [ { disk: { … } } ]`. Only built-in
// plugins exist in Herald: plugin_cmd and friends are rejected, an unknown
// plugin name is an error naming it, `enabled: false` drops a declaration.
import type { ConfigLocation } from './config-error.ts';
import { joinKey } from './raw-node.ts';
import type { MapEntry, RawNode } from './raw-node.ts';
import type { PluginsSpec, PluginTypeSpec, SectionSpec, Fields } from './schema.ts';
import type { Walker } from './validate.ts';
import { describe, INVALID, isNull, unknownKeyMessage } from './walk-util.ts';
import type { Walked } from './walk-util.ts';

const DECLARATION_KEYS = ['plugin_data', 'enabled', 'plugin_cmd', 'plugin_args', 'plugin_checksum', 'plugin_data_file'] as const;

const EXTERNAL_ONLY: Readonly<Record<string, string>> = {
  plugin_cmd: 'external plugins are not supported by Herald; remove plugin_cmd to use the built-in plugin',
  plugin_args: 'applies to external plugins, which Herald does not support',
  plugin_checksum: 'applies to external plugins, which Herald does not support',
};

/** A declaration with `enabled: false`: accepted and left out of the result. */
const DISABLED: unique symbol = Symbol('config.plugin-disabled');

/**
 * The names a plugin type's declarations disabled (`enabled: false`), on the
 * type's walked value as a non-enumerable property: a plugin loaded by
 * default (PluginTypeInfo.defaults) is turned off this way.
 */
export const DISABLED_PLUGINS: unique symbol = Symbol('config.disabled-plugins');

/** The names `enabled: false` turned off in one walked plugin type (see DISABLED_PLUGINS). */
export function disabledPlugins(walkedType: unknown): readonly string[] {
  return (walkedType as { [DISABLED_PLUGINS]?: readonly string[] } | undefined)?.[DISABLED_PLUGINS] ?? [];
}

type AnyPluginType = PluginTypeSpec<Readonly<Record<string, SectionSpec<Fields, unknown>>>>;

export function walkPlugins(
  w: Walker,
  spec: PluginsSpec<Readonly<Record<string, AnyPluginType>>>,
  node: RawNode | undefined,
  path: string,
  at: ConfigLocation,
): Walked {
  if (node !== undefined && !isNull(node) && node.t !== 'map') {
    return w.report(at, path, `expected a mapping of plugin types, got ${describe(node)}`);
  }
  const types = spec.types;
  const typeNames = Object.keys(types);
  const declared = new Map<string, { entry: MapEntry }>();
  let invalid = false;
  for (const e of node?.t === 'map' ? node.entries : []) {
    if (!Object.hasOwn(types, e.key)) {
      w.report(e.at, joinKey(path, e.key), `plugin type not supported by Herald (supported: ${typeNames.join(', ')})`);
      invalid = true;
      continue;
    }
    declared.set(e.key, { entry: e });
  }
  const out: Record<string, unknown> = {};
  for (const [typeName, typeSpec] of Object.entries(types)) {
    const d = declared.get(typeName);
    const typePath = joinKey(path, typeName);
    const typeAt = d?.entry.at ?? at;
    const enabled = walkType(w, typeSpec, d?.entry.node, typePath, typeAt);
    if (enabled === INVALID) {
      invalid = true;
      continue;
    }
    out[typeName] = enabled;
  }
  return invalid ? INVALID : out;
}

function walkType(w: Walker, spec: AnyPluginType, node: RawNode | undefined, path: string, at: ConfigLocation): Walked {
  const decls = declarations(w, node, path, at);
  if (decls === INVALID) return INVALID;
  const enabled: [string, unknown][] = [];
  const disabled: string[] = [];
  let invalid = false;
  for (const d of decls) {
    const v = walkDeclaration(w, spec, d, joinKey(path, d.key));
    if (v === INVALID) invalid = true;
    else if (v === DISABLED) disabled.push(d.key);
    else enabled.push([d.key, v]);
  }
  if (invalid) return INVALID;
  const names = enabled.map(([n]) => n);
  const found = names.length === 0 ? 'found none' : `found ${names.length} (${names.join(', ')})`;
  if (names.length < spec.min) {
    const need = spec.min === 1 && spec.max === 1 ? 'exactly one plugin' : `at least ${spec.min} plugin${spec.min === 1 ? '' : 's'}`;
    return w.report(at, path, `${need} must be configured, ${found}`);
  }
  if (names.length > spec.max) {
    const need = spec.max === 1 ? (spec.min === 1 ? 'exactly one plugin' : 'at most one plugin') : `at most ${spec.max} plugins`;
    return w.report(at, path, `${need} may be configured, ${found}`);
  }
  return Object.defineProperty(Object.fromEntries(enabled), DISABLED_PLUGINS, { value: Object.freeze(disabled), enumerable: false });
}

/** The `name: { … }` declarations of one plugin type, from the map or the HCL-JSON list form. */
function declarations(w: Walker, node: RawNode | undefined, path: string, at: ConfigLocation): MapEntry[] | typeof INVALID {
  if (node === undefined || isNull(node)) return [];
  if (node.t === 'map') return node.entries;
  if (node.t !== 'seq') return w.report(at, path, `expected a mapping of plugin names, got ${describe(node)}`);
  const out: MapEntry[] = [];
  const seen = new Set<string>();
  let invalid = false;
  node.items.forEach((item, i) => {
    if (item.t !== 'map') {
      w.report(item.at.line === undefined ? at : item.at, `${path}[${i}]`, `expected a mapping of plugin names, got ${describe(item)}`);
      invalid = true;
      return;
    }
    for (const e of item.entries) {
      if (seen.has(e.key)) {
        w.report(e.at, joinKey(path, e.key), 'plugin declared more than once');
        invalid = true;
        continue;
      }
      seen.add(e.key);
      out.push(e);
    }
  });
  return invalid ? INVALID : out;
}

function walkDeclaration(w: Walker, spec: AnyPluginType, d: MapEntry, path: string): Walked {
  const node = d.node;
  if (!isNull(node) && node.t !== 'map') {
    return w.report(d.at, path, `expected a mapping with plugin_data, got ${describe(node)}`);
  }
  const entries = node.t === 'map' ? node.entries : [];
  const byKey = new Map<string, MapEntry>();
  let invalid = false;
  for (const e of entries) {
    if (!(DECLARATION_KEYS as readonly string[]).includes(e.key)) {
      w.report(e.at, joinKey(path, e.key), unknownKeyMessage(e.key, DECLARATION_KEYS));
      invalid = true;
      continue;
    }
    byKey.set(e.key, e);
  }
  const enabledEntry = byKey.get('enabled');
  if (enabledEntry !== undefined && !isNull(enabledEntry.node)) {
    const v = enabledEntry.node.t === 'scalar' ? enabledEntry.node.value : undefined;
    if (v === false || v === 'false') return invalid ? INVALID : DISABLED;
    if (v !== true && v !== 'true') {
      w.report(enabledEntry.at, joinKey(path, 'enabled'), `expected a boolean (true or false), got ${describe(enabledEntry.node)}`);
      invalid = true;
    }
  }
  let external = false;
  for (const [key, message] of Object.entries(EXTERNAL_ONLY)) {
    const e = byKey.get(key);
    if (e === undefined) continue;
    w.report(e.at, joinKey(path, key), message);
    external = true;
  }
  const dataFile = byKey.get('plugin_data_file');
  if (dataFile !== undefined) {
    w.report(dataFile.at, joinKey(path, 'plugin_data_file'), 'not supported by Herald; put the settings in plugin_data');
    invalid = true;
  }
  if (external) return INVALID;
  if (!Object.hasOwn(spec.plugins, d.key)) {
    const supported = Object.keys(spec.plugins);
    return w.report(d.at, path, `plugin not supported by Herald (supported: ${supported.length === 0 ? 'none' : supported.join(', ')})`);
  }
  const pluginSpec = spec.plugins[d.key] as SectionSpec<Fields, unknown>;
  const data = byKey.get('plugin_data');
  const v = w.walk(pluginSpec, data?.node, joinKey(path, 'plugin_data'), data?.at ?? d.at);
  return invalid ? INVALID : v;
}
