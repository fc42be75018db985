// deploy/kubernetes against a real kube-apiserver: the kustomization (CRD
// included) applies with server-side validation (dry run), the configs in its
// ConfigMaps pass herald-server/herald-agent validate, and the RBAC of both
// service accounts is exactly what their users need: with it k8s_psat,
// k8sbundle, controller_manager (spire-server) and the k8s WorkloadAttestor
// (spire-agent) work as the ServiceAccount itself; without any one of its
// rules the one that needs it fails; `auth can-i --list` shows nothing more.
// Then the ConfigMaps' configs run together: a Pod selected by the example
// ClusterSPIFFEID is registered automatically and its process gets the SVID.
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parseDocument } from 'yaml';
import { errorMessage } from '../../src/common/errors.ts';
import pino, { type Logger } from 'pino';
import { createLogger } from '../../src/common/log.ts';
import { KubeClient } from '../../src/common/k8s/client.ts';
import { ApiServerPodSource } from '../../src/agent/plugins/workloadattestor/k8s/k8s.ts';
import { EntryController } from '../../src/server/k8s/controller.ts';
import { openSqliteDataStore } from '../../src/server/datastore/sqlite.ts';
import { cgroupSupport, kubeletCgroups, type KubeletCgroups } from '../helpers/kubelet-cgroups.ts';
import { K8sPsatAttestor } from '../../src/server/plugins/nodeattestor/k8s_psat/k8s-psat.ts';
import { K8sBundleNotifier } from '../../src/server/plugins/notifier/k8sbundle/k8sbundle.ts';
import { TrustDomain } from '../../src/spiffe/trust-domain.ts';
import { AGENT_BIN, ROOT, SERVER_BIN } from '../helpers/herald.ts';
import { startKubeApiserver, type KubeApiserver } from '../helpers/kube-apiserver.ts';
import { freePorts } from '../helpers/ports.ts';
import { startPostgres, type PostgresCluster } from '../helpers/postgres.ts';
import { runCommand, startProcess, type RunningProcess } from '../helpers/process.ts';
import { waitFor } from '../helpers/wait.ts';
import { makeCert, CA_KU } from '../helpers/test-ca.ts';
import { makeTempDir } from '../helpers/tmp.ts';

const DEPLOY = join(ROOT, 'deploy/kubernetes');
const CRD = join(DEPLOY, 'crds/spire.spiffe.io_clusterspiffeids.yaml');
const EXAMPLE = join(DEPLOY, 'examples/clusterspiffeid.yaml');
/** The files whose objects every test below needs, applied for real. */
const BASE = ['namespace.yaml', 'server-rbac.yaml', 'agent-rbac.yaml', 'bundle-configmap.yaml', 'crds/spire.spiffe.io_clusterspiffeids.yaml'];

