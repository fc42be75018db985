// NodeAttestor "k8s_psat" (SPIRE's plugin/server/nodeattestor/k8spsat):
// agents send a projected service-account token, validated with the
// cluster's TokenReview API.
import { definePlugin } from '../../../../common/catalog/catalog.ts';
import { s } from '../../../../common/config/index.ts';
import type { ServerPluginDepsWithDataStore } from '../../../catalog/deps.ts';
import type { NodeAttestor } from '../types.ts';
import type { PsatClusterConfig } from './k8s-psat.ts';

const cluster = s.section({
  service_account_allow_list: s.stringList({ description: 'Service accounts (`<namespace>:<name>`) whose tokens may attest; at least one' }),
  audience: s.stringList({ description: 'Audiences the token must have; an empty list means the API server\'s own', default: ['spire-server'] }),
  kube_config_file: s.path({ description: 'kubeconfig of the cluster\'s API server; unset: the in-cluster config (the server runs in that cluster)' }),
  allowed_node_label_keys: s.stringList({ description: 'Node labels that become `agent_node_label:<key>:<value>` selectors' }),
  allowed_pod_label_keys: s.stringList({ description: 'Pod labels that become `agent_pod_label:<key>:<value>` selectors' }),
}, {
  description: 'A cluster whose agents may attest',
  validate: (v) => (v.service_account_allow_list.length === 0 ? [{ key: 'service_account_allow_list', message: 'the cluster configuration must have at least one service account allowed' }] : undefined),
});

export const plugin = definePlugin({
  type: 'NodeAttestor',
  name: 'k8s_psat',
  configSchema: s.section(
    { clusters: s.map(cluster, { description: 'One block per cluster, named as the agents\' `cluster`' }) },
    { description: 'Agents send a projected service-account token, checked with the cluster\'s TokenReview API (SPIRE\'s k8s_psat): agent ID spiffe://<td>/spire/agent/k8s_psat/<cluster>/<node uid>' },
  ),
  configure: (data, ctx): ReadonlyMap<string, PsatClusterConfig> =>
    new Map(Object.entries(data.clusters).map(([name, c]) => [name, {
      serviceAccounts: new Set(c.service_account_allow_list),
      audience: c.audience,
      kubeConfigFile: c.kube_config_file === undefined ? undefined : ctx.abs(c.kube_config_file),
      allowedNodeLabelKeys: new Set(c.allowed_node_label_keys),
      allowedPodLabelKeys: new Set(c.allowed_pod_label_keys),
    }])),
  create: async (config, deps: ServerPluginDepsWithDataStore): Promise<NodeAttestor> =>
    new (await import('./k8s-psat.ts')).K8sPsatAttestor(deps.trustDomain, config),
});
