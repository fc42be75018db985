// KeyManager "disk" (SPIRE's plugin/agent/keymanager/disk): the agent SVID's
// key is written to data_dir (agent_svid.key, mode 0600), so a restarted
// agent re-uses its SVID without attesting again.
import { definePlugin } from '../../../../common/catalog/catalog.ts';
import { s } from '../../../../common/config/index.ts';
import type { AgentPluginDeps } from '../../../catalog/deps.ts';
import type { AgentKeyManager } from '../types.ts';

export interface AgentDiskKeyManagerConfig {
  /** Absolute; data_dir by default. */
  readonly directory: string;
}

export const plugin = definePlugin({
  type: 'KeyManager',
  name: 'disk',
  configSchema: s.section({ directory: s.path({ description: 'Key directory (default: data_dir)' }) }, { description: 'Keys on disk' }),
  configure: (data, ctx): AgentDiskKeyManagerConfig => ({ directory: data.directory === undefined ? ctx.dataDir : ctx.abs(data.directory) }),
  create: (_config, _deps: AgentPluginDeps): AgentKeyManager => ({ name: 'disk', durable: true }),
});
