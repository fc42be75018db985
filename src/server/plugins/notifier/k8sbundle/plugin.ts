// Notifier "k8sbundle" (SPIRE's plugin/server/notifier/k8sbundle): keeps the
// trust bundle in a Kubernetes ConfigMap, which agents mount as their
// trust_bundle_path.
import { definePlugin } from '../../../../common/catalog/catalog.ts';
import { s } from '../../../../common/config/index.ts';
import type { ServerPluginDepsWithDataStore } from '../../../catalog/deps.ts';
import type { Notifier } from '../types.ts';

export const plugin = definePlugin({
  type: 'Notifier',
  name: 'k8sbundle',
  configSchema: s.section(
    {
      namespace: s.string({ description: 'Namespace of the ConfigMap', default: 'spire' }),
      config_map: s.string({ description: 'Name of the ConfigMap (it must exist: the plugin updates it, never creates it)', default: 'spire-bundle' }),
      config_map_key: s.string({ description: 'The ConfigMap key that holds the bundle (PEM)', default: 'bundle.crt' }),
      kube_config_file_path: s.path({ description: 'kubeconfig of the cluster; unset: the in-cluster config' }),
      webhook_label: s.unsupported('only the ConfigMap is kept up to date, not webhook CA bundles'),
      api_service_label: s.unsupported('only the ConfigMap is kept up to date, not APIService CA bundles'),
      clusters: s.unsupported('one cluster per k8sbundle notifier'),
    },
    { description: 'Keeps the trust bundle (PEM) in a Kubernetes ConfigMap, updated on every bundle change (SPIRE\'s k8sbundle)' },
  ),
  configure: (data, ctx) => ({
    namespace: data.namespace,
    configMap: data.config_map,
    configMapKey: data.config_map_key,
    kubeConfigFile: data.kube_config_file_path === undefined ? undefined : ctx.abs(data.kube_config_file_path),
  }),
  create: async (config, deps: ServerPluginDepsWithDataStore): Promise<Notifier> =>
    new (await import('./k8sbundle.ts')).K8sBundleNotifier(config, deps.log),
});
