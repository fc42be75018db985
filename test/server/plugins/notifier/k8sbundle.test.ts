// The k8sbundle notifier against a real kube-apiserver: the bundle lands in
// the ConfigMap key (other keys untouched), an unchanged bundle is not
// written again, servers racing on the ConfigMap all succeed (conflicts are
// retried with a fresh read), and a missing ConfigMap is named.
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../../src/common/log.ts';
import { K8sBundleNotifier, bundlePem } from '../../../../src/server/plugins/notifier/k8sbundle/k8sbundle.ts';
import { startKubeApiserver, type KubeApiserver } from '../../../helpers/kube-apiserver.ts';
import { waitFor } from '../../../helpers/wait.ts';
import { CA_KU, makeCert } from '../../../helpers/test-ca.ts';

let k8s: KubeApiserver;
let cas: X509Certificate[];
const log = createLogger({ level: 'error' });
const notifier = (configMap = 'spire-bundle', labels: { webhookLabel?: string; apiServiceLabel?: string } = {}) =>
  new K8sBundleNotifier({ namespace: 'spire', configMap, configMapKey: 'bundle.crt', kubeConfigFile: k8s.kubeconfigPath, ...labels }, log);
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

  describe('webhook_label and api_service_label', () => {
    // Rules for a resource nobody has, failurePolicy Ignore: these webhooks never intercept anything.
    const webhookConfig = (name: string, labels: Record<string, string>) => ({
      metadata: { name, labels },
      webhooks: ['a', 'b'].map((w) => ({
        name: `${w}.${name}.example.com`, admissionReviewVersions: ['v1'], sideEffects: 'None', failurePolicy: 'Ignore',
        clientConfig: { service: { namespace: 'spire', name: 'hook' } },
        rules: [{ apiGroups: ['example.invalid'], apiVersions: ['v1'], resources: ['widgets'], operations: ['CREATE'] }],
      })),
    });
    const MUTATING = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';
    const VALIDATING = '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations';
    const APISERVICES = '/apis/apiregistration.k8s.io/v1/apiservices';
    const caBundles = async (path: string): Promise<string[]> => (await k8s.client.get(path)).webhooks.map((w: any) => w.clientConfig.caBundle ?? '');
    /** Open WATCH requests on mutating webhook configurations (the API server's own informers hold some). */
    const mutatingWatches = async (): Promise<number> => {
      const metrics: string = await k8s.client.get('/metrics');
      return metrics.split('\n').filter((l) => l.startsWith('apiserver_longrunning_requests{') && l.includes('resource="mutatingwebhookconfigurations"') && l.includes('verb="WATCH"'))
        .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    };
    const b64 = (...certs: X509Certificate[]) => Buffer.from(certs.map((c) => c.toString()).join('')).toString('base64');

    it('puts the bundle in every labelled webhook and APIService, leaves the others, and follows objects created later', async () => {
      await k8s.client.create(MUTATING, webhookConfig('labelled', { 'spiffe.io/webhook': 'true' }));
      await k8s.client.create(MUTATING, webhookConfig('unlabelled', {}));
      await k8s.client.create(VALIDATING, webhookConfig('labelled', { 'spiffe.io/webhook': 'true' }));
      await k8s.client.create(APISERVICES, {
        metadata: { name: 'v1alpha1.widgets.example.com', labels: { 'spiffe.io/apiservice': 'true' } },
        spec: { group: 'widgets.example.com', version: 'v1alpha1', groupPriorityMinimum: 100, versionPriority: 10, service: { namespace: 'spire', name: 'widgets' } },
      });
      const n = notifier('spire-bundle', { webhookLabel: 'spiffe.io/webhook', apiServiceLabel: 'spiffe.io/apiservice' });
      const baseline = await mutatingWatches();
      try {
        await n.bundleLoaded(bundle(cas[0]!, cas[1]!));
        expect(await caBundles(`${MUTATING}/labelled`)).toEqual([b64(cas[0]!, cas[1]!), b64(cas[0]!, cas[1]!)]);
        expect(await caBundles(`${VALIDATING}/labelled`)).toEqual([b64(cas[0]!, cas[1]!), b64(cas[0]!, cas[1]!)]);
        expect(await caBundles(`${MUTATING}/unlabelled`)).toEqual(['', '']);
        expect((await k8s.client.get(`${APISERVICES}/v1alpha1.widgets.example.com`)).spec.caBundle).toBe(b64(cas[0]!, cas[1]!));
        // The webhooks' other fields survive the patch.
        expect((await k8s.client.get(`${MUTATING}/labelled`)).webhooks[1]).toMatchObject({ failurePolicy: 'Ignore', clientConfig: { service: { name: 'hook' } } });

        await n.bundleUpdated(bundle(cas[2]!));
        expect(await caBundles(`${VALIDATING}/labelled`)).toEqual([b64(cas[2]!), b64(cas[2]!)]);

        // Created after the bundle was written: the watch gives it the current bundle.
        await k8s.client.create(MUTATING, webhookConfig('later', { 'spiffe.io/webhook': 'true' }));
        expect(await waitFor('the bundle in a later webhook', async () => {
          const got = await caBundles(`${MUTATING}/later`);
          return got.every((b) => b === b64(cas[2]!)) ? got : undefined;
        })).toHaveLength(2);
        expect(await mutatingWatches()).toBe(baseline + 1);
      } finally {
        n.close();
      }
      // Closed: its watch is gone (the API server's own count), so nothing updates a newcomer.
      await waitFor('the notifier\'s watch to end', async () => (await mutatingWatches()) === baseline);
      await k8s.client.create(MUTATING, webhookConfig('after-close', { 'spiffe.io/webhook': 'true' }));
      expect(await caBundles(`${MUTATING}/after-close`)).toEqual(['', '']);
    }, 30_000);
  });
});
