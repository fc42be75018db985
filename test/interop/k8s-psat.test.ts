// k8s_psat across implementations, against a real kube-apiserver: SPIRE's
// spire-agent attests to herald-server, and herald-agent to SPIRE's
// spire-server — the same payload, agent ID and selectors either way.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, startServer, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { startKubeApiserver, type KubeApiserver } from '../helpers/kube-apiserver.ts';
import { runCommand, type RunningProcess } from '../helpers/process.ts';
import { spireBinaries, startSpireAgent, startSpireServer, type SpireServerHandle } from '../helpers/spire.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';

describe('k8s_psat interop with SPIRE', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let k8s: KubeApiserver;
  let nodeUid: string;
  let server: ServerHandle | undefined;
  let spireAgent: RunningProcess | undefined;
  let spireServer: SpireServerHandle | undefined;
  let heraldAgent: AgentHandle | undefined;
  const f = (n: string) => join(tmp.path, n);
  const uid = process.getuid!();
  /** An agent pod on node-1 and its projected token in a file. */
  const tokenFile = async (pod: string): Promise<string> => {
    await k8s.createPod({ namespace: 'spire', name: pod, serviceAccount: 'spire-agent', nodeName: 'node-1', status: { hostIP: '127.0.0.1' } });
    await writeFile(f(`${pod}.token`), await k8s.createToken('spire', 'spire-agent', { audience: 'spire-server', podName: pod }));
    return f(`${pod}.token`);
  };

  beforeAll(async () => {
    tmp = await makeTempDir('herald-psat-interop-');
    k8s = await startKubeApiserver();
    nodeUid = (await k8s.createNode('node-1', { 'kubernetes.io/os': 'linux' })).metadata.uid;
  }, 120_000);

  afterAll(async () => {
    await spireAgent?.stop();
    await heraldAgent?.stop();
    await server?.stop();
    await spireServer?.stop();
    await k8s?.stop();
    await tmp?.cleanup();
  });

  it('spire-agent\'s k8s_psat attests to herald-server; the node alias places its workload', async () => {
    const dir = f('herald-server');
    await mkdir(dir);
    server = await startServer({
      dir,
      extraNodeAttestors: `k8s_psat: { plugin_data: { clusters: { mycluster: { service_account_allow_list: ["spire:spire-agent"], kube_config_file: ${k8s.kubeconfigPath}, allowed_node_label_keys: [kubernetes.io/os] } } } }`,
    });
    expect((await server.cli('entry', 'create', '-node', '-spiffeID', 'spiffe://example.org/nodes', '-selector', 'k8s_psat:cluster:mycluster')).code).toBe(0);
    expect((await server.cli('entry', 'create', '-parentID', 'spiffe://example.org/nodes', '-spiffeID', 'spiffe://example.org/via-spire-psat', '-selector', `unix:uid:${uid}`)).code).toBe(0);
    const started = await startSpireAgent({
      dir: tmp.path, name: 'spire-agent-psat', serverPort: server.port, trustDomain: 'example.org',
      nodeAttestor: `NodeAttestor "k8s_psat" { plugin_data { cluster = "mycluster" token_path = "${await tokenFile('spire-agent-spire')}" } }`,
    });
    spireAgent = started.proc;
    await spireAgent.waitForOutput('Node attestation was successful', 30_000);
    const agentId = `spiffe://example.org/spire/agent/k8s_psat/mycluster/${nodeUid}`;
    expect(spireAgent.output()).toContain(agentId);
    const fetched = await waitFor('the SVID from spire-agent', async () => {
      const r = await runCommand(spireBinaries().agent, ['api', 'fetch', 'x509', '-socketPath', started.socketPath]);
      return r.code === 0 ? r : undefined;
    }, { timeoutMs: 30_000 });
    expect(fetched.stdout).toContain('spiffe://example.org/via-spire-psat');
    const shown = await server.cli('agent', 'show', '-spiffeID', agentId);
    expect(shown.stdout).toContain('Attestation type  : k8s_psat');
    expect(shown.stdout).toContain('k8s_psat:agent_pod_name:spire-agent-spire');
    expect(shown.stdout).toContain('k8s_psat:agent_node_label:kubernetes.io/os:linux');
  }, 90_000);

  it('herald-agent\'s k8s_psat attests to spire-server; SPIRE gives it the same agent ID and selectors', async () => {
    const dir = f('spire-server');
    await mkdir(dir);
    spireServer = await startSpireServer({
      dir,
      plugins: `NodeAttestor "k8s_psat" { plugin_data { clusters = { "mycluster" = { service_account_allow_list = ["spire:spire-agent"] kube_config_file = "${k8s.kubeconfigPath}" allowed_node_label_keys = ["kubernetes.io/os"] } } } }`,
    });
    const { cli, port } = spireServer;
    expect((await cli('entry', 'create', '-node', '-spiffeID', 'spiffe://spire.test/nodes', '-selector', 'k8s_psat:cluster:mycluster')).code).toBe(0);
    expect((await cli('entry', 'create', '-parentID', 'spiffe://spire.test/nodes', '-spiffeID', 'spiffe://spire.test/via-herald-psat', '-selector', `unix:uid:${uid}`)).code).toBe(0);
    heraldAgent = await startAgent({
      dir: tmp.path, name: 'herald-agent-psat', server: { port, trustDomain: 'spire.test' } as ServerHandle,
      nodeAttestor: `{ k8s_psat: { plugin_data: { cluster: mycluster, token_path: ${await tokenFile('spire-agent-herald')} } } }`,
    });
    const agentId = `spiffe://spire.test/spire/agent/k8s_psat/mycluster/${nodeUid}`;
    expect(heraldAgent.proc.output()).toContain(agentId);
    const fetched = await waitFor('the SVID from herald-agent', async () => {
      const r = await heraldAgent!.cli('api', 'fetch', 'x509');
      return r.code === 0 ? r : undefined;
    });
    expect(fetched.stdout).toContain('spiffe://spire.test/via-herald-psat');
    const shown = await cli('agent', 'show', '-spiffeID', agentId);
    expect(shown.stdout, shown.stderr).toContain('Attestation type  : k8s_psat');
    for (const sel of ['k8s_psat:cluster:mycluster', 'k8s_psat:agent_sa:spire-agent', 'k8s_psat:agent_pod_name:spire-agent-herald', `k8s_psat:agent_node_uid:${nodeUid}`, 'k8s_psat:agent_node_label:kubernetes.io/os:linux']) {
      expect(shown.stdout).toContain(sel);
    }
  }, 90_000);
});
