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
      webhook_label: s.string({ description: 'Mutating and validating webhook configurations labelled `<label>=true` get the bundle as every webhook\'s caBundle (also those created later)' }),
      api_service_label: s.string({ description: 'APIServices labelled `<label>=true` get the bundle as their caBundle (also those created later)' }),
      clusters: s.unsupported('one cluster per k8sbundle notifier'),
    },
    { description: 'Keeps the trust bundle (PEM) in a Kubernetes ConfigMap, and optionally in labelled webhook configurations and APIServices, updated on every bundle change (SPIRE\'s k8sbundle)' },
  ),
  configure: (data, ctx) => ({
    namespace: data.namespace,
    configMap: data.config_map,
    configMapKey: data.config_map_key,
    kubeConfigFile: data.kube_config_file_path === undefined ? undefined : ctx.abs(data.kube_config_file_path),
    webhookLabel: data.webhook_label,
    apiServiceLabel: data.api_service_label,
  }),
  create: async (config, deps: ServerPluginDepsWithDataStore): Promise<Notifier> =>
    new (await import('./k8sbundle.ts')).K8sBundleNotifier(config, deps.log),
});
