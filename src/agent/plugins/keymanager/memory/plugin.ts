// KeyManager "memory" (SPIRE's plugin/agent/keymanager/memory): the agent
// SVID's key lives in this process only; data_dir keeps the SVID and bundle
// (as SPIRE's agent-data.json), and a restarted agent attests again.
import { definePlugin } from '../../../../common/catalog/catalog.ts';
import { s } from '../../../../common/config/index.ts';
import type { AgentPluginDeps } from '../../../catalog/deps.ts';
import type { AgentKeyManager } from '../types.ts';

export const plugin = definePlugin({
  type: 'KeyManager',
  name: 'memory',
  configSchema: s.section(
    {},
    { description: 'Keys in memory, never on disk (data_dir keeps the SVID and bundle; re-attests after a restart, with a new token for join_token)' },
  ),
  create: (_config, _deps: AgentPluginDeps): AgentKeyManager => ({ name: 'memory', durable: false }),
});
