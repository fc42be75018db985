// A real Kubernetes control plane for tests: one etcd and one kube-apiserver
// (built by scripts/setup from the Go module proxy) on free loopback ports,
// with their PKI, data and logs in a temp dir. No controller-manager,
// scheduler or kubelet (../shared/k8s/README.md): tests create every
// ServiceAccount a Pod names, set spec.nodeName themselves, patch pod status
// through the status subresource, and force-delete pods.
//
//   const k8s = await startKubeApiserver();
//   await k8s.client.create('/api/v1/namespaces', { metadata: { name: 'spire' } });
//   const token = await k8s.createToken('spire', 'spire-agent', { audience: 'spire-server', podName: 'p' });
//   await k8s.stop();
import { writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { kubeApiserverBinaries } from '../../demo/lib/tools.ts';
import { KubeClient, kubeconfigYaml } from '../../src/common/k8s/client.ts';
import { freePorts } from './ports.ts';
import { runCommand, startProcess, type RunningProcess } from './process.ts';
import { makeTempDir } from './tmp.ts';
import { waitFor } from './wait.ts';

export interface KubeApiserver {
  /** https://127.0.0.1:<port> */
  readonly url: string;
  readonly caPem: string;
  /** A static token of the `system:masters` group. */
  readonly adminToken: string;
  /** A kubeconfig file for the admin (for kubectl and for plugins' kube_config_file). */
  readonly kubeconfigPath: string;
  /** The service-account token issuer (`iss` of minted tokens). */
  readonly issuer: string;
  readonly dir: string;
  /** A client acting as the admin. */
  readonly client: KubeClient;
  /** Runs kubectl against this server as the admin; rejects with its output on a non-zero exit. */
  kubectl(args: string[], opts?: { input?: string; kubeconfig?: string }): Promise<string>;
  /**
   * A service-account token from the TokenRequest API; with `podName`, bound
   * to that Pod (a projected token, as the kubelet mounts it: PSAT).
   */
  createToken(namespace: string, serviceAccount: string, opts?: { audience?: string; podName?: string; expirationSeconds?: number }): Promise<string>;
  /** A client (and a kubeconfig file for it) acting with `token`: run code with exactly a service account's RBAC. */
  clientForToken(token: string): Promise<{ client: KubeClient; kubeconfigPath: string }>;
  /** Creates the namespace and the service account unless they exist (nothing makes `default` SAs here). */
  ensureServiceAccount(namespace: string, serviceAccount: string): Promise<void>;
  /** A Node object (no kubelet behind it); resolves with it (metadata.uid …). */
  createNode(name: string, labels?: Record<string, string>): Promise<any>;
  /**
   * A Pod bound to `nodeName` (there is no scheduler), with its service
   * account created first; `status` is then set through the status
   * subresource (hostIP, podIP, containerStatuses …), as a kubelet would.
   */
  createPod(p: { namespace: string; name: string; serviceAccount?: string; nodeName: string; labels?: Record<string, string>; containers?: any[]; status?: any }): Promise<any>;
  /** Merge-patches a Pod's status (the status subresource). */
  patchPodStatus(namespace: string, name: string, status: any): Promise<any>;
  /** Deletes a Pod at once (grace period 0: no kubelet will ever confirm a graceful delete). */
  forceDeletePod(namespace: string, name: string): Promise<void>;
  /** etcd's and kube-apiserver's output (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

const ISSUER = 'https://kubernetes.default.svc.cluster.local';

async function openssl(dir: string, args: string[]): Promise<void> {
  const r = await runCommand('openssl', args, { cwd: dir, timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`test/helpers/kube-apiserver: openssl ${args.join(' ')} failed:\n${r.stderr}`);
}

/** A CA, the serving certificate (127.0.0.1, localhost) and the service-account key pair. */
async function makePki(dir: string): Promise<void> {
  await openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=herald-test-kube-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature']);
  await openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'apiserver.key', '-out', 'apiserver.csr', '-subj', '/CN=kube-apiserver']);
  await writeFile(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n');
  await openssl(dir, ['x509', '-req', '-in', 'apiserver.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'server.ext', '-out', 'apiserver.crt']);
  await openssl(dir, ['genrsa', '-out', 'sa.key', '2048']);
  await openssl(dir, ['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub']);
}

export async function startKubeApiserver(): Promise<KubeApiserver> {
  const bins = kubeApiserverBinaries();
  const tmp = await makeTempDir('herald-k8s-');
  const dir = tmp.path;
  let etcd: RunningProcess | undefined;
  let apiserver: RunningProcess | undefined;
  const log = () => `--- etcd ---\n${etcd?.output().slice(-4000) ?? ''}\n--- kube-apiserver ---\n${apiserver?.output().slice(-8000) ?? ''}`;
  const stop = async () => {
    await apiserver?.stop('SIGTERM', 10_000);
    await etcd?.stop('SIGTERM', 10_000);
    await tmp.cleanup();
  };
  try {
    await makePki(dir);
    const adminToken = `admin-${crypto.randomUUID()}`;
    await writeFile(join(dir, 'tokens.csv'), `${adminToken},admin,admin-uid,system:masters\n`, { mode: 0o600 });
    const [etcdClient, etcdPeer, apiPort] = (await freePorts(3)) as [number, number, number];
    etcd = startProcess(bins.etcd, [
      '--name', 'test', '--data-dir', join(dir, 'etcd-data'),
      '--listen-client-urls', `http://127.0.0.1:${etcdClient}`, '--advertise-client-urls', `http://127.0.0.1:${etcdClient}`,
      '--listen-peer-urls', `http://127.0.0.1:${etcdPeer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${etcdPeer}`,
      '--initial-cluster', `test=http://127.0.0.1:${etcdPeer}`, '--listen-metrics-urls', '', '--log-level', 'warn',
    ], { cwd: dir });
    await waitFor('etcd healthy', async () => {
      if (etcd!.child.exitCode !== null) throw new Error(`etcd exited:\n${etcd!.output()}`);
      const r = await fetch(`http://127.0.0.1:${etcdClient}/health`).catch(() => undefined);
      return r?.ok ? ((await r.json()) as { health?: string }).health === 'true' : false;
    }, { timeoutMs: 30_000, intervalMs: 100 });

    apiserver = startProcess(bins.apiserver, [
      '--etcd-servers', `http://127.0.0.1:${etcdClient}`,
      '--bind-address', '127.0.0.1', '--advertise-address', '127.0.0.1', '--secure-port', String(apiPort),
      '--tls-cert-file', join(dir, 'apiserver.crt'), '--tls-private-key-file', join(dir, 'apiserver.key'),
      '--client-ca-file', join(dir, 'ca.crt'), '--token-auth-file', join(dir, 'tokens.csv'),
      '--service-account-issuer', ISSUER,
      '--service-account-key-file', join(dir, 'sa.pub'), '--service-account-signing-key-file', join(dir, 'sa.key'),
      '--authorization-mode', 'RBAC', '--service-cluster-ip-range', '10.0.0.0/24',
      '--cert-dir', join(dir, 'cert-dir'), '--profiling=false',
      // A loopback advertise address makes the `kubernetes` Endpoints invalid: do not reconcile them.
      '--endpoint-reconciler-type', 'none',
    ], { cwd: dir });
    const url = `https://127.0.0.1:${apiPort}`;
    const caPem = await readFile(join(dir, 'ca.crt'), 'utf8');
    const client = new KubeClient({ server: url, caPem, token: adminToken });
    await waitFor('kube-apiserver /readyz', async () => {
      if (apiserver!.child.exitCode !== null) throw new Error(`kube-apiserver exited:\n${apiserver!.output().slice(-4000)}`);
      return (await client.request('GET', '/readyz').catch(() => undefined)) === 'ok';
    }, { timeoutMs: 90_000, intervalMs: 200 });
    await waitFor('the default namespace', () => client.get('/api/v1/namespaces/default').then(() => true), { timeoutMs: 30_000, intervalMs: 200 });

    const kubeconfigPath = join(dir, 'admin.kubeconfig');
    await writeFile(kubeconfigPath, kubeconfigYaml(url, caPem, adminToken, 'admin'), { mode: 0o600 });
    let clients = 0;
    const ignoreConflict = (err: unknown) => { if ((err as { status?: number }).status !== 409) throw err; };
    const ensureServiceAccount = async (namespace: string, serviceAccount: string) => {
      await client.create('/api/v1/namespaces', { metadata: { name: namespace } }).catch(ignoreConflict);
      await client.create(`/api/v1/namespaces/${namespace}/serviceaccounts`, { metadata: { name: serviceAccount } }).catch(ignoreConflict);
    };
    const patchPodStatus = (namespace: string, name: string, status: any) =>
      client.mergePatch(`/api/v1/namespaces/${namespace}/pods/${name}/status`, { status });
    const kubectl = async (args: string[], opts: { input?: string; kubeconfig?: string } = {}) => {
      const r = await runCommand(bins.kubectl, ['--kubeconfig', opts.kubeconfig ?? kubeconfigPath, ...args], { cwd: dir, input: opts.input, timeoutMs: 60_000 });
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
      return r.stdout;
    };
    return {
      url,
      caPem,
      adminToken,
      kubeconfigPath,
      issuer: ISSUER,
      dir,
      client,
      kubectl,
      async createToken(namespace, serviceAccount, opts = {}) {
        const spec: Record<string, unknown> = { expirationSeconds: opts.expirationSeconds ?? 3600 };
        if (opts.audience !== undefined) spec.audiences = [opts.audience];
        if (opts.podName !== undefined) {
          const pod = await client.get(`/api/v1/namespaces/${namespace}/pods/${opts.podName}`);
          spec.boundObjectRef = { kind: 'Pod', apiVersion: 'v1', name: opts.podName, uid: pod.metadata.uid };
        }
        const tr = await client.create(`/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec });
        return tr.status.token as string;
      },
      async clientForToken(token) {
        const path = join(dir, `client-${++clients}.kubeconfig`);
        await writeFile(path, kubeconfigYaml(url, caPem, token, 'sa'), { mode: 0o600 });
        return { client: new KubeClient({ server: url, caPem, token }), kubeconfigPath: path };
      },
      ensureServiceAccount,
      createNode: (name, labels = {}) => client.create('/api/v1/nodes', { metadata: { name, labels } }),
      async createPod(p) {
        const sa = p.serviceAccount ?? 'default';
        await ensureServiceAccount(p.namespace, sa);
        const pod = await client.create(`/api/v1/namespaces/${p.namespace}/pods`, {
          metadata: { name: p.name, labels: p.labels ?? {} },
          spec: { serviceAccountName: sa, nodeName: p.nodeName, containers: p.containers ?? [{ name: 'main', image: 'example.invalid/main:test' }] },
        });
        return p.status === undefined ? pod : patchPodStatus(p.namespace, p.name, p.status);
      },
      patchPodStatus,
      async forceDeletePod(namespace, name) {
        await client.delete(`/api/v1/namespaces/${namespace}/pods/${name}?gracePeriodSeconds=0`);
      },
      log,
      stop,
    };
  } catch (err) {
    const out = log();
    await stop();
    throw new Error(`${(err as Error).message}\n${out}`, { cause: err });
  }
}
