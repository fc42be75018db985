import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/common/clock.ts';
import { HeraldError } from '../../../src/common/errors.ts';
import { loadCatalog, type ServerCatalog } from '../../../src/server/catalog/catalog.ts';
import { loadServerConfig } from '../../../src/server/config.ts';
import type { ServerRuntimeConfig } from '../../../src/server/config-runtime.ts';
import { TrustDomain } from '../../../src/spiffe/trust-domain.ts';
import { makePopCert } from '../../helpers/x509pop.ts';
import { makeTempDir } from '../../helpers/tmp.ts';

let tmp: { path: string; cleanup: () => Promise<void> };
let loaded: ServerCatalog | undefined;
beforeEach(async () => {
  tmp = await makeTempDir('herald-scat-');
});
afterEach(async () => {
  await loaded?.close();
  loaded = undefined;
  await tmp.cleanup();
});

const config = (plugins: string): Promise<ServerRuntimeConfig> =>
  loadServerConfig({ cwd: tmp.path, text: `server:\n  trust_domain: example.org\n  data_dir: data\nplugins:\n  DataStore: { sql: {} }\n${plugins}` });

async function load(plugins: string): Promise<ServerCatalog> {
  const c = await config(plugins);
  loaded = await loadCatalog(c.plugins, { trustDomain: c.trustDomain, dataDir: c.dataDir, clock: systemClock, log: pino({ level: 'silent' }), caSubject: { country: ['US'], organization: ['SPIFFE'] } });
  return loaded;
}

describe('server loadCatalog', () => {
  it('builds exactly the declared node attestors, by attestation data type', async () => {
    expect([...(await load('  KeyManager: { memory: {} }\n  NodeAttestor: { join_token: {} }\n')).nodeAttestors.keys()]).toEqual(['join_token']);
    await loaded!.close();
    makePopCert(tmp.path, 'node-ca', { ca: true });
    const c = await load('  KeyManager: { memory: {} }\n  NodeAttestor: { x509pop: { plugin_data: { ca_bundle_path: node-ca.pem } } }\n');
    expect([...c.nodeAttestors.keys()]).toEqual(['x509pop']);
    expect(c.upstreamAuthority).toBeUndefined();
    // uniqueid is loaded without being declared (the seed-000 subject).
    expect(c.composers.map((x) => x.name)).toEqual(['uniqueid']);
  });

  it('builds the datastore where configure() put it, and the key manager the config names', async () => {
    const c = await load('  KeyManager: { disk: {} }\n');
    expect(c.keyManager.durable).toBe(true);
    expect(await c.dataStore.getBundle(TrustDomain.require('example.org'))).toBeUndefined();
    expect((await readdir(join(tmp.path, 'data'))).filter((f) => f.startsWith('datastore.sqlite3'))).toContain('datastore.sqlite3');
  });

  it('loads the uniqueid composer unless it is declared with enabled: false, and once when declared', async () => {
    expect((await load('  KeyManager: { memory: {} }\n  CredentialComposer: { uniqueid: { enabled: false } }\n')).composers).toEqual([]);
    await loaded!.close();
    const hcl = await loadServerConfig({
      cwd: tmp.path,
      configPath: 'server.conf',
      text: 'server { trust_domain = "example.org"\n data_dir = "data" }\nplugins {\n DataStore "sql" { plugin_data {} }\n KeyManager "memory" { plugin_data {} }\n CredentialComposer "uniqueid" { enabled = false }\n}\n',
    });
    expect(hcl.plugins.map((p) => p.name)).toEqual(['sql', 'memory']);
    expect((await load('  KeyManager: { memory: {} }\n  CredentialComposer: { uniqueid: {} }\n')).composers.map((x) => x.name)).toEqual(['uniqueid']);
  });

  it('a plugin that fails closes the datastore again and reports the plugin', async () => {
    const err = await load('  KeyManager: { memory: {} }\n  UpstreamAuthority: { disk: { plugin_data: { cert_file_path: missing.crt, key_file_path: missing.key } } }\n').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HeraldError);
    expect((err as HeraldError).message).toMatch(/^UpstreamAuthority "disk": cert_file_path .*missing\.crt/);
    // What it built was closed; a new catalog opens the same database.
    loaded = undefined;
    expect((await load('  KeyManager: { memory: {} }\n')).keyManager.durable).toBe(false);
  });
});
