// herald-agent's plugin catalog (SPIRE's pkg/agent/catalog): the plugin
// types with SPIRE's constraints, the built-in plugins of each — one line per
// plugin, its folder under src/agent/plugins/<type>/<name>/ — and
// loadCatalog, which builds what the config declares. The config schema's
// `plugins` section (src/agent/config.ts) and the runtime config's declared
// plugins come from the same lists.
import { declaredPlugins, defineCatalog, loadCatalog as loadPlugins, pluginsSchema } from '../../common/catalog/catalog.ts';
import type { ConfigureContext, DeclaredPlugin, PluginDefinition } from '../../common/catalog/catalog.ts';
import type { AgentKeyManager } from '../plugins/keymanager/types.ts';
import type { NodeAttestorClient } from '../plugins/nodeattestor/types.ts';
import type { SvidStore } from '../plugins/svidstore/types.ts';
import type { WorkloadAttestor } from '../plugins/workloadattestor/types.ts';
import { plugin as diskKeyManager } from '../plugins/keymanager/disk/plugin.ts';
import { plugin as memoryKeyManager } from '../plugins/keymanager/memory/plugin.ts';
import { plugin as k8sPsatNodeAttestor } from '../plugins/nodeattestor/k8s_psat/plugin.ts';
import { plugin as joinTokenNodeAttestor } from '../plugins/nodeattestor/join_token/plugin.ts';
import { plugin as x509popNodeAttestor } from '../plugins/nodeattestor/x509pop/plugin.ts';
import { plugin as k8sWorkloadAttestor } from '../plugins/workloadattestor/k8s/plugin.ts';
import { plugin as unixWorkloadAttestor } from '../plugins/workloadattestor/unix/plugin.ts';
import type { AgentPluginDeps } from './deps.ts';

export type { AgentPluginDeps } from './deps.ts';

/** An agent plugin of one type: what it builds. */
export type AgentPlugin<Instance> = PluginDefinition<any, any, AgentPluginDeps, Instance>;

/** The plugin types, in creation order. */
export const AgentPluginTypes = [
  { type: 'KeyManager', description: 'Where the agent keeps its private keys', min: 1, max: 1 },
  {
    type: 'NodeAttestor',
    description: 'How the agent proves its identity to the server',
    min: 1,
    max: 1,
  },
  { type: 'WorkloadAttestor', description: 'How the agent identifies callers of its socket', min: 1, max: Number.POSITIVE_INFINITY },
  { type: 'SVIDStore', description: 'Store workload SVIDs outside the agent', min: 0, max: Number.POSITIVE_INFINITY },
] as const;

interface AgentBuiltIns {
  readonly [type: string]: readonly PluginDefinition[];
  readonly KeyManager: readonly AgentPlugin<AgentKeyManager>[];
  /** join_token builds nothing without a token (the agent then needs a stored SVID). */
  readonly NodeAttestor: readonly AgentPlugin<NodeAttestorClient | undefined>[];
  readonly WorkloadAttestor: readonly AgentPlugin<WorkloadAttestor>[];
  readonly SVIDStore: readonly AgentPlugin<SvidStore>[];
}

/** Every plugin herald-agent has. Adding one: its folder, and one line here. */
export const BuiltIns: AgentBuiltIns = {
  KeyManager: [diskKeyManager, memoryKeyManager],
  NodeAttestor: [joinTokenNodeAttestor, x509popNodeAttestor, k8sPsatNodeAttestor],
  WorkloadAttestor: [unixWorkloadAttestor, k8sWorkloadAttestor],
  SVIDStore: [],
};

export const agentCatalog = defineCatalog(AgentPluginTypes, BuiltIns);

/** The config schema's `plugins` section. */
export const agentPluginsSchema = pluginsSchema(agentCatalog);

/** The validated `plugins` section → the runtime config's declared plugins. */
export function agentDeclaredPlugins(section: Readonly<Record<string, Readonly<Record<string, unknown>> | undefined>>, ctx: ConfigureContext): DeclaredPlugin[] {
  return declaredPlugins(agentCatalog, section, ctx);
}

/** The agent's plugins, built. */
export interface AgentCatalog {
  readonly keyManager: AgentKeyManager;
  /** Undefined: join_token without a token (only a stored SVID lets the agent start). */
  readonly nodeAttestor: NodeAttestorClient | undefined;
  /** Exactly the declared ones, in declaration order. */
  readonly workloadAttestors: readonly WorkloadAttestor[];
  readonly svidStores: readonly SvidStore[];
  close(): Promise<void>;
}

/** The SPIRE agent's rule: a join token (join_token, -joinToken, join_token_file) means join_token attestation, whatever NodeAttestor is configured. */
const JOIN_TOKEN: DeclaredPlugin = Object.freeze({ type: 'NodeAttestor', name: 'join_token', config: Object.freeze({}) });

/** Builds the declared plugins, type by type; on a failure what was built is closed again. */
export async function loadCatalog(plugins: readonly DeclaredPlugin[], deps: AgentPluginDeps): Promise<AgentCatalog> {
  const declared = deps.joinToken ? plugins.map((p) => (p.type === 'NodeAttestor' ? JOIN_TOKEN : p)) : plugins;
  const c = await loadPlugins(agentCatalog, declared, deps);
  return {
    keyManager: c.KeyManager[0]!.instance,
    nodeAttestor: c.NodeAttestor[0]?.instance,
    workloadAttestors: c.WorkloadAttestor.map((p) => p.instance),
    svidStores: c.SVIDStore.map((p) => p.instance),
    close: () => c.close(),
  };
}
