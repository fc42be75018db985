// NodeAttestor "join_token" (SPIRE's plugin/agent/nodeattestor/jointoken):
// the token comes from join_token / -joinToken / join_token_file, not from
// plugin_data. Without one the agent can only resume with a stored SVID.
import { definePlugin } from '../../../../common/catalog/catalog.ts';
import { s } from '../../../../common/config/index.ts';
import type { AgentPluginDeps } from '../../../catalog/deps.ts';
import type { NodeAttestorClient } from '../types.ts';

export const plugin = definePlugin({
  type: 'NodeAttestor',
  name: 'join_token',
  configSchema: s.section({}, { description: 'A join token from herald-server token generate (join_token / -joinToken)' }),
  create: async (_config, deps: AgentPluginDeps): Promise<NodeAttestorClient | undefined> =>
    deps.joinToken ? (await import('./join-token.ts')).joinTokenAttestor(deps.joinToken) : undefined,
});
