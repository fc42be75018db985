// NodeAttestor "join_token" (SPIRE's plugin/server/nodeattestor/jointoken).
import { definePlugin } from '../../../../common/catalog/catalog.ts';
import { s } from '../../../../common/config/index.ts';
import type { ServerPluginDepsWithDataStore } from '../../../catalog/deps.ts';
import type { NodeAttestor } from '../types.ts';

export const plugin = definePlugin({
  type: 'NodeAttestor',
  name: 'join_token',
  configSchema: s.section({}, { description: 'One-time join tokens (herald-server token generate)' }),
  create: async (_config, deps: ServerPluginDepsWithDataStore): Promise<NodeAttestor> =>
    new (await import('./join-token.ts')).JoinTokenAttestor(deps.dataStore, deps.trustDomain),
});
