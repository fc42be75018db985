// The k8sbundle notifier against a real kube-apiserver: the bundle lands in
// the ConfigMap key (other keys untouched), an unchanged bundle is not
// written again, servers racing on the ConfigMap all succeed (conflicts are
// retried with a fresh read), and a missing ConfigMap is named.
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../../src/common/log.ts';
import { K8sBundleNotifier, bundlePem } from '../../../../src/server/plugins/notifier/k8sbundle/k8sbundle.ts';
import { startKubeApiserver, type KubeApiserver } from '../../../helpers/kube-apiserver.ts';
import { CA_KU, makeCert } from '../../../helpers/test-ca.ts';

let k8s: KubeApiserver;
let cas: X509Certificate[];
const log = createLogger({ level: 'error' });
const notifier = (configMap = 'spire-bundle') =>
  new K8sBundleNotifier({ namespace: 'spire', configMap, configMapKey: 'bundle.crt', kubeConfigFile: k8s.kubeconfigPath }, log);
const bundle = (...certs: X509Certificate[]) => ({ trustDomain: 'example.org', sequenceNumber: certs.length, x509Authorities: certs });
const configMap = () => k8s.client.get('/api/v1/namespaces/spire/configmaps/spire-bundle');

beforeAll(async () => {
  k8s = await startKubeApiserver();
  await k8s.ensureServiceAccount('spire', 'spire-server');
  await k8s.client.create('/api/v1/namespaces/spire/configmaps', { metadata: { name: 'spire-bundle' }, data: { 'other.key': 'kept' } });
  cas = await Promise.all([0, 1, 2, 3, 4].map(async (i) => (await makeCert({ ca: true, keyUsage: CA_KU, subject: `CN=CA ${i}` })).cert));
}, 120_000);
afterAll(async () => { await k8s?.stop(); });

describe('k8sbundle notifier', () => {
  it('writes the X.509 authorities as PEM to the key, leaving other keys alone', async () => {
    await notifier().bundleLoaded(bundle(cas[0]!, cas[1]!));
    const cm = await configMap();
    expect(cm.data['bundle.crt']).toBe(cas[0]!.toString() + cas[1]!.toString());
    expect(cm.data['bundle.crt']).toBe(bundlePem(bundle(cas[0]!, cas[1]!)));
    expect(cm.data['other.key']).toBe('kept');
  });

  it('does not write an unchanged bundle again', async () => {
    const before = (await configMap()).metadata.resourceVersion;
    await notifier().bundleUpdated(bundle(cas[0]!, cas[1]!));
    expect((await configMap()).metadata.resourceVersion).toBe(before);
  });

  it('servers racing on the ConfigMap all succeed; the last write is whole', async () => {
    await Promise.all(cas.map((ca) => notifier().bundleUpdated(bundle(ca))));
    const written = (await configMap()).data['bundle.crt'];
    expect(cas.map((c) => c.toString())).toContain(written);
  });

  it('names the ConfigMap it cannot find (it never creates one)', async () => {
    await expect(notifier('nope').bundleUpdated(bundle(cas[0]!))).rejects.toThrow(
      'k8sbundle: unable to update: spire/nope: unable to get object spire/nope: kubernetes: GET /api/v1/namespaces/spire/configmaps/nope: 404 NotFound: configmaps "nope" not found',
    );
  });
});
