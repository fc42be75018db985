// The console section: off when absent, loopback-only, paths made absolute.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/common/config/index.ts';
import { loadServerConfig } from '../../../src/server/config.ts';
import { loopbackAddressProblem } from '../../../src/server/console/config.ts';
import { makeTempDir } from '../../helpers/tmp.ts';

const BASE = `server: { trust_domain: example.org }
plugins:
  DataStore: { sql: { plugin_data: { database_type: sqlite3 } } }
  KeyManager: { memory: {} }
  NodeAttestor: { join_token: { plugin_data: {} } }
`;

let tmp: { path: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  tmp = await makeTempDir('herald-console-cfg-');
});
afterEach(async () => {
  await tmp.cleanup();
});

async function load(extra: string) {
  await writeFile(join(tmp.path, 'server.yaml'), BASE + extra);
  return loadServerConfig({ cwd: tmp.path, configPath: 'server.yaml' });
}

describe('console config', () => {
  it('is off unless the section is present; defaults when it is', async () => {
    expect((await load('')).console).toBeUndefined();
    expect((await load('console: {}\n')).console).toEqual({ address: '127.0.0.1', port: 8090, refreshIntervalMs: 2000, agentAdminSocketPaths: [] });
  });

  it('makes agent admin socket paths absolute and strips IPv6 brackets', async () => {
    const c = (await load('console: { address: "[::1]", port: 9000, refresh_interval: 500ms, agent_admin_socket_paths: [run/admin.sock] }\n')).console;
    expect(c).toEqual({ address: '::1', port: 9000, refreshIntervalMs: 500, agentAdminSocketPaths: [join(tmp.path, 'run/admin.sock')] });
  });

  it.each(['0.0.0.0', '::', '10.0.0.1', 'example.org', '[::2]'])('refuses the non-loopback address %s, naming the key', async (address) => {
    const err = await load(`console: { address: "${address}" }\n`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain('console.address');
    expect((err as Error).message).toContain('must be a loopback address');
  });

  it.each(['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost'])('accepts the loopback address %s', (a) => {
    expect(loopbackAddressProblem(a)).toBeUndefined();
  });

  it('refuses a refresh interval under 200ms', async () => {
    const err = await load('console: { refresh_interval: 10ms }\n').catch((e: unknown) => e);
    expect((err as Error).message).toContain('console.refresh_interval');
  });
});
