// herald-server's plugin catalog (SPIRE's pkg/server/catalog): the plugin
// types with SPIRE's constraints, the built-in plugins of each — one line per
// plugin, its folder under src/server/plugins/<type>/<name>/ — and
// loadCatalog, which builds what the config declares. The config schema's
// `plugins` section (src/server/config.ts) and the runtime config's declared
// plugins come from the same lists.
import { PluginSet, declaredPlugins, defineCatalog, pluginStateFiles, pluginsSchema } from '../../common/catalog/catalog.ts';
import type { ConfigureContext, DeclaredPlugin, PluginDefinition, PluginStateFile } from '../../common/catalog/catalog.ts';
import type { KeyManager } from '../plugins/keymanager/types.ts';
import type { X509CaMinter } from '../ca/manager.ts';
import type { DataStore } from '../datastore/datastore.ts';
import type { BundlePublisher } from '../plugins/bundlepublisher/types.ts';
import type { CredentialComposer } from '../plugins/credentialcomposer/types.ts';
import type { NodeAttestor } from '../plugins/nodeattestor/types.ts';
import type { Notifier } from '../plugins/notifier/types.ts';
import { plugin as moduleComposer } from '../plugins/credentialcomposer/module/plugin.ts';
import { plugin as templateComposer } from '../plugins/credentialcomposer/template/plugin.ts';
import { plugin as uniqueidComposer } from '../plugins/credentialcomposer/uniqueid/plugin.ts';
import { plugin as sqlDataStore } from '../plugins/datastore/sql/plugin.ts';
import { plugin as diskKeyManager } from '../plugins/keymanager/disk/plugin.ts';
import { plugin as memoryKeyManager } from '../plugins/keymanager/memory/plugin.ts';
import { plugin as k8sPsatNodeAttestor } from '../plugins/nodeattestor/k8s_psat/plugin.ts';
import { plugin as joinTokenNodeAttestor } from '../plugins/nodeattestor/join_token/plugin.ts';
import { plugin as x509popNodeAttestor } from '../plugins/nodeattestor/x509pop/plugin.ts';
import { plugin as k8sBundleNotifier } from '../plugins/notifier/k8sbundle/plugin.ts';
import { plugin as diskUpstreamAuthority } from '../plugins/upstreamauthority/disk/plugin.ts';
import type { ServerPluginDeps, ServerPluginDepsWithDataStore } from './deps.ts';

export type { ServerPluginDeps, ServerPluginDepsWithDataStore } from './deps.ts';

/** A server plugin of one type: its deps and what it builds. */
export type ServerPlugin<Instance, Deps = ServerPluginDepsWithDataStore> = PluginDefinition<any, any, Deps, Instance>;

/** The plugin types, in creation order (the DataStore first: the others get it). */
export const ServerPluginTypes = [
  { type: 'DataStore', description: 'Persistent storage', min: 1, max: 1 },
  { type: 'KeyManager', description: 'Where the CA private keys live', min: 1, max: 1 },
  {
    type: 'NodeAttestor',
    description: 'How agents prove their identity',
    min: 0,
    max: Number.POSITIVE_INFINITY,
  },
  { type: 'UpstreamAuthority', description: 'Sign the CA with an upstream CA instead of self-signing', min: 0, max: 1 },
  { type: 'Notifier', description: 'Told when the trust bundle changes', min: 0, max: Number.POSITIVE_INFINITY },
  { type: 'BundlePublisher', description: 'Publish the trust bundle elsewhere when it changes', min: 0, max: Number.POSITIVE_INFINITY },
  {
    type: 'CredentialComposer',
    description: 'Change the X509-SVIDs and JWT-SVIDs the CA issues (uniqueid is loaded unless declared with enabled = false)',
    min: 0,
    max: Number.POSITIVE_INFINITY,
    defaults: ['uniqueid'],
  },
] as const;

interface ServerBuiltIns {
  readonly [type: string]: readonly PluginDefinition[];
  readonly DataStore: readonly ServerPlugin<DataStore, ServerPluginDeps>[];
  readonly KeyManager: readonly ServerPlugin<KeyManager>[];
  readonly NodeAttestor: readonly ServerPlugin<NodeAttestor>[];
  readonly UpstreamAuthority: readonly ServerPlugin<X509CaMinter>[];
  readonly Notifier: readonly ServerPlugin<Notifier>[];
  readonly BundlePublisher: readonly ServerPlugin<BundlePublisher>[];
  readonly CredentialComposer: readonly ServerPlugin<CredentialComposer>[];
}

