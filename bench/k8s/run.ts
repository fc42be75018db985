// Kubernetes benchmark (issue 19), against a real etcd + kube-apiserver:
//  - control-plane start (etcd + kube-apiserver until /readyz), as each test file pays it;
//  - k8s_psat attestations (TokenReview + Pod + Node reads): latency one at a time,
//    and attestations/s with CONCURRENCY in flight;
//  - k8sbundle: time from a bundle change to the ConfigMap update seen by a watcher.
//   npm run bench:k8s [-- attestations concurrency]
import { X509Certificate } from 'node:crypto';
import { percentile } from '../lib/percentile.ts';
import { createLogger } from '../../src/common/log.ts';
import { K8sPsatAttestor } from '../../src/server/plugins/nodeattestor/k8s_psat/k8s-psat.ts';
import { K8sBundleNotifier } from '../../src/server/plugins/notifier/k8sbundle/k8sbundle.ts';
import { TrustDomain } from '../../src/spiffe/trust-domain.ts';
import { startKubeApiserver } from '../../test/helpers/kube-apiserver.ts';
import { CA_KU, makeCert } from '../../test/helpers/test-ca.ts';

const N = Number(process.argv[2] ?? 200);
const CONCURRENCY = Number(process.argv[3] ?? 8);
const ms = (v: number) => `${v.toFixed(1)} ms`;

const t0 = performance.now();
const k8s = await startKubeApiserver();
const startMs = performance.now() - t0;
try {
  await k8s.createNode('node-1');
  await k8s.createPod({ namespace: 'spire', name: 'agent', serviceAccount: 'spire-agent', nodeName: 'node-1' });
  await k8s.client.create('/api/v1/namespaces/spire/configmaps', { metadata: { name: 'spire-bundle' } });
  const token = await k8s.createToken('spire', 'spire-agent', { audience: 'spire-server', podName: 'agent' });
  const attestor = new K8sPsatAttestor(TrustDomain.fromString('example.org'), new Map([['c', {
    serviceAccounts: new Set(['spire:spire-agent']), audience: ['spire-server'], kubeConfigFile: k8s.kubeconfigPath,
    allowedNodeLabelKeys: new Set<string>(), allowedPodLabelKeys: new Set<string>(),
  }]]));
  const payload = Buffer.from(JSON.stringify({ cluster: 'c', token }));
  for (let i = 0; i < 10; i++) await attestor.attest(payload); // warm-up

  const one: number[] = [];
  for (let i = 0; i < N; i++) {
    const s = performance.now();
    await attestor.attest(payload);
    one.push(performance.now() - s);
  }
  let next = 0;
  const c0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => { while (next++ < N) await attestor.attest(payload); }));
  const perSecond = N / ((performance.now() - c0) / 1000);

  const cas = await Promise.all([0, 1].map(async (i) => (await makeCert({ ca: true, keyUsage: CA_KU, subject: `CN=CA ${i}` })).cert));
  const notifier = new K8sBundleNotifier({ namespace: 'spire', configMap: 'spire-bundle', configMapKey: 'bundle.crt', kubeConfigFile: k8s.kubeconfigPath }, createLogger({ level: 'error' }));
  const seen: number[] = [];
  for (let i = 0; i < 20; i++) {
    const cm = await k8s.client.get('/api/v1/namespaces/spire/configmaps/spire-bundle');
    const ac = new AbortController();
    const s = performance.now();
    const watched = k8s.client.watch(`/api/v1/namespaces/spire/configmaps?fieldSelector=metadata.name%3Dspire-bundle&resourceVersion=${cm.metadata.resourceVersion}`, (e) => {
      if (e.type === 'MODIFIED') { seen.push(performance.now() - s); ac.abort(); }
    }, ac.signal);
    await notifier.bundleUpdated({ trustDomain: 'example.org', sequenceNumber: i, x509Authorities: [cas[i % 2] as X509Certificate] });
    await watched;
  }

  one.sort((a, b) => a - b);
  seen.sort((a, b) => a - b);
  console.log(`control plane start (etcd + kube-apiserver ready): ${ms(startMs)}`);
  console.log(`k8s_psat attest, one at a time (${N}): p50 ${ms(percentile(one, 50))}, p99 ${ms(percentile(one, 99))}`);
  console.log(`k8s_psat attest, ${CONCURRENCY} in flight: ${perSecond.toFixed(0)} attestations/s`);
  console.log(`k8sbundle, bundle change → ConfigMap watch event (20): p50 ${ms(percentile(seen, 50))}, p99 ${ms(percentile(seen, 99))}`);
} finally {
  await k8s.stop();
}
