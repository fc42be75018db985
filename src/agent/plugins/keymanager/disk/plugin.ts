// KeyManager "disk" (SPIRE's plugin/agent/keymanager/disk): the agent SVID's
// key is written to `directory` (default data_dir; agent_svid.key, mode
// 0600), so a restarted agent re-uses its SVID without attesting again.
import { definePlugin } from '../../../../common/catalog/catalog.ts';
import { s } from '../../../../common/config/index.ts';
import type { AgentPluginDeps } from '../../../catalog/deps.ts';
import type { AgentKeyManager } from '../types.ts';

export const plugin = definePlugin({
  type: 'KeyManager',
  name: 'disk',
  configSchema: s.section({ directory: s.path({ description: 'Key directory (default: data_dir)' }) }, { description: 'Keys on disk' }),
  // directory: absolute, data_dir by default.
  configure: (data, ctx): { readonly directory: string } => ({ directory: data.directory === undefined ? ctx.dataDir : ctx.abs(data.directory) }),
  create: (config, _deps: AgentPluginDeps): AgentKeyManager => ({ name: 'disk', durable: true, directory: config.directory }),
});
