import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/common/clock.ts';
import { HeraldError } from '../../../src/common/errors.ts';
import { loadCatalog, type AgentCatalog } from '../../../src/agent/catalog/catalog.ts';
import { loadAgentConfig } from '../../../src/agent/config.ts';
import { makePopCert } from '../../helpers/x509pop.ts';
import { makeTempDir } from '../../helpers/tmp.ts';

let tmp: { path: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  tmp = await makeTempDir('herald-acat-');
});
afterEach(async () => {
  await tmp.cleanup();
});

async function load(plugins: string, joinToken?: string): Promise<AgentCatalog> {
  const c = await loadAgentConfig({
    cwd: tmp.path,
    text: `agent:\n  trust_domain: example.org\n  insecure_bootstrap: true\n  data_dir: data\n${joinToken ? `  join_token: ${joinToken}\n` : ''}plugins:\n${plugins}`,
  });
  return loadCatalog(c.plugins, { trustDomain: c.trustDomain, dataDir: c.dataDir, joinToken: c.joinToken, clock: systemClock, log: pino({ level: 'silent' }) });
}

const JOIN = '  KeyManager: { memory: {} }\n  NodeAttestor: { join_token: {} }\n  WorkloadAttestor: { unix: {} }\n';

describe('agent loadCatalog', () => {
  it('builds exactly the declared workload attestors', async () => {
    const c = await load(JOIN);
    expect(c.workloadAttestors.map((a) => a.name)).toEqual(['unix']);
    expect(c.svidStores).toEqual([]);
  });

  it('the KeyManager says whether the agent SVID key may be written', async () => {
    expect((await load(JOIN)).keyManager).toEqual({ name: 'memory', durable: false });
    expect((await load(JOIN.replace('memory: {}', 'disk: {}'))).keyManager).toEqual({ name: 'disk', durable: true, directory: join(tmp.path, 'data') });
    expect((await load(JOIN.replace('memory: {}', 'disk: { plugin_data: { directory: keys } }'))).keyManager).toEqual({ name: 'disk', durable: true, directory: join(tmp.path, 'keys') });
  });

  it('join_token: attests with the token, builds nothing without one', async () => {
    expect((await load(JOIN)).nodeAttestor).toBeUndefined();
    const c = await load(JOIN, 'tok-1');
    expect(c.nodeAttestor?.type).toBe('join_token');
    expect((await c.nodeAttestor!.attestationData()).toString()).toBe('tok-1');
  });

  it('x509pop: checks its files at load; a join token wins over it without reading them (as SPIRE)', async () => {
    const pop = '  NodeAttestor: { x509pop: { plugin_data: { private_key_path: node.key, certificate_path: node.pem } } }\n';
    const plugins = JOIN.replace('  NodeAttestor: { join_token: {} }\n', pop);
    const err = await load(plugins).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HeraldError);
    expect((err as HeraldError).message).toMatch(/^NodeAttestor "x509pop": cannot read private_key_path /);
    expect((await load(plugins, 'tok-2')).nodeAttestor?.type).toBe('join_token');
    makePopCert(tmp.path, 'node');
    const c = await load(plugins);
    expect([c.nodeAttestor?.type, c.nodeAttestor?.canReattest]).toEqual(['x509pop', true]);
  });
});