/** Every plugin herald-server has. Adding one: its folder, and one line here. */
export const BuiltIns: ServerBuiltIns = {
  DataStore: [sqlDataStore],
  KeyManager: [diskKeyManager, memoryKeyManager],
  NodeAttestor: [joinTokenNodeAttestor, x509popNodeAttestor, k8sPsatNodeAttestor],
  UpstreamAuthority: [diskUpstreamAuthority],
  Notifier: [k8sBundleNotifier],
  BundlePublisher: [],
  CredentialComposer: [uniqueidComposer, templateComposer, moduleComposer],
};

export const serverCatalog = defineCatalog(ServerPluginTypes, BuiltIns);

/** The config schema's `plugins` section. */
export const serverPluginsSchema = pluginsSchema(serverCatalog);

/** The validated `plugins` section → the runtime config's declared plugins. */
export function serverDeclaredPlugins(section: Readonly<Record<string, Readonly<Record<string, unknown>> | undefined>>, ctx: ConfigureContext): DeclaredPlugin[] {
  return declaredPlugins(serverCatalog, section, ctx);
}

/** Files earlier runs of the declared plugins left (the disk KeyManager's key file). */
export function serverPluginStateFiles(declared: readonly DeclaredPlugin[]): PluginStateFile[] {
  return pluginStateFiles(serverCatalog, declared);
}

/** The server's plugins, built. */
export interface ServerCatalog {
  readonly dataStore: DataStore;
  readonly keyManager: KeyManager;
  /** Undefined: the CA signs itself. */
  readonly upstreamAuthority: X509CaMinter | undefined;
  /** By attestation data type (the plugin name), as AttestAgent looks them up. */
  readonly nodeAttestors: ReadonlyMap<string, NodeAttestor>;
  readonly notifiers: readonly Notifier[];
  readonly bundlePublishers: readonly BundlePublisher[];
  /** In declaration order, for the credential template builder. */
  readonly composers: readonly CredentialComposer[];
  /** Closes every plugin that has close() (the datastore), last created first. */
  close(): Promise<void>;
}

/**
 * Builds the declared plugins: the DataStore first, then every other type
 * in ServerPluginTypes order, with the datastore in their deps. On a failure
 * what was built is closed again.
 */
export async function loadCatalog(plugins: readonly DeclaredPlugin[], deps: ServerPluginDeps): Promise<ServerCatalog> {
  const set = new PluginSet(serverCatalog);
  try {
    const [dataStore] = await set.create<ServerBuiltIns, 'DataStore'>('DataStore', plugins, deps);
    const withDs: ServerPluginDepsWithDataStore = { ...deps, dataStore: dataStore!.instance };
    const [keyManager] = await set.create<ServerBuiltIns, 'KeyManager'>('KeyManager', plugins, withDs);
    const nodeAttestors = await set.create<ServerBuiltIns, 'NodeAttestor'>('NodeAttestor', plugins, withDs);
    const [upstream] = await set.create<ServerBuiltIns, 'UpstreamAuthority'>('UpstreamAuthority', plugins, withDs);
    const notifiers = await set.create<ServerBuiltIns, 'Notifier'>('Notifier', plugins, withDs);
    const publishers = await set.create<ServerBuiltIns, 'BundlePublisher'>('BundlePublisher', plugins, withDs);
    const composers = await set.create<ServerBuiltIns, 'CredentialComposer'>('CredentialComposer', plugins, withDs);
    return {
      dataStore: dataStore!.instance,
      keyManager: keyManager!.instance,
      upstreamAuthority: upstream?.instance,
      nodeAttestors: new Map(nodeAttestors.map((p) => [p.instance.name, p.instance])),
      notifiers: notifiers.map((p) => p.instance),
      bundlePublishers: publishers.map((p) => p.instance),
      composers: composers.map((p) => p.instance),
      close: () => set.close(),
    };
  } catch (err) {
    await set.close().catch(() => undefined);
    throw err;
  }
}
