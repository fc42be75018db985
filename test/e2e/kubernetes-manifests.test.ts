// deploy/kubernetes against a real kube-apiserver: the kustomization applies
// with server-side validation (dry run), the configs in its ConfigMaps pass
// herald-server/herald-agent validate, and the spire-server RBAC is exactly
// what the plugins need: with it k8s_psat and k8sbundle work as the
// ServiceAccount itself, and without any one of its rules they fail.
import { X509Certificate } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, parseDocument } from 'yaml';
import { errorMessage } from '../../src/common/errors.ts';
import { createLogger } from '../../src/common/log.ts';
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

describe('deploy/kubernetes', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let k8s: KubeApiserver;
  beforeAll(async () => {
    tmp = await makeTempDir('herald-k8s-manifests-');
    k8s = await startKubeApiserver();
  }, 120_000);
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
      'service/spire-server', 'statefulset.apps/spire-server', 'daemonset.apps/spire-agent']) {
      expect(lines.some((l) => l.startsWith(`${kind} `) && l.endsWith('(server dry run)')), `${kind} in:\n${out}`).toBe(true);
    }
    await expect(k8s.client.get('/apis/apps/v1/namespaces/spire/statefulsets/spire-server')).rejects.toThrow(/404 NotFound/);
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

  describe('spire-server RBAC', () => {
    const td = TrustDomain.fromString('mycluster.io');
    let kubeconfig: string;
    let agentToken: string;
    // Two CAs, written in turn: every notification changes the ConfigMap (an unchanged one is not patched).
    let caPems: string[];
    let notified = 0;
    const log = createLogger({ level: 'error' });
    const attest = () => new K8sPsatAttestor(td, new Map([['mycluster', {
      serviceAccounts: new Set(['spire:spire-agent']), audience: ['spire-server'], kubeConfigFile: kubeconfig,
      allowedNodeLabelKeys: new Set<string>(), allowedPodLabelKeys: new Set<string>(),
    }]])).attest(Buffer.from(JSON.stringify({ cluster: 'mycluster', token: agentToken })));
    const notify = () => new K8sBundleNotifier({ namespace: 'spire', configMap: 'spire-bundle', configMapKey: 'bundle.crt', kubeConfigFile: kubeconfig }, log)
      .bundleUpdated({ trustDomain: td.name, sequenceNumber: ++notified, x509Authorities: [new X509Certificate(caPems[notified % 2]!)] });
    const rbacDocs = async () => parseAllDocuments(await readFile(join(DEPLOY, 'server-rbac.yaml'), 'utf8')).map((d) => d.toJS());

    beforeAll(async () => {
      for (const m of ['namespace.yaml', 'server-rbac.yaml', 'agent-rbac.yaml', 'bundle-configmap.yaml']) await k8s.kubectl(['apply', '-f', join(DEPLOY, m)]);
      await k8s.createNode('node-1');
      await k8s.createPod({ namespace: 'spire', name: 'spire-agent-x', serviceAccount: 'spire-agent', nodeName: 'node-1' });
      agentToken = await k8s.createToken('spire', 'spire-agent', { audience: 'spire-server', podName: 'spire-agent-x' });
      kubeconfig = (await k8s.clientForToken(await k8s.createToken('spire', 'spire-server'))).kubeconfigPath;
      caPems = [(await makeCert({ ca: true, keyUsage: CA_KU, subject: 'CN=Test CA 0' })).cert.toString(), (await makeCert({ ca: true, keyUsage: CA_KU, subject: 'CN=Test CA 1' })).cert.toString()];
      await mkdir(join(tmp.path, 'rbac'), { recursive: true });
    });

    it('is enough: k8s_psat and k8sbundle work as the ServiceAccount itself', async () => {
      expect((await attest()).agentId.toString()).toMatch(/^spiffe:\/\/mycluster\.io\/spire\/agent\/k8s_psat\/mycluster\//);
      await notify();
      expect((await k8s.client.get('/api/v1/namespaces/spire/configmaps/spire-bundle')).data['bundle.crt']).toBe(caPems[notified % 2]);
    });

    it('grants nothing else: no listing, no secrets, no other ConfigMap, no creating one', async () => {
      const can = async (...args: string[]) => (await k8s.kubectl(['auth', 'can-i', ...args, '--as', 'system:serviceaccount:spire:spire-server']).catch((e: Error) => e.message)).trim();
      expect(await can('create', 'tokenreviews.authentication.k8s.io')).toBe('yes');
      expect(await can('get', 'configmap/spire-bundle', '-n', 'spire')).toBe('yes');
      for (const denied of [['list', 'pods', '-A'], ['watch', 'nodes'], ['get', 'secrets', '-n', 'spire'], ['patch', 'configmap/other', '-n', 'spire'],
        ['create', 'configmaps', '-n', 'spire'], ['delete', 'configmap/spire-bundle', '-n', 'spire'], ['update', 'pods', '-n', 'spire']]) {
        expect(await can(...denied), denied.join(' ')).toMatch(/^no\b|exited 1/);
      }
    });

    // Each rule element, removed on its own, breaks the plugin that needs it.
    it.each([
      ['spire-server-node-attestation', 'tokenreviews', 'create', 'psat', /tokenreviews.* is forbidden/],
      ['spire-server-node-attestation', 'pods', 'get', 'psat', /pods "spire-agent-x" is forbidden/],
      ['spire-server-node-attestation', 'nodes', 'get', 'psat', /nodes "node-1" is forbidden/],
      ['spire-server-bundle', 'configmaps', 'get', 'bundle', /configmaps "spire-bundle" is forbidden: .* cannot get/],
      ['spire-server-bundle', 'configmaps', 'patch', 'bundle', /configmaps "spire-bundle" is forbidden: .* cannot patch/],
    ] as const)('needs %s: %s %s', async (roleName, resource, verb, plugin, error) => {
      const docs = await rbacDocs();
      const role = docs.find((d) => (d.kind === 'ClusterRole' || d.kind === 'Role') && d.metadata.name === roleName);
      // The rule without this resource+verb (the resource moves to a rule of its own when it shares one).
      const rules = role.rules.flatMap((r: any) => r.resources.map((res: string) => ({ ...r, resources: [res] })))
        .map((r: any) => (r.resources[0] === resource ? { ...r, verbs: r.verbs.filter((v: string) => v !== verb) } : r))
        .filter((r: any) => r.verbs.length > 0);
      const path = join(tmp.path, 'rbac', `${roleName}-${resource}-${verb}.yaml`);
      await writeFile(path, JSON.stringify({ ...role, rules }));
      await k8s.kubectl(['apply', '-f', path]);
      const run = () => (plugin === 'psat' ? attest() : notify());
      try {
        // RBAC changes reach the authorizer through an informer: retry until the refusal shows.
        const message = await waitFor('the refusal', () => run().then(() => undefined, (e: unknown) => errorMessage(e)), { timeoutMs: 15_000, intervalMs: 200 });
        expect(message).toMatch(error);
      } finally {
        await k8s.kubectl(['apply', '-f', join(DEPLOY, 'server-rbac.yaml')]);
      }
      // Restored, it works again.
      await waitFor('the plugin working again', () => run().then(() => true), { timeoutMs: 15_000, intervalMs: 200 });
    }, 45_000);
  });

  // No kubelet runs the pods here: the processes run on this machine instead, with the
  // ConfigMaps' configs changed only where a pod differs (addresses, paths, and a
  // kubeconfig with the ServiceAccount's token instead of the in-cluster config).
  describe('the configs in the ConfigMaps, run together', () => {
    let pg: PostgresCluster;
    const procs: RunningProcess[] = [];
    afterAll(async () => {
      for (const p of procs.reverse()) await p.stop();
      await pg?.stop();
    });

    it('herald-server on PostgreSQL fills the bundle ConfigMap; herald-agent bootstraps from it and attests with k8s_psat', async () => {
      pg = await startPostgres();
      const dir = join(tmp.path, 'run');
      await mkdir(dir);
      for (const m of ['namespace.yaml', 'server-rbac.yaml', 'agent-rbac.yaml', 'bundle-configmap.yaml']) await k8s.kubectl(['apply', '-f', join(DEPLOY, m)]);
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
      agent.setIn(['health_checks', 'bind_address'], '127.0.0.1');
      agent.setIn(['health_checks', 'bind_port'], agentHealthPort);
      await writeFile(join(dir, 'agent.yaml'), agent.toString());
      const agentProc = startProcess(AGENT_BIN, ['run', '-config', join(dir, 'agent.yaml')], { cwd: dir });
      procs.push(agentProc);
      await agentProc.waitForOutput('Starting Workload and SDS APIs', 30_000);
      const fetched = await waitFor('the workload SVID', async () => {
        const r = await runCommand(AGENT_BIN, ['api', 'fetch', 'x509', '-socketPath', join(dir, 'agent.sock')]);
        return r.code === 0 ? r.stdout : undefined;
      });
      expect(fetched).toContain('spiffe://mycluster.io/workload/a');
      // The probes the manifests declare answer.
      for (const p of [healthPort, agentHealthPort]) expect((await fetch(`http://127.0.0.1:${p}/ready`)).status).toBe(200);
    }, 90_000);
  });
});
