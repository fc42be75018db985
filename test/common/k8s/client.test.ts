// The Kubernetes client against a real kube-apiserver (test/helpers/kube-apiserver.ts):
// kubeconfig files, errors that name the API server's reason, merge patches,
// watches, and RBAC seen through a service account's own token.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeApiError, KubeClient, parseKubeconfig } from '../../../src/common/k8s/client.ts';
import { startKubeApiserver, type KubeApiserver } from '../../helpers/kube-apiserver.ts';

let k8s: KubeApiserver;
beforeAll(async () => { k8s = await startKubeApiserver(); }, 120_000);
afterAll(async () => { await k8s?.stop(); });

describe('KubeClient', () => {
  it('reads a kubeconfig (current context, embedded CA, token) and talks to the server', async () => {
    const client = KubeClient.fromKubeconfig(k8s.kubeconfigPath);
    const ns = await client.get('/api/v1/namespaces/default');
    expect(ns.metadata.name).toBe('default');
    // kubectl reads the same file
    expect(await k8s.kubectl(['get', 'namespace', 'default', '-o', 'jsonpath={.metadata.name}'])).toBe('default');
  });

  it('reads files a kubeconfig names relative to itself, and rejects what it cannot use', async () => {
    await writeFile(join(k8s.dir, 'rel-ca.crt'), k8s.caPem);
    await writeFile(join(k8s.dir, 'rel-token'), k8s.adminToken);
    const path = join(k8s.dir, 'rel.kubeconfig');
    await writeFile(path, [
      'apiVersion: v1', 'kind: Config', 'current-context: c',
      `clusters: [{name: k, cluster: {server: "${k8s.url}", certificate-authority: rel-ca.crt}}]`,
      'users: [{name: u, user: {tokenFile: rel-token}}]',
      'contexts: [{name: c, context: {cluster: k, user: u}}]',
    ].join('\n'));
    expect((await KubeClient.fromKubeconfig(path).get('/api/v1/namespaces/default')).metadata.name).toBe('default');
    expect(() => parseKubeconfig('current-context: nope\ncontexts: []\n', k8s.dir)).toThrow('kubernetes: kubeconfig: context "nope" not found');
    expect(() => KubeClient.inCluster({})).toThrow(/not running in a cluster/);
  });

  it('in a pod: the service host and port from the environment, the mounted CA and the current token', async () => {
    const sa = join(k8s.dir, 'in-cluster');
    await mkdir(sa);
    const env = { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: new URL(k8s.url).port };
    expect(() => KubeClient.inCluster(env, sa)).toThrow(`kubernetes: in-cluster config: cannot read ${sa}/ca.crt: ENOENT`);
    await writeFile(join(sa, 'ca.crt'), k8s.caPem);
    await writeFile(join(sa, 'token'), 'not-a-valid-token');
    const client = KubeClient.inCluster(env, sa);
    await expect(client.get('/api/v1/namespaces/default')).rejects.toThrow(/401 Unauthorized/);
    // The kubelet rotates the token in place: the next request uses the new one.
    await writeFile(join(sa, 'token'), k8s.adminToken);
    expect((await client.get('/api/v1/namespaces/default')).metadata.name).toBe('default');
  });

  it('rejects with the Status reason and message; refuses an unknown CA', async () => {
    const err = await k8s.client.get('/api/v1/namespaces/default/pods/nope').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).status).toBe(404);
    expect((err as KubeApiError).message).toBe('kubernetes: GET /api/v1/namespaces/default/pods/nope: 404 NotFound: pods "nope" not found');
    const untrusting = new KubeClient({ server: k8s.url, token: k8s.adminToken });
    await expect(untrusting.get('/api/v1/namespaces/default')).rejects.toThrow(/kubernetes: GET \/api\/v1\/namespaces\/default: .*certificate/);
  });

  it('merge-patches a ConfigMap and watches the change from the resourceVersion before it', async () => {
    const cm = await k8s.client.create('/api/v1/namespaces/default/configmaps', { metadata: { name: 'watched' }, data: { a: '1' } });
    const events: { type: string; object: any }[] = [];
    const ac = new AbortController();
    const watching = k8s.client.watch(`/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%3Dwatched&resourceVersion=${cm.metadata.resourceVersion}`, (e) => {
      events.push(e);
      if (e.type === 'MODIFIED') ac.abort();
    }, ac.signal);
    await k8s.client.mergePatch('/api/v1/namespaces/default/configmaps/watched', { data: { a: '2' } });
    await watching;
    expect(events.at(-1)).toMatchObject({ type: 'MODIFIED', object: { data: { a: '2' } } });
  });

  it('acts with exactly a service account\'s RBAC through its own token', async () => {
    await k8s.client.create('/api/v1/namespaces/default/serviceaccounts', { metadata: { name: 'nobody' } });
    const token = await k8s.createToken('default', 'nobody');
    const { client } = await k8s.clientForToken(token);
    await expect(client.get('/api/v1/namespaces/default/configmaps')).rejects.toThrow(/403 Forbidden: configmaps is forbidden: User "system:serviceaccount:default:nobody"/);
  });
});
