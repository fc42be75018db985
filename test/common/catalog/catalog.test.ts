import { describe, expect, it } from 'vitest';
import {
  declaredPlugins,
  defineCatalog,
  definePlugin,
  loadCatalog,
  pluginStateFiles,
  pluginsSchema,
  PluginSet,
  type DeclaredPlugin,
  type PluginTypeInfo,
} from '../../../src/common/catalog/catalog.ts';
import { ConfigError, formatProblem, parseConfig, s } from '../../../src/common/config/index.ts';
import { notYetPlugin } from '../../../src/common/config/spiffe-checks.ts';
import { HeraldError } from '../../../src/common/errors.ts';
import { agentCatalog, BuiltIns as AgentBuiltIns } from '../../../src/agent/catalog/catalog.ts';
import { BuiltIns as ServerBuiltIns, serverCatalog } from '../../../src/server/catalog/catalog.ts';

interface Deps {
  readonly log: string[];
}

/** A plugin that records its creation and closing in deps.log. */
function recorder(type: string, name: string, opts: { fail?: Error; noClose?: boolean } = {}) {
  return definePlugin({
    type,
    name,
    configSchema: s.section({ path: s.path({ description: 'A path' }) }, { description: `${type} ${name}` }),
    configure: (data, ctx) => ({ path: data.path === undefined ? `${ctx.dataDir}/${name}` : ctx.abs(data.path) }),
    stateFiles: (config) => [{ path: config.path, what: `${name} file` }],
    create: (config, deps: Deps) => {
      if (opts.fail) throw opts.fail;
      deps.log.push(`create ${type}/${name} ${config.path}`);
      return opts.noClose ? { name } : { name, close: () => void deps.log.push(`close ${type}/${name}`) };
    },
  });
}

const TYPES: readonly PluginTypeInfo[] = [
  { type: 'DataStore', description: 'Storage', min: 1, max: 1 },
  { type: 'KeyManager', description: 'Keys', min: 1, max: 1 },
  { type: 'NodeAttestor', description: 'Attestors', min: 0, max: Number.POSITIVE_INFINITY, notYet: { k8s_psat: notYetPlugin('k8s_psat', ['clusters']) } },
  { type: 'UpstreamAuthority', description: 'Upstream', min: 0, max: 1 },
  { type: 'Notifier', description: 'Notifiers', min: 0, max: Number.POSITIVE_INFINITY },
];

const catalog = defineCatalog(TYPES, {
  DataStore: [recorder('DataStore', 'sql')],
  KeyManager: [recorder('KeyManager', 'disk'), recorder('KeyManager', 'memory', { noClose: true })],
  NodeAttestor: [recorder('NodeAttestor', 'join_token'), recorder('NodeAttestor', 'x509pop'), recorder('NodeAttestor', 'broken', { fail: new TypeError('boom') })],
  UpstreamAuthority: [recorder('UpstreamAuthority', 'disk'), recorder('UpstreamAuthority', 'refusing', { fail: new HeraldError('ERR_CONFIG_UPSTREAM_AUTHORITY', 'UpstreamAuthority "refusing": no key') })],
  Notifier: [],
});

const schema = s.section({ plugins: pluginsSchema(catalog) });

function problems(text: string): string[] {
  try {
    parseConfig(schema, text, { filename: 'c.yaml' });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems.map(formatProblem);
  }
  throw new Error('expected a ConfigError');
}

const BASE = 'plugins:\n  DataStore: { sql: {} }\n  KeyManager: { memory: {} }\n';
const ctx = { abs: (p: string) => `/cwd/${p}`, dataDir: '/data' };

function declared(text: string): DeclaredPlugin[] {
  const file = parseConfig(schema, text, { filename: 'c.yaml' });
  return declaredPlugins(catalog, file.plugins, ctx);
}

