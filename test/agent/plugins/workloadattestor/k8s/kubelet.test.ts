// The kubelet client's configuration (SPIRE's reloadKubeletClient rules),
// checked where it needs no network: which credentials are read, and the
// errors naming what is missing. Talking to a kubelet is not tested: no
// kubelet can run here (docs/kubernetes-workloads.md).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KubeletClient, type KubeletClientConfig } from '../../../../../src/agent/plugins/workloadattestor/k8s/kubelet.ts';

const dir = mkdtempSync(join(tmpdir(), 'kubelet-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};
const base: KubeletClientConfig = {
  secure: true,
  port: 10250,
  nodeName: '',
  skipKubeletVerification: false,
  kubeletCaPath: '',
  tokenPath: '',
  certificatePath: '',
  privateKeyPath: '',
  useAnonymousAuthentication: false,
  reloadIntervalMs: 60_000,
};

describe('KubeletClient configuration', () => {
  it('the read-only port reads no credentials', () => {
    expect(() => new KubeletClient({ ...base, secure: false, port: 10255, kubeletCaPath: '/nonexistent' })).not.toThrow();
  });
  it('the secure port needs the kubelet CA unless verification is skipped', () => {
    expect(() => new KubeletClient({ ...base, kubeletCaPath: join(dir, 'missing-ca.crt') })).toThrow(`unable to load kubelet CA: ENOENT`);
    expect(() => new KubeletClient({ ...base, skipKubeletVerification: true, tokenPath: file('token', 'abc\n') })).not.toThrow();
  });
  it('a token by default, a client certificate when given, nothing when anonymous', () => {
    const ca = file('ca.crt', 'not checked until a connection is made');
    expect(() => new KubeletClient({ ...base, kubeletCaPath: ca, tokenPath: join(dir, 'missing-token') })).toThrow('unable to load token: ENOENT');
    expect(() => new KubeletClient({ ...base, kubeletCaPath: ca, certificatePath: file('c.pem', 'x'), privateKeyPath: join(dir, 'missing.key') })).toThrow('unable to load private key: ENOENT');
    expect(() => new KubeletClient({ ...base, kubeletCaPath: ca, useAnonymousAuthentication: true, tokenPath: join(dir, 'missing-token') })).not.toThrow();
  });
});
