// Kubernetes workloads end to end, against a real kube-apiserver: a real
// herald-agent with the k8s workload attestor (pod_source = api_server, with
// read access to pods) attests processes placed in
// kubelet-style cgroups of Pods whose status names their container; a real
// herald-server registers them — by hand (seed 002: workloads under a node
// alias, `k8s:sa:workloada`) and automatically from a ClusterSPIFFEID
// (controller_manager, reading pods, namespaces, nodes and clusterspiffeids
// and patching their status; kubernetes-manifests.test.ts proves the minimal
// rules of deploy/kubernetes rule by rule). The agent attests with
// k8s_psat (a projected token bound to its pod); seed 002's node alias
// (`-node -selector k8s_psat:cluster:mycluster`) places the workloads.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_BIN, ROOT, startAgent, startServer, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { startKubeApiserver, type KubeApiserver } from '../helpers/kube-apiserver.ts';
import { cgroupSupport, kubeletCgroups, type KubeletCgroups, type KubeletContainer } from '../helpers/kubelet-cgroups.ts';
import { runCommand } from '../helpers/process.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';

const TD = 'example.org';
const NODE = 'node-1';
const ALIAS = `spiffe://${TD}/ns/spire/sa/spire-agent`;
const unsupported = cgroupSupport('v2');

interface ShownEntry {
  id: string;
  spiffe_id: { trust_domain: string; path: string };
  parent_id: { trust_domain: string; path: string };
  selectors: { type: string; value: string }[];
  x509_svid_ttl: number;
  dns_names: string[];
}
const idOf = (x: { trust_domain: string; path: string }) => `spiffe://${x.trust_domain}${x.path}`;

