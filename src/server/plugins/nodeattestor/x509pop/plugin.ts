// NodeAttestor "x509pop" (SPIRE's plugin/server/nodeattestor/x509pop),
// "private" mode: agents prove possession of a certificate's key.
import { definePlugin } from '../../../../common/catalog/catalog.ts';
import { s } from '../../../../common/config/index.ts';
import type { ServerPluginDepsWithDataStore } from '../../../catalog/deps.ts';
import type { NodeAttestor } from '../types.ts';

export interface X509PopConfig {
  /** Absolute: ca_bundle_path, then ca_bundle_paths. */
  readonly caBundlePaths: readonly string[];
}

export const plugin = definePlugin({
  type: 'NodeAttestor',
  name: 'x509pop',
  configSchema: s.section(
    {
      ca_bundle_path: s.path({ description: 'PEM file of the CA certificates agent certificates must chain to' }),
      ca_bundle_paths: s.stringList({ description: 'Several such PEM files' }),
      agent_path_template: s.unsupported('only the default agent ID path /x509pop/<fingerprint> is implemented'),
      mode: s.unsupported('only the default "private" mode (ca_bundle_path) is implemented'),
      svid_prefix: s.unsupported('only the default "private" mode (ca_bundle_path) is implemented'),
    },
    {
      description: 'Agents prove possession of an X.509 certificate\'s key (SPIRE\'s x509pop): agent ID spiffe://<td>/spire/agent/x509pop/<sha1 fingerprint>',
      validate: (v) => (v.ca_bundle_path === undefined && v.ca_bundle_paths.length === 0 ? 'one of ca_bundle_path or ca_bundle_paths is required' : undefined),
    },
  ),
  configure: (data, ctx): X509PopConfig => ({
    caBundlePaths: [...(data.ca_bundle_path === undefined ? [] : [ctx.abs(data.ca_bundle_path)]), ...data.ca_bundle_paths.map((p) => ctx.abs(p))],
  }),
  create: async (config, deps: ServerPluginDepsWithDataStore): Promise<NodeAttestor> =>
    (await import('./x509pop.ts')).X509PopAttestor.load(deps.trustDomain, config.caBundlePaths, () => deps.clock.now()),
});