describe('config schema built from the BuiltIns', () => {
  it('accepts the built-ins and turns plugin_data into each plugin\'s runtime config', () => {
    expect(declared(`${BASE}  NodeAttestor: { x509pop: { plugin_data: { path: ca.pem } }, join_token: {} }\n`)).toEqual([
      { type: 'DataStore', name: 'sql', config: { path: '/data/sql' } },
      { type: 'KeyManager', name: 'memory', config: { path: '/data/memory' } },
      // File order within a type.
      { type: 'NodeAttestor', name: 'x509pop', config: { path: '/cwd/ca.pem' } },
      { type: 'NodeAttestor', name: 'join_token', config: { path: '/data/join_token' } },
    ]);
  });

  it('names an unknown plugin and lists the supported ones (not-yet plugins after the built-ins)', () => {
    expect(problems(`${BASE}  NodeAttestor: { aws_iid: {} }\n`)).toEqual([
      'c.yaml:4 plugins.NodeAttestor.aws_iid: plugin not supported by Herald (supported: join_token, x509pop, broken, k8s_psat)',
    ]);
    expect(problems(`${BASE}  NodeAttestor: { k8s_psat: {} }\n`)).toEqual([
      'c.yaml:4 plugins.NodeAttestor.k8s_psat.plugin_data: plugin not supported by Herald yet: the k8s_psat plugin is not implemented in Herald yet',
    ]);
  });

  it('refuses every name of a type that has no built-in yet', () => {
    expect(problems(`${BASE}  Notifier: { k8sbundle: {} }\n`)).toEqual(['c.yaml:4 plugins.Notifier.k8sbundle: plugin not supported by Herald (supported: none)']);
  });

  it('enforces SPIRE\'s counts: exactly one DataStore and KeyManager, at most one UpstreamAuthority', () => {
    expect(problems('plugins:\n  KeyManager: { memory: {}, disk: {} }\n')).toEqual([
      'c.yaml:1 plugins.DataStore: exactly one plugin must be configured, found none',
      'c.yaml:2 plugins.KeyManager: exactly one plugin may be configured, found 2 (memory, disk)',
    ]);
    expect(problems(`${BASE}  UpstreamAuthority: { disk: {}, refusing: {} }\n`)).toEqual([
      'c.yaml:4 plugins.UpstreamAuthority: at most one plugin may be configured, found 2 (disk, refusing)',
    ]);
  });

  it('keeps the plugin type error for types the daemon lacks', () => {
    expect(problems(`${BASE}  Authorizer: { opa: {} }\n`)).toEqual([
      'c.yaml:4 plugins.Authorizer: plugin type not supported by Herald (supported: DataStore, KeyManager, NodeAttestor, UpstreamAuthority, Notifier)',
    ]);
  });

  it('collects the declared plugins\' state files', () => {
    expect(pluginStateFiles(catalog, declared(BASE))).toEqual([
      { path: '/data/sql', what: 'sql file' },
      { path: '/data/memory', what: 'memory file' },
    ]);
  });
});

describe('loadCatalog', () => {
  it('creates the declared plugins in type order, then file order, and closes them in reverse', async () => {
    const deps: Deps = { log: [] };
    const plugins = declared(`plugins:\n  NodeAttestor: { x509pop: {}, join_token: {} }\n  UpstreamAuthority: { disk: {} }\n  KeyManager: { disk: {} }\n  DataStore: { sql: {} }\n`);
    const loaded = await loadCatalog(catalog, plugins, deps);
    expect(deps.log).toEqual([
      'create DataStore/sql /data/sql',
      'create KeyManager/disk /data/disk',
      'create NodeAttestor/x509pop /data/x509pop',
      'create NodeAttestor/join_token /data/join_token',
      'create UpstreamAuthority/disk /data/disk',
    ]);
    expect(loaded.NodeAttestor.map((p) => p.name)).toEqual(['x509pop', 'join_token']);
    expect(loaded.Notifier).toEqual([]);
    deps.log.length = 0;
    await loaded.close();
    expect(deps.log).toEqual(['close UpstreamAuthority/disk', 'close NodeAttestor/join_token', 'close NodeAttestor/x509pop', 'close KeyManager/disk', 'close DataStore/sql']);
  });

  it('names the plugin whose create() failed, and closes what was created', async () => {
    const deps: Deps = { log: [] };
    const err = await loadCatalog(catalog, declared(`${BASE}  NodeAttestor: { join_token: {}, broken: {} }\n`), deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HeraldError);
    expect((err as HeraldError).message).toBe('NodeAttestor "broken": failed to load: boom');
    expect((err as HeraldError).cause).toBeInstanceOf(TypeError);
    expect(deps.log).toEqual(['create DataStore/sql /data/sql', 'create KeyManager/memory /data/memory', 'create NodeAttestor/join_token /data/join_token', 'close NodeAttestor/join_token', 'close DataStore/sql']);
  });

  it('passes a plugin\'s own HeraldError through unchanged (its message is for the operator)', async () => {
    const err = await loadCatalog(catalog, declared(`${BASE}  UpstreamAuthority: { refusing: {} }\n`), { log: [] }).catch((e: unknown) => e);
    expect((err as HeraldError).code).toBe('ERR_CONFIG_UPSTREAM_AUTHORITY');
    expect((err as HeraldError).message).toBe('UpstreamAuthority "refusing": no key');
  });

  it('checks the counts and names of a runtime config built by hand', async () => {
    const sql: DeclaredPlugin = { type: 'DataStore', name: 'sql', config: { path: '/x' } };
    const memory: DeclaredPlugin = { type: 'KeyManager', name: 'memory', config: { path: '/y' } };
    const problem = (plugins: DeclaredPlugin[]) => loadCatalog(catalog, plugins, { log: [] }).then(() => 'loaded', (e: HeraldError) => e.message);
    expect(await problem([memory])).toBe('DataStore: exactly one plugin must be configured, found none');
    expect(await problem([sql, sql, memory])).toBe('DataStore: exactly one plugin may be configured, found 2 (sql, sql)');
    expect(await problem([sql, memory, { type: 'UpstreamAuthority', name: 'disk', config: {} }, { type: 'UpstreamAuthority', name: 'disk', config: {} }])).toBe(
      'UpstreamAuthority: at most one plugin may be configured, found 2 (disk, disk)',
    );
    expect(await problem([sql, memory, { type: 'NodeAttestor', name: 'tpm', config: {} }])).toBe(
      'NodeAttestor "tpm": plugin not supported by Herald (supported: join_token, x509pop, broken)',
    );
    expect(await problem([sql, memory, { type: 'Notifier', name: 'k8sbundle', config: {} }])).toBe('Notifier "k8sbundle": plugin not supported by Herald (supported: none)');
  });

  it('lets a daemon create type by type with deps from earlier types (PluginSet)', async () => {
    const set = new PluginSet(catalog);
    const deps: Deps = { log: [] };
    const [ds] = await set.create('DataStore', declared(BASE), deps);
    expect(ds?.instance).toMatchObject({ name: 'sql' });
    expect(set.all.map((p) => p.name)).toEqual(['sql']);
    await set.close();
    expect(deps.log).toEqual(['create DataStore/sql /data/sql', 'close DataStore/sql']);
  });
});