describe.skipIf(unsupported !== undefined)(`Kubernetes workloads${unsupported ? ` (cannot run here: ${unsupported})` : ''}`, () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let k8s: KubeApiserver;
  let cgroups: KubeletCgroups;
  let server: ServerHandle;
  let agent: AgentHandle;

  /** A ClusterRole with `rules`, bound to a new service account; a kubeconfig acting as it. */
  const serviceAccountWith = async (name: string, rules: object[]): Promise<string> => {
    await k8s.ensureServiceAccount('spire', name);
    await k8s.client.create('/apis/rbac.authorization.k8s.io/v1/clusterroles', { metadata: { name }, rules });
    await k8s.client.create('/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      metadata: { name },
      subjects: [{ kind: 'ServiceAccount', name, namespace: 'spire' }],
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
    });
    return (await k8s.clientForToken(await k8s.createToken('spire', name))).kubeconfigPath;
  };

  /** A Pod on NODE with a running `main` container in a fresh kubelet-style cgroup. */
  const runningPod = async (ns: string, name: string, sa: string, labels: Record<string, string>): Promise<{ uid: string; container: KubeletContainer }> => {
    await k8s.ensureServiceAccount(ns, sa);
    const pod = await k8s.client.create(`/api/v1/namespaces/${ns}/pods`, {
      metadata: { name, labels, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${name}-rs`, uid: '349d135e-3781-43e3-bc25-c900aedf1d0c' }] },
      spec: { serviceAccountName: sa, nodeName: NODE, containers: [{ name: 'main', image: 'registry.example/web:1.0' }, { name: 'sidecar', image: 'registry.example/proxy:2.0' }] },
    });
    const container = cgroups.container({ version: 'v2', driver: 'systemd', runtime: 'containerd', podUid: pod.metadata.uid });
    await k8s.patchPodStatus(ns, name, {
      phase: 'Running',
      containerStatuses: [
        { name: 'main', ready: true, restartCount: 0, image: 'registry.example/web:1.0', imageID: `registry.example/web@sha256:${'1'.repeat(64)}`, containerID: container.statusContainerId, state: { running: {} } },
        { name: 'sidecar', ready: true, restartCount: 0, image: 'registry.example/proxy:2.0', imageID: `registry.example/proxy@sha256:${'2'.repeat(64)}`, containerID: `containerd://${'e'.repeat(64)}`, state: { running: {} } },
      ],
    });
    return { uid: pod.metadata.uid, container };
  };

  /** The SPIFFE IDs a process in `c` gets over the Workload API (it runs `herald-agent api fetch x509` in the container). */
  const fetchIn = async (c: KubeletContainer | undefined): Promise<{ ids: string[]; err: string }> => {
    const args = ['api', 'fetch', 'x509', '-output', 'json', '-socketPath', agent.socketPath, '-timeout', '3s'];
    let out: { code: number | null; stdout: string; stderr: string };
    if (c) {
      const p = c.start(AGENT_BIN, args, { cwd: tmp.path });
      const code = await p.exited();
      const [stdout, stderr] = code === 0 ? [p.output(), ''] : ['', p.output()];
      out = { code, stdout, stderr };
    } else {
      out = await runCommand(AGENT_BIN, args, { cwd: tmp.path });
    }
    if (out.code !== 0) return { ids: [], err: out.stderr };
    return { ids: (JSON.parse(out.stdout).svids as { spiffe_id: string }[]).map((s) => s.spiffe_id).sort(), err: '' };
  };

  const entries = async (): Promise<ShownEntry[]> => {
    const r = await server.cli('entry', 'show', '-output', 'json');
    if (r.code !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout).entries ?? [];
  };
  const ownedEntries = async () => (await entries()).filter((e) => e.id.startsWith('mycluster.'));

  beforeAll(async () => {
    tmp = await makeTempDir('herald-k8s-e2e-');
    k8s = await startKubeApiserver();
    await k8s.createNode(NODE);
    cgroups = kubeletCgroups();
    await k8s.kubectl(['apply', '-f', join(ROOT, 'deploy/kubernetes/crds/spire.spiffe.io_clusterspiffeids.yaml')]);
    await k8s.kubectl(['wait', '--for', 'condition=established', '--timeout', '60s', 'crd/clusterspiffeids.spire.spiffe.io']);

    const agentKubeconfig = await serviceAccountWith('herald-agent', [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }]);
    const serverKubeconfig = await serviceAccountWith('herald-server', [
      // k8s_psat
      { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
      // k8s_psat (get) and controller_manager (list, watch)
      { apiGroups: [''], resources: ['pods', 'namespaces', 'nodes'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['spire.spiffe.io'], resources: ['clusterspiffeids'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: ['spire.spiffe.io'], resources: ['clusterspiffeids/status'], verbs: ['patch'] },
    ]);

    server = await startServer({
      dir: tmp.path,
      trustDomain: TD,
      extraNodeAttestors: `k8s_psat: { plugin_data: { clusters: { mycluster: { service_account_allow_list: ["spire:herald-agent"], kube_config_file: ${serverKubeconfig} } } } }`,
      extraTop: `controller_manager:
  cluster_name: mycluster
  kube_config_file: ${serverKubeconfig}
  parent_id_template: "spiffe://{{ .TrustDomain }}/ns/spire/sa/spire-agent"
  gc_interval: 1s`,
    });
    // Seed 002's registration, as written: the node alias, then workloads under it.
    expect((await server.cli('entry', 'create', '-node', '-spiffeID', ALIAS, '-selector', 'k8s_psat:cluster:mycluster')).code).toBe(0);
    const create = (id: string, ...selectors: string[]) => server.cli('entry', 'create', '-parentID', ALIAS, '-spiffeID', `spiffe://${TD}${id}`, ...selectors.flatMap((s) => ['-selector', s]));
    for (const [id, sel] of [
      ['/workloada', 'k8s:sa:workloada'],
      ['/probe/ns', 'k8s:ns:apps'],
      ['/probe/label', 'k8s:pod-label:app:web'],
      ['/probe/owner', 'k8s:pod-owner:ReplicaSet:web-rs'],
      ['/probe/node', `k8s:node-name:${NODE}`],
      ['/probe/container', 'k8s:container-name:main'],
      ['/probe/container-image', 'k8s:container-image:registry.example/web:1.0'],
      ['/probe/pod-image', 'k8s:pod-image:registry.example/proxy:2.0'],
      ['/probe/image-count', 'k8s:pod-image-count:2'],
      ['/probe/other-ns', 'k8s:ns:other'],
      ['/probe/sidecar', 'k8s:container-name:sidecar'],
    ] as const) {
      expect((await create(id, sel)).code).toBe(0);
    }
    // The agent's pod and its projected token (audience spire-server), as the kubelet mounts it.
    await k8s.createPod({ namespace: 'spire', name: 'herald-agent-aaaaa', serviceAccount: 'herald-agent', nodeName: NODE, status: { hostIP: '127.0.0.1' } });
    const tokenPath = join(tmp.path, 'agent.token');
    await writeFile(tokenPath, await k8s.createToken('spire', 'herald-agent', { audience: 'spire-server', podName: 'herald-agent-aaaaa' }));
    agent = await startAgent({
      dir: tmp.path,
      server,
      syncInterval: '500ms',
      nodeAttestor: `{ k8s_psat: { plugin_data: { cluster: mycluster, token_path: ${tokenPath} } } }`,
      workloadAttestor: `{ k8s: { plugin_data: { pod_source: api_server, node_name: ${NODE}, kube_config_file: ${agentKubeconfig}, poll_retry_interval: 100ms, max_poll_attempts: 20 } } }`,
    });
  }, 180_000);

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
    await cgroups?.cleanup();
    await k8s?.stop();
    await tmp?.cleanup();
  });

  it('a workload in a pod with service account workloada gets its SVID, and the SVIDs its pod\'s selectors match', async () => {
    const { container } = await runningPod('apps', 'web', 'workloada', { app: 'web' });
    const want = ['/workloada', '/probe/ns', '/probe/label', '/probe/owner', '/probe/node', '/probe/container', '/probe/container-image', '/probe/pod-image', '/probe/image-count'].map((p) => `spiffe://${TD}${p}`).sort();
    const got = await waitFor('the workload\'s SVIDs', async () => {
      const r = await fetchIn(container);
      return r.ids.length === want.length ? r.ids : undefined;
    }, { timeoutMs: 30_000, intervalMs: 300 });
    // Not /probe/other-ns (another namespace) nor /probe/sidecar (another container of the same pod).
    expect(got).toEqual(want);
  }, 40_000);

  it('a process outside any pod gets no identity', async () => {
    const r = await fetchIn(undefined);
    expect(r.ids).toEqual([]);
    expect(r.err).toContain('no identity issued');
  }, 20_000);

  it('controller_manager: a ClusterSPIFFEID and a Pod make an entry under the node alias; deleting the Pod removes it; hand-made entries are never touched', async () => {
    await k8s.client.create('/api/v1/namespaces', { metadata: { name: 'auto', labels: { team: 'auto' } } });
    await k8s.client.create('/api/v1/namespaces', { metadata: { name: 'unlabeled' } });
    const pod = await runningPod('auto', 'api-0', 'api', { app: 'api' });
    await runningPod('auto', 'batch-0', 'api', { app: 'batch' }); // podSelector does not match
    await runningPod('unlabeled', 'api-0', 'api', { app: 'api' }); // namespaceSelector does not match
    // A hand-made entry with the same SPIFFE ID (for another service account): not the controller's, never changed.
    expect((await server.cli('entry', 'create', '-parentID', ALIAS, '-spiffeID', `spiffe://${TD}/ns/auto/sa/api`, '-selector', 'k8s:sa:nobody', '-entryID', 'hand-made-1')).code).toBe(0);

    await k8s.client.create('/apis/spire.spiffe.io/v1alpha1/clusterspiffeids', {
      apiVersion: 'spire.spiffe.io/v1alpha1',
      kind: 'ClusterSPIFFEID',
      metadata: { name: 'api' },
      spec: {
        spiffeIDTemplate: 'spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}',
        namespaceSelector: { matchLabels: { team: 'auto' } },
        podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['api'] }] },
        workloadSelectorTemplates: ['k8s:container-name:main'],
        dnsNameTemplates: ['{{ .PodMeta.Name }}.{{ .PodMeta.Namespace }}.svc'],
        ttl: '30m',
      },
    });
    const [entry] = await waitFor('the controller\'s entry', async () => ((await ownedEntries()).length === 1 ? ownedEntries() : undefined), { timeoutMs: 20_000 });
    expect(idOf(entry!.spiffe_id)).toBe(`spiffe://${TD}/ns/auto/sa/api`);
    expect(idOf(entry!.parent_id)).toBe(ALIAS);
    expect(entry!.selectors.map((s) => `${s.type}:${s.value}`).sort()).toEqual(['k8s:container-name:main', `k8s:pod-uid:${pod.uid}`]);
    expect(entry!.dns_names).toEqual(['api-0.auto.svc']);
    expect(entry!.x509_svid_ttl).toBe(1800);
    // SCM's status stats: one namespace and one pod selected, one entry set.
    const stats = await waitFor('the status stats', async () => {
      const s = (await k8s.client.get('/apis/spire.spiffe.io/v1alpha1/clusterspiffeids/api')).status?.stats;
      return s?.entriesToSet === 1 ? s : undefined;
    });
    expect(stats).toEqual({ namespacesSelected: 1, namespacesIgnored: 0, podsSelected: 1, podEntryRenderFailures: 0, entriesMasked: 0, entriesToSet: 1, entryFailures: 0 });

    // The workload in that pod gets the identity the controller registered.
    const got = await waitFor('the auto-registered SVID', async () => {
      const r = await fetchIn(pod.container);
      return r.ids.includes(`spiffe://${TD}/ns/auto/sa/api`) ? r.ids : undefined;
    }, { timeoutMs: 30_000, intervalMs: 300 });
    expect(got).not.toContain(`spiffe://${TD}/workloada`);

    // A changed ClusterSPIFFEID updates the entry in place.
    await k8s.client.mergePatch('/apis/spire.spiffe.io/v1alpha1/clusterspiffeids/api', { spec: { ttl: '10m' } });
    await waitFor('the updated TTL', async () => (await ownedEntries())[0]?.x509_svid_ttl === 600, { timeoutMs: 20_000 });
    expect((await ownedEntries())[0]!.id).toBe(entry!.id);

    // An owned entry deleted by hand comes back (gc_interval), with a new ID.
    expect((await server.cli('entry', 'delete', '-entryID', entry!.id)).code).toBe(0);
    await waitFor('the entry restored', async () => (await ownedEntries()).length === 1, { timeoutMs: 20_000 });

    await k8s.forceDeletePod('auto', 'api-0');
    await waitFor('the entry gone with its pod', async () => (await ownedEntries()).length === 0, { timeoutMs: 20_000 });
    const handMade = (await entries()).find((e) => e.id === 'hand-made-1');
    expect(handMade?.selectors).toEqual([{ type: 'k8s', value: 'sa:nobody' }]);
  }, 120_000);

  it('controller_manager: a hand-made entry identical to a declared one is left alone, and survives the ClusterSPIFFEID', async () => {
    // Not selected yet (app=staging): the hand-made entry comes first.
    const pod = await runningPod('auto', 'api-1', 'api', { app: 'staging' });
    // The very entry the ClusterSPIFFEID will declare for this pod.
    expect((await server.cli('entry', 'create', '-parentID', ALIAS, '-spiffeID', `spiffe://${TD}/ns/auto/sa/api`, '-selector', `k8s:pod-uid:${pod.uid}`, '-selector', 'k8s:container-name:main', '-entryID', 'hand-made-2', '-dns', 'api-1.auto.svc', '-x509SVIDTTL', '600')).code).toBe(0);
    const mark = server.proc.output().length;
    await k8s.client.mergePatch('/api/v1/namespaces/auto/pods/api-1', { metadata: { labels: { app: 'api' } } });
    // Two full reconciliations that saw the hand-made entry provide the declared one.
    await waitFor('two reconciliations that leave it alone', () => (server.proc.output().slice(mark).match(/Reconciled entries[^\n]*shadowed=1/g)?.length ?? 0) >= 2, { timeoutMs: 20_000 });
    expect((await ownedEntries()).length).toBe(0);
    const before = server.proc.output().length;
    await k8s.client.delete('/apis/spire.spiffe.io/v1alpha1/clusterspiffeids/api');
    await k8s.forceDeletePod('auto', 'api-1');
    // A reconciliation that no longer declares it (nothing shadowed) still leaves it.
    await waitFor('a reconciliation without the ClusterSPIFFEID', () => /Reconciled entries[^\n]*shadowed=0/.test(server.proc.output().slice(before)), { timeoutMs: 20_000 });
    expect((await entries()).find((e) => e.id === 'hand-made-2')).toBeDefined();
  }, 60_000);
});