describe('deploy/kubernetes', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let k8s: KubeApiserver;
  beforeAll(async () => {
    tmp = await makeTempDir('herald-k8s-manifests-');
    k8s = await startKubeApiserver();
  }, 120_000);
  const applyBase = async () => {
    for (const m of BASE) await k8s.kubectl(['apply', '-f', join(DEPLOY, m)]);
    await k8s.kubectl(['wait', '--for', 'condition=established', '--timeout', '60s', 'crd/clusterspiffeids.spire.spiffe.io']);
  };
  afterAll(async () => {
    await k8s?.stop();
    await tmp?.cleanup();
  });

  it('kubectl apply --dry-run=server -k: the API server validates every object and persists none', async () => {
    await k8s.kubectl(['apply', '-f', join(DEPLOY, 'namespace.yaml')]);
    const out = await k8s.kubectl(['apply', '--dry-run=server', '-k', DEPLOY]);
    const lines = out.trim().split('\n');
    for (const kind of ['serviceaccount/spire-server', 'serviceaccount/spire-agent', 'clusterrole.rbac.authorization.k8s.io/spire-server-node-attestation',
      'clusterrolebinding.rbac.authorization.k8s.io/spire-server-node-attestation', 'role.rbac.authorization.k8s.io/spire-server-bundle',
      'rolebinding.rbac.authorization.k8s.io/spire-server-bundle', 'configmap/spire-bundle', 'configmap/spire-server', 'configmap/spire-agent',
      'service/spire-server', 'statefulset.apps/spire-server', 'daemonset.apps/spire-agent',
      'clusterrole.rbac.authorization.k8s.io/spire-server-controller', 'clusterrolebinding.rbac.authorization.k8s.io/spire-server-controller',
      'clusterrole.rbac.authorization.k8s.io/spire-agent-pods', 'clusterrolebinding.rbac.authorization.k8s.io/spire-agent-pods',
      'customresourcedefinition.apiextensions.k8s.io/clusterspiffeids.spire.spiffe.io']) {
      expect(lines.some((l) => l.startsWith(`${kind} `) && l.endsWith('(server dry run)')), `${kind} in:\n${out}`).toBe(true);
    }
    await expect(k8s.client.get('/apis/apps/v1/namespaces/spire/statefulsets/spire-server')).rejects.toThrow(/404 NotFound/);
    await expect(k8s.client.get('/apis/apiextensions.k8s.io/v1/customresourcedefinitions/clusterspiffeids.spire.spiffe.io')).rejects.toThrow(/404 NotFound/);
    // The example ClusterSPIFFEID validates against the CRD (which must exist for that).
    await k8s.kubectl(['apply', '-f', CRD]);
    await k8s.kubectl(['wait', '--for', 'condition=established', '--timeout', '60s', 'crd/clusterspiffeids.spire.spiffe.io']);
    expect(await k8s.kubectl(['apply', '--dry-run=server', '-f', EXAMPLE])).toMatch(/clusterspiffeid.spire.spiffe.io\/default created \(server dry run\)/);
    // The validation is real: a broken StatefulSet is refused.
    const bad = (await readFile(join(DEPLOY, 'server-statefulset.yaml'), 'utf8')).replace('serviceName: spire-server', 'serviceName: spire-server\n  podManagementPolicy: Sideways');
    await writeFile(join(tmp.path, 'bad.yaml'), bad);
    await expect(k8s.kubectl(['apply', '--dry-run=server', '-f', join(tmp.path, 'bad.yaml')])).rejects.toThrow(/podManagementPolicy: .*Invalid value/);
  });

  it('the server and agent configs in the ConfigMaps are valid Herald configs', async () => {
    for (const [file, bin, key, env] of [
      ['server-configmap.yaml', SERVER_BIN, 'server.yaml', { DATASTORE_CONNECTION_STRING: 'postgresql://herald@db/herald' }],
      ['agent-configmap.yaml', AGENT_BIN, 'agent.yaml', {}],
    ] as const) {
      const cm = parseAllDocuments(await readFile(join(DEPLOY, file), 'utf8'))[0]!.toJS();
      const path = join(tmp.path, key);
      await writeFile(path, cm.data[key]);
      const r = await runCommand(bin, ['validate', '-config', path, ...(bin === SERVER_BIN ? ['-expandEnv'] : [])], { env: { ...process.env, ...env }, cwd: tmp.path });
      expect(r.stdout + r.stderr, file).toMatch(/configuration file is valid\./);
    }
  });

  describe('RBAC', () => {
    const td = TrustDomain.fromString('mycluster.io');
    let kubeconfig: string;
    let agentKubeconfig: string;
    let agentToken: string;
    // Two CAs, written in turn: every notification changes the ConfigMap (an unchanged one is not patched).
    let caPems: string[];
    let notified = 0;
    let probes = 0;
    const log = createLogger({ level: 'error' });
    const attest = () => new K8sPsatAttestor(td, new Map([['mycluster', {
      serviceAccounts: new Set(['spire:spire-agent']), audience: ['spire-server'], kubeConfigFile: kubeconfig,
      allowedNodeLabelKeys: new Set<string>(), allowedPodLabelKeys: new Set<string>(),
    }]])).attest(Buffer.from(JSON.stringify({ cluster: 'mycluster', token: agentToken })));
    const notify = () => new K8sBundleNotifier({ namespace: 'spire', configMap: 'spire-bundle', configMapKey: 'bundle.crt', kubeConfigFile: kubeconfig }, log)
      .bundleUpdated({ trustDomain: td.name, sequenceNumber: ++notified, x509Authorities: [new X509Certificate(caPems[notified % 2]!)] });
    /** A Pod the example ClusterSPIFFEID selects, on node-1. */
    const selectedPod = async () => (await k8s.createPod({ namespace: 'apps', name: `probe-${++probes}`, nodeName: 'node-1', labels: { spiffe: 'enabled' } })).metadata.uid as string;

    /**
     * Runs a list-and-watch component until `work` is done; rejects with the
     * first warning it logs (its informers and status writes log refusals and
     * retry), so a missing list, watch or patch fails it at once.
     */
    const watching = async <C extends { stop(): Promise<void> }>(start: (log: Logger) => Promise<C>, work: (c: C) => Promise<void>): Promise<void> => {
      const warnings: string[] = [];
      const wlog = pino({ level: 'warn' }, { write: (line: string) => { const o = JSON.parse(line); warnings.push(`${o.msg}: ${o.err}`); } });
      const c = await start(wlog);
      let done = false;
      try {
        await Promise.race([work(c), waitFor('a refusal', () => done || warnings.length > 0, { timeoutMs: 30_000, intervalMs: 20 })]);
        if (warnings.length > 0) throw new Error(warnings.join('\n'));
      } finally {
        done = true;
        await c.stop();
      }
    };
    // The k8s WorkloadAttestor's api_server source: the node's pods listed, then a new one seen through the watch.
    const watchPods = () => watching(async (l) => {
      const src = new ApiServerPodSource(KubeClient.load(agentKubeconfig), 'node-1', l);
      return { src, stop: () => src.close() };
    }, async ({ src }) => {
      await src.pods('');
      const uid = await selectedPod();
      await waitFor('the new pod through the watch', async () => [...await src.pods(uid)].length > 0);
    });
    // controller_manager: registers a Pod created after it synced (watch) and writes the ClusterSPIFFEID's stats (status patch).
    const reconcile = () => watching(async (l) => {
      await k8s.client.mergePatch('/apis/spire.spiffe.io/v1alpha1/clusterspiffeids/default/status', { status: null });
      const ds = await openSqliteDataStore({ path: join(tmp.path, 'rbac', `ds-${++probes}.sqlite3`) });
      const controller = new EntryController({
        clusterName: 'mycluster', clusterDomain: '', parentIdTemplate: 'spiffe://{{ .TrustDomain }}/spire/agent/k8s_psat/{{ .ClusterName }}/{{ .NodeMeta.UID }}',
        entryIdPrefix: 'mycluster', className: '', watchClassless: false, ignoreNamespaces: ['^spire$'], gcIntervalMs: 60_000,
      }, { client: KubeClient.load(kubeconfig), ds, trustDomain: td, log: l });
      return { controller, ds, stop: async () => { await controller.stop(); await ds.close(); } };
    }, async ({ controller, ds }) => {
      await controller.start();
      const uid = await selectedPod();
      await waitFor('the new pod\'s entry', async () => (await ds.listEntries()).items.some((e) => e.selectors.some((s) => s.type === 'k8s' && s.value === `pod-uid:${uid}`)));
      await waitFor('the ClusterSPIFFEID\'s stats', async () => (await k8s.client.get('/apis/spire.spiffe.io/v1alpha1/clusterspiffeids/default')).status?.stats?.podsSelected > 0);
    });
    const runs = { psat: attest, bundle: notify, pods: watchPods, controller: reconcile };
    const rbacDocs = async (file: string) => parseAllDocuments(await readFile(join(DEPLOY, file), 'utf8')).map((d) => d.toJS());

    beforeAll(async () => {
      await applyBase();
      await k8s.kubectl(['apply', '-f', EXAMPLE]);
      await k8s.createNode('node-1');
      await k8s.createPod({ namespace: 'spire', name: 'spire-agent-x', serviceAccount: 'spire-agent', nodeName: 'node-1' });
      agentToken = await k8s.createToken('spire', 'spire-agent', { audience: 'spire-server', podName: 'spire-agent-x' });
      kubeconfig = (await k8s.clientForToken(await k8s.createToken('spire', 'spire-server'))).kubeconfigPath;
      agentKubeconfig = (await k8s.clientForToken(await k8s.createToken('spire', 'spire-agent'))).kubeconfigPath;
      caPems = [(await makeCert({ ca: true, keyUsage: CA_KU, subject: 'CN=Test CA 0' })).cert.toString(), (await makeCert({ ca: true, keyUsage: CA_KU, subject: 'CN=Test CA 1' })).cert.toString()];
      await mkdir(join(tmp.path, 'rbac'), { recursive: true });
    });

    it('is enough: k8s_psat, k8sbundle, controller_manager and the k8s WorkloadAttestor work as the ServiceAccounts themselves', async () => {
      expect((await attest()).agentId.toString()).toMatch(/^spiffe:\/\/mycluster\.io\/spire\/agent\/k8s_psat\/mycluster\//);
      await notify();
      expect((await k8s.client.get('/api/v1/namespaces/spire/configmaps/spire-bundle')).data['bundle.crt']).toBe(caPems[notified % 2]);
      await watchPods();
      await reconcile();
    }, 60_000);

    it('grants nothing else: `auth can-i --list` shows exactly the rules, beyond what any service account may do', async () => {
      // Rows as `Resources Non-Resource-URLs Resource-Names Verbs`, whitespace collapsed; kubectl merges rules per
      // resource, verbs in the order of the bindings: sorted here.
      const rows = async (sa: string, ns: string) => new Set((await k8s.kubectl(['auth', 'can-i', '--list', '-n', ns, '--as', `system:serviceaccount:spire:${sa}`]))
        .trim().split('\n').slice(1).map((l) => l.trim().replace(/\[([^\]]*)\]$/, (_, v: string) => `[${v.trim().split(/\s+/).sort().join(' ')}]`).split(/\s+/).join(' ')));
      for (const [sa, ns, expected] of [
        ['spire-server', 'spire', ['tokenreviews.authentication.k8s.io [] [] [create]', 'pods [] [] [get list watch]', 'nodes [] [] [get list watch]',
          'namespaces [] [] [list watch]', 'clusterspiffeids.spire.spiffe.io [] [] [list watch]', 'clusterspiffeids.spire.spiffe.io/status [] [] [patch]',
          'configmaps [] [spire-bundle] [get patch]']],
        ['spire-server', 'default', ['tokenreviews.authentication.k8s.io [] [] [create]', 'pods [] [] [get list watch]', 'nodes [] [] [get list watch]',
          'namespaces [] [] [list watch]', 'clusterspiffeids.spire.spiffe.io [] [] [list watch]', 'clusterspiffeids.spire.spiffe.io/status [] [] [patch]']],
        ['spire-agent', 'spire', ['pods [] [] [list watch]']],
      ] as const) {
        // What an unbound service account of the namespace may do anyway (discovery, self reviews).
        const baseline = await rows('nobody', ns);
        const extra = [...await rows(sa, ns)].filter((r) => !baseline.has(r)).sort();
        expect(extra, `${sa} in ${ns}`).toEqual([...expected].sort());
      }
      const can = async (sa: string, ...args: string[]) => (await k8s.kubectl(['auth', 'can-i', ...args, '--as', `system:serviceaccount:spire:${sa}`]).catch((e: Error) => e.message)).trim();
      for (const [sa, ...denied] of [['spire-server', 'get', 'secrets', '-n', 'spire'], ['spire-server', 'patch', 'clusterspiffeids.spire.spiffe.io/default'],
        ['spire-server', 'get', 'nodes', '--subresource', 'proxy'], ['spire-agent', 'get', 'nodes', '--subresource', 'proxy'], ['spire-agent', 'get', 'pods', '-n', 'apps'], ['spire-agent', 'list', 'secrets', '-A']]) {
        expect(await can(sa!, ...denied), `${sa} ${denied.join(' ')}`).toMatch(/^no\b|exited 1/);
      }
    });

    // Each rule element, removed on its own, breaks the one that needs it.
    it.each([
      ['server-rbac.yaml', 'spire-server-node-attestation', 'tokenreviews', 'create', 'psat', /tokenreviews.* is forbidden/],
      ['server-rbac.yaml', 'spire-server-node-attestation', 'pods', 'get', 'psat', /pods "spire-agent-x" is forbidden/],
      ['server-rbac.yaml', 'spire-server-node-attestation', 'nodes', 'get', 'psat', /nodes "node-1" is forbidden/],
      ['server-rbac.yaml', 'spire-server-bundle', 'configmaps', 'get', 'bundle', /configmaps "spire-bundle" is forbidden: .* cannot get/],
      ['server-rbac.yaml', 'spire-server-bundle', 'configmaps', 'patch', 'bundle', /configmaps "spire-bundle" is forbidden: .* cannot patch/],
      ...(['pods', 'namespaces', 'nodes', 'clusterspiffeids'] as const).flatMap((res) => (['list', 'watch'] as const).map((verb) =>
        ['server-rbac.yaml', 'spire-server-controller', res, verb, 'controller', new RegExp(`cannot ${verb} resource "${res}"`)] as const)),
      ['server-rbac.yaml', 'spire-server-controller', 'clusterspiffeids/status', 'patch', 'controller', /cannot patch resource "clusterspiffeids\/status"/],
      ['agent-rbac.yaml', 'spire-agent-pods', 'pods', 'list', 'pods', /cannot list resource "pods"/],
      ['agent-rbac.yaml', 'spire-agent-pods', 'pods', 'watch', 'pods', /cannot watch resource "pods"/],
    ] as const)('%s: %s needs %s %s', async (file, roleName, resource, verb, plugin, error) => {
      const docs = await rbacDocs(file);
      const role = docs.find((d) => (d.kind === 'ClusterRole' || d.kind === 'Role') && d.metadata.name === roleName);
      // The rule without this resource+verb (the resource moves to a rule of its own when it shares one).
      const rules = role.rules.flatMap((r: any) => r.resources.map((res: string) => ({ ...r, resources: [res] })))
        .map((r: any) => (r.resources[0] === resource ? { ...r, verbs: r.verbs.filter((v: string) => v !== verb) } : r))
        .filter((r: any) => r.verbs.length > 0);
      const path = join(tmp.path, 'rbac', `${roleName}-${resource.replace('/', '-')}-${verb}.yaml`);
      await writeFile(path, JSON.stringify({ ...role, rules }));
      await k8s.kubectl(['apply', '-f', path]);
      const run = runs[plugin];
      try {
        // RBAC changes reach the authorizer through an informer: retry until the refusal shows.
        const message = await waitFor('the refusal', () => run().then(() => undefined, (e: unknown) => errorMessage(e)), { timeoutMs: 20_000, intervalMs: 200 });
        expect(message).toMatch(error);
      } finally {
        await k8s.kubectl(['apply', '-f', join(DEPLOY, file)]);
      }
      // Restored, it works again.
      await waitFor('it working again', () => run().then(() => true), { timeoutMs: 20_000, intervalMs: 200 });
    }, 60_000);
  });
  // No kubelet runs the pods here: the processes run on this machine instead, with the
  // ConfigMaps' configs changed only where a pod differs (addresses, paths, and a
  // kubeconfig with the ServiceAccount's token instead of the in-cluster config).
  describe('the configs in the ConfigMaps, run together', () => {
    let pg: PostgresCluster;
    let cgroups: KubeletCgroups | undefined;
    /** What the first test leaves running for the second: the agent's directory and the Pod it registered. */
    let running: { dir: string; podUid: string } | undefined;
    const procs: RunningProcess[] = [];
    afterAll(async () => {
      for (const p of procs.reverse()) await p.stop();
      await cgroups?.cleanup();
      await pg?.stop();
    });

    it('herald-server on PostgreSQL fills the bundle ConfigMap; herald-agent bootstraps from it and attests with k8s_psat', async () => {
      pg = await startPostgres();
      const dir = join(tmp.path, 'run');
      await mkdir(dir);
      await applyBase();
      await k8s.kubectl(['apply', '-f', EXAMPLE]);
      await k8s.kubectl(['-n', 'spire', 'patch', 'configmap', 'spire-bundle', '--type', 'json', '-p', '[{"op":"remove","path":"/data"}]']).catch(() => undefined);
      const serverKubeconfig = (await k8s.clientForToken(await k8s.createToken('spire', 'spire-server'))).kubeconfigPath;
      const configOf = async (file: string, key: string) => parseDocument((parseAllDocuments(await readFile(join(DEPLOY, file), 'utf8'))[0]!.toJS()).data[key]);
      const [port, healthPort, agentHealthPort] = await freePorts(3);

      const server = await configOf('server-configmap.yaml', 'server.yaml');
      server.setIn(['server', 'bind_address'], '127.0.0.1');
      server.setIn(['server', 'bind_port'], port);
      server.setIn(['server', 'socket_path'], join(dir, 'server.sock'));
      server.setIn(['server', 'data_dir'], join(dir, 'server-data'));
      server.setIn(['plugins', 'KeyManager', 'disk', 'plugin_data', 'keys_path'], join(dir, 'server-data', 'keys.json'));
      server.setIn(['plugins', 'NodeAttestor', 'k8s_psat', 'plugin_data', 'clusters', 'mycluster', 'kube_config_file'], serverKubeconfig);
      server.setIn(['plugins', 'Notifier', 'k8sbundle', 'plugin_data', 'kube_config_file_path'], serverKubeconfig);
      server.setIn(['controller_manager', 'kube_config_file'], serverKubeconfig);
      server.setIn(['health_checks', 'bind_address'], '127.0.0.1');
      server.setIn(['health_checks', 'bind_port'], healthPort);
      await writeFile(join(dir, 'server.yaml'), server.toString());
      // The StatefulSet's args and the Secret's connection string.
      const serverProc = startProcess(SERVER_BIN, ['run', '-config', join(dir, 'server.yaml'), '-expandEnv'], {
        cwd: dir, env: { ...process.env, DATASTORE_CONNECTION_STRING: await pg.createDatabase() },
      });
      procs.push(serverProc);
      await serverProc.waitForOutput('Server started', 30_000);
      const bundle = await waitFor('the bundle in the ConfigMap', async () => (await k8s.client.get('/api/v1/namespaces/spire/configmaps/spire-bundle')).data?.['bundle.crt']);
      const cli = (...args: string[]) => runCommand(SERVER_BIN, [...args, '-socketPath', join(dir, 'server.sock')]);
      expect(bundle).toBe((await cli('bundle', 'show')).stdout);
      expect((await cli('entry', 'create', '-node', '-spiffeID', 'spiffe://mycluster.io/nodes', '-selector', 'k8s_psat:cluster:mycluster')).code).toBe(0);
      expect((await cli('entry', 'create', '-parentID', 'spiffe://mycluster.io/nodes', '-spiffeID', 'spiffe://mycluster.io/workload/a', '-selector', `unix:uid:${process.getuid!()}`)).code).toBe(0);

      // The agent pod's volumes: the bundle ConfigMap and the projected token.
      await k8s.createPod({ namespace: 'spire', name: 'spire-agent-run', serviceAccount: 'spire-agent', nodeName: 'node-1' });
      await mkdir(join(dir, 'bundle'));
      await mkdir(join(dir, 'tokens'));
      await writeFile(join(dir, 'bundle', 'bundle.crt'), bundle);
      await writeFile(join(dir, 'tokens', 'spire-agent'), await k8s.createToken('spire', 'spire-agent', { audience: 'spire-server', podName: 'spire-agent-run' }));
      const agent = await configOf('agent-configmap.yaml', 'agent.yaml');
      agent.setIn(['agent', 'server_address'], '127.0.0.1');
      agent.setIn(['agent', 'server_port'], port);
      agent.setIn(['agent', 'data_dir'], join(dir, 'agent-data'));
      agent.setIn(['agent', 'socket_path'], join(dir, 'agent.sock'));
      agent.setIn(['agent', 'trust_bundle_path'], join(dir, 'bundle', 'bundle.crt'));
      agent.setIn(['plugins', 'NodeAttestor', 'k8s_psat', 'plugin_data', 'token_path'], join(dir, 'tokens', 'spire-agent'));
      agent.setIn(['plugins', 'WorkloadAttestor', 'k8s', 'plugin_data', 'kube_config_file'], (await k8s.clientForToken(await k8s.createToken('spire', 'spire-agent'))).kubeconfigPath);
      agent.setIn(['health_checks', 'bind_address'], '127.0.0.1');
      agent.setIn(['health_checks', 'bind_port'], agentHealthPort);
      await writeFile(join(dir, 'agent.yaml'), agent.toString());
      // The DaemonSet's env: MY_NODE_NAME from spec.nodeName.
      const agentProc = startProcess(AGENT_BIN, ['run', '-config', join(dir, 'agent.yaml')], { cwd: dir, env: { ...process.env, MY_NODE_NAME: 'node-1' } });
      procs.push(agentProc);
      await agentProc.waitForOutput('Starting Workload and SDS APIs', 30_000);
      const fetched = await waitFor('the workload SVID', async () => {
        const r = await runCommand(AGENT_BIN, ['api', 'fetch', 'x509', '-socketPath', join(dir, 'agent.sock')]);
        return r.code === 0 ? r.stdout : undefined;
      });
      expect(fetched).toContain('spiffe://mycluster.io/workload/a');
      // The probes the manifests declare answer.
      for (const p of [healthPort, agentHealthPort]) expect((await fetch(`http://127.0.0.1:${p}/ready`)).status).toBe(200);

      // Automatic registration: a Pod the example ClusterSPIFFEID selects gets an entry under its node's agent.
      const nodeUid = (await k8s.client.get('/api/v1/nodes/node-1')).metadata.uid;
      const pod = await k8s.createPod({ namespace: 'apps', name: 'workload-a', serviceAccount: 'workloada', nodeName: 'node-1', labels: { spiffe: 'enabled' } });
      const entry = await waitFor('the automatic entry', async () => {
        const shown = JSON.parse((await cli('entry', 'show', '-output', 'json')).stdout).entries ?? [];
        return shown.find((e: any) => e.selectors.some((s: any) => s.type === 'k8s' && s.value === `pod-uid:${pod.metadata.uid}`));
      });
      expect(`spiffe://${entry.spiffe_id.trust_domain}${entry.spiffe_id.path}`).toBe('spiffe://mycluster.io/ns/apps/sa/workloada');
      expect(`spiffe://${entry.parent_id.trust_domain}${entry.parent_id.path}`).toBe(`spiffe://mycluster.io/spire/agent/k8s_psat/mycluster/${nodeUid}`);
      running = { dir, podUid: pod.metadata.uid };
    }, 120_000);

    const noCgroups = cgroupSupport('v2');
    it.skipIf(noCgroups !== undefined)(`the Pod's process gets its ClusterSPIFFEID identity from the k8s WorkloadAttestor${noCgroups ? ` (cannot run here: ${noCgroups})` : ''}`, async () => {
      if (running === undefined) throw new Error('the previous test did not get the agent running');
      const { dir, podUid } = running;
      // The Pod's process (in its kubelet-style cgroup, its container reported running) gets that SVID.
      cgroups = kubeletCgroups();
      const container = cgroups.container({ version: 'v2', driver: 'systemd', runtime: 'containerd', podUid });
      await k8s.patchPodStatus('apps', 'workload-a', { phase: 'Running', containerStatuses: [
        { name: 'main', ready: true, restartCount: 0, image: 'example.invalid/main:test', imageID: `example.invalid/main@sha256:${'1'.repeat(64)}`, containerID: container.statusContainerId, state: { running: {} } }] });
      const ids = await waitFor('the workload\'s SVIDs', async () => {
        const p = container.start(AGENT_BIN, ['api', 'fetch', 'x509', '-output', 'json', '-socketPath', join(dir, 'agent.sock'), '-timeout', '3s'], { cwd: dir });
        if ((await p.exited()) !== 0) return undefined;
        const got = (JSON.parse(p.output()).svids as { spiffe_id: string }[]).map((x) => x.spiffe_id).sort();
        return got.includes('spiffe://mycluster.io/ns/apps/sa/workloada') ? got : undefined;
      }, { timeoutMs: 30_000, intervalMs: 500 });
      // Its own identity and, as for every process of this user, the unix one; nothing of another pod.
      expect(ids).toEqual(['spiffe://mycluster.io/ns/apps/sa/workloada', 'spiffe://mycluster.io/workload/a']);
    }, 120_000);
  });
});
