// NodeAttestor "k8s_psat" (SPIRE's plugin/agent/nodeattestor/k8spsat): sends
// the pod's projected service-account token, read again on every
// attestation (the kubelet rotates it), so the agent can attest again by itself.
import { definePlugin } from '../../../../common/catalog/catalog.ts';
import { s } from '../../../../common/config/index.ts';
import type { AgentPluginDeps } from '../../../catalog/deps.ts';
import type { NodeAttestorClient } from '../types.ts';

export const plugin = definePlugin({
  type: 'NodeAttestor',
  name: 'k8s_psat',
  configSchema: s.section(
    {
      cluster: s.string({ description: 'Name of the cluster, as in the server\'s k8s_psat `clusters`', required: true }),
      token_path: s.path({ description: 'The projected service-account token (a `serviceAccountToken` projected volume)', default: '/var/run/secrets/tokens/spire-agent' }),
    },
    { description: 'Sends the pod\'s projected service-account token (SPIRE\'s k8s_psat); attests again by itself with the current token' },
  ),
  configure: (data, ctx) => ({ cluster: data.cluster, tokenPath: ctx.abs(data.token_path) }),
  create: async (config, _deps: AgentPluginDeps): Promise<NodeAttestorClient> => (await import('./k8s-psat.ts')).k8sPsatAttestor(config),
});
