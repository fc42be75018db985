// k8s_psat, agent side: SPIRE's payload ({"cluster","token"}), the token read
// again on every attestation (the kubelet rotates it), clear errors when it
// cannot be read. The round trip with the server attestor and a real
// kube-apiserver is in test/e2e/k8s-psat.test.ts.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { k8sPsatAttestor } from '../../../../src/agent/plugins/nodeattestor/k8s_psat/k8s-psat.ts';
import { plugin } from '../../../../src/agent/plugins/nodeattestor/k8s_psat/plugin.ts';
import { HeraldError } from '../../../../src/common/errors.ts';
import { makeTempDir } from '../../../helpers/tmp.ts';

describe('k8s_psat agent attestor', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  beforeAll(async () => { tmp = await makeTempDir('herald-agent-psat-'); });
  afterAll(() => tmp.cleanup());

  it('sends the current token of token_path with the cluster name, and can attest again', async () => {
    const tokenPath = join(tmp.path, 'token');
    const a = k8sPsatAttestor({ cluster: 'mycluster', tokenPath });
    expect(a.type).toBe('k8s_psat');
    expect(a.canReattest).toBe(true);
    await writeFile(tokenPath, 'first.token.jwt');
    expect(JSON.parse((await a.attestationData()).toString())).toEqual({ cluster: 'mycluster', token: 'first.token.jwt' });
    await writeFile(tokenPath, 'rotated.token.jwt');
    expect((await a.attestationData()).toString()).toBe('{"cluster":"mycluster","token":"rotated.token.jwt"}');
  });

  it('names the token file it cannot use', async () => {
    const missing = k8sPsatAttestor({ cluster: 'c', tokenPath: join(tmp.path, 'nope') });
    const err = await missing.attestationData().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HeraldError);
    expect((err as HeraldError).code).toBe('ERR_INVALID_ARGUMENT_K8S_PSAT');
    expect((err as HeraldError).message).toMatch(new RegExp(`^k8s_psat: unable to load token from ${join(tmp.path, 'nope')}: ENOENT`));
    await writeFile(join(tmp.path, 'empty'), '');
    await expect(k8sPsatAttestor({ cluster: 'c', tokenPath: join(tmp.path, 'empty') }).attestationData()).rejects.toThrow(/is empty$/);
  });

  it('config: cluster is required; token_path defaults to SPIRE\'s', () => {
    expect(plugin.name).toBe('k8s_psat');
    const fields = (plugin.configSchema as { fields: Record<string, { required?: boolean; default?: unknown }> }).fields;
    expect(fields.cluster!.required).toBe(true);
    expect(fields.token_path!.default).toBe('/var/run/secrets/tokens/spire-agent');
  });
});
