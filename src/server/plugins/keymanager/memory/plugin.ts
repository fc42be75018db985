// KeyManager "memory" (SPIRE's plugin/server/keymanager/memory): the CA keys
// live in this process only (memory.ts).
import { definePlugin } from '../../../../common/catalog/catalog.ts';
import { s } from '../../../../common/config/index.ts';
import type { KeyManager } from '../types.ts';
import type { ServerPluginDepsWithDataStore } from '../../../catalog/deps.ts';

export const plugin = definePlugin({
  type: 'KeyManager',
  name: 'memory',
  configSchema: s.section(
    {},
    { description: 'Keys in memory (lost on restart: a restarted server makes a new CA and JWT key; the old ones stay in the bundle until they expire)' },
  ),
  create: async (_config, _deps: ServerPluginDepsWithDataStore): Promise<KeyManager> => new (await import('./memory.ts')).MemoryKeyManager(),
});