describe('defineCatalog', () => {
  const t = (type: string): PluginTypeInfo => ({ type, description: type, min: 0, max: 1 });
  it.each([
    ['a type without a built-ins list', () => defineCatalog([t('A')], {})],
    ['built-ins of an unknown type', () => defineCatalog([t('A')], { A: [], B: [] })],
    ['a plugin listed under another type', () => defineCatalog([t('A'), t('B')], { A: [recorder('B', 'x')], B: [] })],
    ['a plugin listed twice', () => defineCatalog([t('A')], { A: [recorder('A', 'x'), recorder('A', 'x')] })],
    ['a type listed twice', () => defineCatalog([t('A'), t('A')], { A: [] })],
  ])('rejects %s', (_name, fn) => {
    expect(fn).toThrow(TypeError);
  });
});

describe('the daemons\' catalogs', () => {
  it('server: SPIRE\'s types and constraints, DataStore first', () => {
    expect(serverCatalog.types.map((x) => [x.type, x.min, x.max])).toEqual([
      ['DataStore', 1, 1],
      ['KeyManager', 1, 1],
      ['NodeAttestor', 0, Number.POSITIVE_INFINITY],
      ['UpstreamAuthority', 0, 1],
      ['Notifier', 0, Number.POSITIVE_INFINITY],
      ['BundlePublisher', 0, Number.POSITIVE_INFINITY],
      ['CredentialComposer', 0, Number.POSITIVE_INFINITY],
    ]);
    expect(Object.fromEntries(Object.entries(ServerBuiltIns).map(([k, v]) => [k, v.map((d) => d.name)]))).toEqual({
      DataStore: ['sql'],
      KeyManager: ['disk', 'memory'],
      NodeAttestor: ['join_token', 'x509pop', 'k8s_psat'],
      UpstreamAuthority: ['disk'],
      Notifier: ['k8sbundle'],
      BundlePublisher: [],
      CredentialComposer: ['uniqueid', 'template', 'module'],
    });
  });

  it('agent: SPIRE\'s types and constraints', () => {
    expect(agentCatalog.types.map((x) => [x.type, x.min, x.max])).toEqual([
      ['KeyManager', 1, 1],
      ['NodeAttestor', 1, 1],
      ['WorkloadAttestor', 1, Number.POSITIVE_INFINITY],
      ['SVIDStore', 0, Number.POSITIVE_INFINITY],
    ]);
    expect(Object.fromEntries(Object.entries(AgentBuiltIns).map(([k, v]) => [k, v.map((d) => d.name)]))).toEqual({
      KeyManager: ['disk', 'memory'],
      NodeAttestor: ['join_token', 'x509pop', 'k8s_psat'],
      WorkloadAttestor: ['unix', 'k8s'],
      SVIDStore: [],
    });
  });
});
