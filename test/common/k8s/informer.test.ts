// The informer against a real kube-apiserver: list, then watch; a watch the
// server ends is resumed from the last resourceVersion (no relist, no missed
// or repeated event); a failing list is retried.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient } from '../../../src/common/k8s/client.ts';
import { Informer } from '../../../src/common/k8s/informer.ts';
import { startKubeApiserver, type KubeApiserver } from '../../helpers/kube-apiserver.ts';
import { waitFor } from '../../helpers/wait.ts';

interface Obj { metadata?: { name?: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> } }

describe('Informer', () => {
  let k8s: KubeApiserver;
  beforeAll(async () => {
    k8s = await startKubeApiserver();
  }, 120_000);
  afterAll(async () => {
    await k8s?.stop();
  });

  it('lists, then follows changes across watches the server ends, without relisting', async () => {
    await k8s.client.create('/api/v1/namespaces', { metadata: { name: 'inf' } });
    await k8s.client.create('/api/v1/namespaces/inf/configmaps', { metadata: { name: 'before' } });
    const events: string[] = [];
    let syncs = 0;
    let watches = 0;
    // The real client, counting the watches it opens.
    const client = { request: (m: string, p: string) => k8s.client.request(m, p), watch: (...a: Parameters<KubeClient['watch']>) => (watches++, k8s.client.watch(...a)) };
    const inf = new Informer<Obj>(client, {
      path: '/api/v1/namespaces/inf/configmaps',
      query: new URLSearchParams({ labelSelector: 'kind!=ignored' }),
      watchTimeoutSeconds: 1,
      onChange: (type, o) => events.push(`${type} ${o.metadata?.name}`),
      onSync: () => syncs++,
    }).start();
    try {
      await inf.synced;
      // No controller-manager here: nothing else (kube-root-ca.crt) is in the namespace.
      expect([...inf.items].map((o) => o.metadata?.name)).toEqual(['before']);
      events.length = 0;
      // Each change lands in a different watch (each lasts 1 s).
      for (const name of ['a', 'b', 'c']) {
        await k8s.client.create('/api/v1/namespaces/inf/configmaps', { metadata: { name } });
        await waitFor(`ADDED ${name}`, () => events.includes(`ADDED ${name}`), { timeoutMs: 10_000 });
        const w = watches;
        await waitFor('the server to end the watch and the informer to resume', () => watches > w, { timeoutMs: 10_000 });
      }
      await k8s.client.create('/api/v1/namespaces/inf/configmaps', { metadata: { name: 'skipped', labels: { kind: 'ignored' } } });
      await k8s.client.mergePatch('/api/v1/namespaces/inf/configmaps/a', { data: { x: '1' } });
      await k8s.client.delete('/api/v1/namespaces/inf/configmaps/b');
      await waitFor('DELETED b', () => events.includes('DELETED b'), { timeoutMs: 10_000 });
      expect(events).toEqual(['ADDED a', 'ADDED b', 'ADDED c', 'MODIFIED a', 'DELETED b']);
      expect(syncs).toBe(1);
      expect([...inf.items].map((o) => o.metadata?.name).sort()).toEqual(expect.arrayContaining(['a', 'before', 'c']));
      expect([...inf.items].some((o) => o.metadata?.name === 'b' || o.metadata?.name === 'skipped')).toBe(false);
    } finally {
      await inf.stop();
    }
  }, 60_000);

  it('retries a list that fails (here: forbidden) and reports each error', async () => {
    const token = await (async () => {
      await k8s.ensureServiceAccount('inf', 'nobody');
      return k8s.createToken('inf', 'nobody');
    })();
    const errors: string[] = [];
    const inf = new Informer<Obj>(new KubeClient({ server: k8s.url, caPem: k8s.caPem, token }), {
      path: '/api/v1/namespaces/inf/configmaps',
      retryMs: 50,
      onError: (err) => errors.push((err as Error).message),
    }).start();
    try {
      await waitFor('two failed lists', () => errors.length >= 2, { timeoutMs: 10_000 });
      expect(errors[0]).toContain('403');
    } finally {
      await inf.stop();
    }
  }, 30_000);
});
