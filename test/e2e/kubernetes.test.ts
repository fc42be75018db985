// herald-server and herald-agent in a (control-plane-only) Kubernetes cluster:
// a real kube-apiserver, deploy/kubernetes's ServiceAccounts, RBAC and bundle
// ConfigMap applied with kubectl, and the server's plugins acting with only
// the spire-server service account's own token. The agent attests with k8s_psat
// (a projected token bound to its Pod, as the kubelet mounts it), bootstraps
// from the ConfigMap the k8sbundle notifier keeps, and seed 002's registration
// example places a workload under the node alias.
import { X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_BIN, ROOT, SERVER_BIN, startAgent, startServer, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { freePort } from '../helpers/ports.ts';
import { runCommand } from '../helpers/process.ts';
import { startKubeApiserver, type KubeApiserver } from '../helpers/kube-apiserver.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';

const manifest = (name: string) => join(ROOT, 'deploy/kubernetes', name);
const TD = 'mycluster.io';

describe('Kubernetes: k8s_psat, k8sbundle and the manifests\' RBAC', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let k8s: KubeApiserver;
  let server: ServerHandle;
  const agents: AgentHandle[] = [];
  let nodeUid: string;
  const f = (n: string) => join(tmp.path, n);
  const configMapBundle = async (): Promise<string> => (await k8s.client.get('/api/v1/namespaces/spire/configmaps/spire-bundle')).data?.['bundle.crt'] ?? '';
  const certCount = (pem: string) => pem.match(/BEGIN CERTIFICATE/g)?.length ?? 0;
  /** An agent pod on `node` and its projected token (audience spire-server) in a file, as the kubelet mounts it. */
  const agentPod = async (name: string, node: string): Promise<string> => {
    await k8s.createPod({ namespace: 'spire', name, serviceAccount: 'spire-agent', nodeName: node, labels: { app: 'spire-agent' }, status: { hostIP: '127.0.0.1' } });
    const path = f(`${name}.token`);
    await writeFile(path, await k8s.createToken('spire', 'spire-agent', { audience: 'spire-server', podName: name }));
    return path;
  };
  const fetchIds = async (agent: AgentHandle): Promise<string[]> => {
    const res = await agent.cli('api', 'fetch', 'x509', '-output', 'json');
    if (res.code !== 0) throw new Error(res.stderr);
    return JSON.parse(res.stdout).svids.map((s: { spiffe_id: string }) => s.spiffe_id);
  };

  beforeAll(async () => {
    tmp = await makeTempDir('herald-k8s-e2e-');
    k8s = await startKubeApiserver();
    for (const m of ['namespace.yaml', 'server-rbac.yaml', 'agent-rbac.yaml', 'bundle-configmap.yaml']) await k8s.kubectl(['apply', '-f', manifest(m)]);
    nodeUid = (await k8s.createNode('node-1', { 'topology.kubernetes.io/zone': 'z1' })).metadata.uid;
    // The server's plugins act as its ServiceAccount, with exactly the manifests' RBAC.
    const { kubeconfigPath } = await k8s.clientForToken(await k8s.createToken('spire', 'spire-server'));
    server = await startServer({
      dir: tmp.path,
      trustDomain: TD,
      extraServer: '  agent_ttl: 20s',
      extraNodeAttestors: `k8s_psat: { plugin_data: { clusters: { mycluster: { service_account_allow_list: ["spire:spire-agent"], kube_config_file: ${kubeconfigPath}, allowed_node_label_keys: [topology.kubernetes.io/zone] } } } }`,
      extraPlugins: `  Notifier: { k8sbundle: { plugin_data: { kube_config_file_path: ${kubeconfigPath} } } }`,
    });
  }, 180_000);

  afterAll(async () => {
    for (const a of agents) await a.stop();
    await server?.stop();
    await k8s?.stop();
    await tmp?.cleanup();
  });

  it('k8sbundle: the ConfigMap holds the bundle as soon as the server runs', async () => {
    const pem = await waitFor('the bundle in the ConfigMap', async () => (await configMapBundle()) || undefined);
    expect(pem).toBe((await server.cli('bundle', 'show')).stdout);
    expect(server.proc.output()).toMatch(/Bundle written.*configmaps\/spire-bundle/);
  });

  it('seed 002: an agent bootstrapped from the ConfigMap attests with k8s_psat; the node alias places the workload', async () => {
    // The registration example of seed 002, as written (k8s_psat:cluster:mycluster).
    expect((await server.cli('entry', 'create', '-node', '-spiffeID', `spiffe://${TD}/nodes`, '-selector', 'k8s_psat:cluster:mycluster')).code).toBe(0);
    const w = await server.cli('entry', 'create', '-parentID', `spiffe://${TD}/nodes`, '-spiffeID', `spiffe://${TD}/workload/a`, '-selector', `unix:uid:${process.getuid!()}`);
    expect(w.code, w.stderr).toBe(0);
    await writeFile(f('bundle-from-configmap.crt'), await configMapBundle());
    const tokenPath = await agentPod('spire-agent-aaaaa', 'node-1');
    const agent = await startAgent({
      dir: tmp.path, server, name: 'agent-1', syncInterval: '500ms', trustBundlePath: f('bundle-from-configmap.crt'),
      nodeAttestor: `{ k8s_psat: { plugin_data: { cluster: mycluster, token_path: ${tokenPath} } } }`,
    });
    agents.push(agent);
    const agentId = `spiffe://${TD}/spire/agent/k8s_psat/mycluster/${nodeUid}`;
    expect(agent.proc.output()).toContain(agentId);
    expect(await waitFor('the workload SVID', () => fetchIds(agent).catch(() => undefined))).toEqual([`spiffe://${TD}/workload/a`]);
    const shown = await server.cli('agent', 'show', '-spiffeID', agentId);
    expect(shown.stdout).toContain('Attestation type  : k8s_psat');
    for (const sel of ['k8s_psat:cluster:mycluster', 'k8s_psat:agent_ns:spire', 'k8s_psat:agent_sa:spire-agent', 'k8s_psat:agent_pod_name:spire-agent-aaaaa',
      'k8s_psat:agent_node_name:node-1', `k8s_psat:agent_node_uid:${nodeUid}`, 'k8s_psat:agent_node_ip:127.0.0.1', 'k8s_psat:agent_node_label:topology.kubernetes.io/zone:z1']) {
      expect(shown.stdout).toContain(sel);
    }
  }, 60_000);

  it('attests again with the current token: a new agent pod on the node keeps the agent ID', async () => {
    const agent = agents[0]!;
    const agentId = `spiffe://${TD}/spire/agent/k8s_psat/mycluster/${nodeUid}`;
    // The kubelet would write a new pod's token into the same projected volume path.
    await writeFile(f('spire-agent-aaaaa.token'), await (async () => {
      await k8s.createPod({ namespace: 'spire', name: 'spire-agent-bbbbb', serviceAccount: 'spire-agent', nodeName: 'node-1' });
      return k8s.createToken('spire', 'spire-agent', { audience: 'spire-server', podName: 'spire-agent-bbbbb' });
    })());
    // agent_ttl 20 s: the agent renews by attesting again within about 10 s.
    await waitFor('attestation with the new pod\'s token', async () => (await server.cli('agent', 'show', '-spiffeID', agentId)).stdout.includes('agent_pod_name:spire-agent-bbbbb'), { timeoutMs: 25_000, intervalMs: 500 });
    expect(await fetchIds(agent)).toEqual([`spiffe://${TD}/workload/a`]);
  }, 30_000);

  it('k8sbundle follows a CA rotation; a new agent bootstraps from the updated ConfigMap', async () => {
    const state = async () => JSON.parse((await server.cli('localauthority', 'x509', 'show', '-output', 'json')).stdout);
    const old = (await state()).active.authority_id as string;
    expect((await server.cli('localauthority', 'x509', 'prepare')).code).toBe(0);
    await waitFor('both CAs in the ConfigMap', async () => certCount(await configMapBundle()) === 2);
    expect((await server.cli('localauthority', 'x509', 'activate', '-authorityID', (await state()).prepared.authority_id)).code).toBe(0);
    expect((await server.cli('localauthority', 'x509', 'taint', '-authorityID', old)).code).toBe(0);
    const revoked = await server.cli('localauthority', 'x509', 'revoke', '-authorityID', old);
    expect(revoked.code, revoked.stderr).toBe(0);
    const pem = await waitFor('only the new CA in the ConfigMap', async () => { const p = await configMapBundle(); return certCount(p) === 1 ? p : undefined; });
    expect(pem).toBe((await server.cli('bundle', 'show')).stdout);
    expect(new X509Certificate(pem).subject).toBeTruthy();

    // A second node's agent trusts only the ConfigMap's current content.
    await k8s.createNode('node-2');
    await writeFile(f('bundle-rotated.crt'), pem);
    const agent = await startAgent({
      dir: tmp.path, server, name: 'agent-2', syncInterval: '500ms', trustBundlePath: f('bundle-rotated.crt'),
      nodeAttestor: `{ k8s_psat: { plugin_data: { cluster: mycluster, token_path: ${await agentPod('spire-agent-ccccc', 'node-2')} } } }`,
    });
    agents.push(agent);
    expect(await waitFor('the workload SVID on node-2', () => fetchIds(agent).catch(() => undefined))).toEqual([`spiffe://${TD}/workload/a`]);
  }, 90_000);

  it('refuses an agent whose token has another audience, saying why', async () => {
    await k8s.createPod({ namespace: 'spire', name: 'spire-agent-ddddd', serviceAccount: 'spire-agent', nodeName: 'node-2' });
    await writeFile(f('wrong-aud.token'), await k8s.createToken('spire', 'spire-agent', { audience: 'not-spire', podName: 'spire-agent-ddddd' }));
    // Without retries the agent exits at once with the server's reason.
    await writeFile(f('agent-3.yaml'), [
      'agent:', `  data_dir: ${f('agent-3-data')}`, '  server_address: 127.0.0.1', `  server_port: ${server.port}`, `  socket_path: ${f('agent-3.sock')}`,
      `  trust_domain: ${TD}`, `  trust_bundle_path: ${f('bundle-rotated.crt')}`, '  retry_bootstrap: false',
      'plugins:', '  KeyManager: { memory: { plugin_data: {} } }', `  NodeAttestor: { k8s_psat: { plugin_data: { cluster: mycluster, token_path: ${f('wrong-aud.token')} } } }`,
      '  WorkloadAttestor: { unix: { plugin_data: {} } }', '',
    ].join('\n'));
    const r = await runCommand(AGENT_BIN, ['run', '-config', f('agent-3.yaml')], { timeoutMs: 30_000 });
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/k8s_psat: unable to validate token with TokenReview API: token review API response contains an error: .*token audiences \[\\?"not-spire\\?"\] is invalid for the target audiences \[\\?"spire-server\\?"\]/);
  }, 30_000);

  it('a server whose bundle ConfigMap is missing does not start, and says which (SPIRE\'s "bundle loaded" advice)', async () => {
    const dir = f('server-no-configmap');
    const port = await freePort();
    await writeFile(f('server-no-configmap.yaml'), [
      'server:', '  bind_address: 127.0.0.1', `  bind_port: ${port}`, `  socket_path: ${f('s2.sock')}`, `  trust_domain: ${TD}`, `  data_dir: ${dir}`,
      'plugins:', `  DataStore: { sql: { plugin_data: { database_type: sqlite3, connection_string: ${join(dir, 'ds.sqlite3')} } } }`,
      '  KeyManager: { memory: { plugin_data: {} } }', `  Notifier: { k8sbundle: { plugin_data: { config_map: not-there, kube_config_file_path: ${k8s.kubeconfigPath} } } }`, '',
    ].join('\n'));
    const r = await runCommand(SERVER_BIN, ['run', '-config', f('server-no-configmap.yaml')], { timeoutMs: 30_000 });
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toContain('Notifier failed to handle event');
    expect(r.stdout + r.stderr).toMatch(/k8sbundle: unable to update: spire\/not-there: unable to get object spire\/not-there: .*404 NotFound: configmaps \\?"not-there\\?" not found/);
  }, 30_000);
});
