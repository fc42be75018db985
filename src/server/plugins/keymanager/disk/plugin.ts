// KeyManager "disk" (SPIRE's plugin/server/keymanager/disk): the CA keys in
// one file, rewritten atomically (disk.ts).
import { join } from 'node:path';
import { definePlugin } from '../../../../common/catalog/catalog.ts';
import { s } from '../../../../common/config/index.ts';
import type { KeyManager } from '../types.ts';
import type { ServerPluginDepsWithDataStore } from '../../../catalog/deps.ts';

export interface DiskKeyManagerConfig {
  /** Absolute. */
  readonly keysPath: string;
}

export const plugin = definePlugin({
  type: 'KeyManager',
  name: 'disk',
  configSchema: s.section({ keys_path: s.path({ description: 'Key file (default: keys.json in data_dir)' }) }, { description: 'Keys in a file, written atomically' }),
  configure: (data, ctx): DiskKeyManagerConfig => ({ keysPath: data.keys_path === undefined ? join(ctx.dataDir, 'keys.json') : ctx.abs(data.keys_path) }),
  stateFiles: (config) => [{ path: config.keysPath, what: 'key file' }],
  create: async (config, _deps: ServerPluginDepsWithDataStore): Promise<KeyManager> => (await import('./disk.ts')).DiskKeyManager.open(config.keysPath),
});
