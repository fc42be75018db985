// k8s_psat node attestation against a real kube-apiserver: tokens minted with
// the TokenRequest API and bound to Pods (what the kubelet projects), checked
// with TokenReview; the Pod and Node read back for SPIRE's agent ID and
// selectors — and each way an agent is refused, with SPIRE's messages.
import { readFile, writeFile } from 'node:fs/promises';
import { createPrivateKey } from 'node:crypto';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeraldError } from '../../../../src/common/errors.ts';
import { K8sPsatAttestor, type PsatClusterConfig } from '../../../../src/server/plugins/nodeattestor/k8s_psat/k8s-psat.ts';
import { TrustDomain } from '../../../../src/spiffe/trust-domain.ts';
import { startKubeApiserver, type KubeApiserver } from '../../../helpers/kube-apiserver.ts';
import { waitFor } from '../../../helpers/wait.ts';

const td = TrustDomain.fromString('example.org');
let k8s: KubeApiserver;
let node: any;
let pod: any;

const cluster = (o: Partial<PsatClusterConfig> = {}): PsatClusterConfig => ({
  serviceAccounts: new Set(['spire:spire-agent']),
  audience: ['spire-server'],
  kubeConfigFile: k8s.kubeconfigPath,
  allowedNodeLabelKeys: new Set(['topology.kubernetes.io/zone']),
  allowedPodLabelKeys: new Set(['app']),
  ...o,
});
const attestor = (o: Partial<PsatClusterConfig> = {}) => new K8sPsatAttestor(td, new Map([['mycluster', cluster(o)]]));
const payload = (token: string, clusterName = 'mycluster') => Buffer.from(JSON.stringify({ cluster: clusterName, token }));

/** The attestation's error as { code, message }. */
async function refusal(a: K8sPsatAttestor, data: Buffer): Promise<{ code: string; message: string }> {
  const err = await a.attest(data).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(HeraldError);
  return { code: (err as HeraldError).code, message: (err as HeraldError).message };
}

beforeAll(async () => {
  k8s = await startKubeApiserver();
  node = await k8s.createNode('node-1', { 'topology.kubernetes.io/zone': 'z1', 'kubernetes.io/hostname': 'node-1' });
  pod = await k8s.createPod({
    namespace: 'spire', name: 'spire-agent-abcde', serviceAccount: 'spire-agent', nodeName: 'node-1',
    labels: { app: 'spire-agent', 'pod-template-hash': 'x' }, status: { hostIP: '10.1.2.3' },
  });
  await k8s.ensureServiceAccount('spire', 'other-sa');
}, 120_000);
afterAll(async () => { await k8s?.stop(); });

describe('k8s_psat server attestor', () => {
  it('attests a pod\'s projected token: agent ID by node UID, SPIRE\'s selectors (allowed labels only)', async () => {
    const token = await k8s.createToken('spire', 'spire-agent', { audience: 'spire-server', podName: 'spire-agent-abcde' });
    const res = await attestor().attest(payload(token));
    expect(res.agentId.toString()).toBe(`spiffe://example.org/spire/agent/k8s_psat/mycluster/${node.metadata.uid}`);
    expect(res.canReattest).toBe(true);
    expect(res.selectors.map((s) => `${s.type}:${s.value}`)).toEqual([
      'k8s_psat:cluster:mycluster',
      'k8s_psat:agent_ns:spire',
      'k8s_psat:agent_sa:spire-agent',
      'k8s_psat:agent_pod_name:spire-agent-abcde',
      `k8s_psat:agent_pod_uid:${pod.metadata.uid}`,
      'k8s_psat:agent_node_ip:10.1.2.3',
      'k8s_psat:agent_node_name:node-1',
      `k8s_psat:agent_node_uid:${node.metadata.uid}`,
      'k8s_psat:agent_node_label:topology.kubernetes.io/zone:z1',
      'k8s_psat:agent_pod_label:app:spire-agent',
    ]);
  });

  it('re-attests with a fresh token, also from a new agent pod on the same node: the same agent ID', async () => {
    await k8s.createPod({ namespace: 'spire', name: 'spire-agent-fghij', serviceAccount: 'spire-agent', nodeName: 'node-1' });
    const first = await attestor().attest(payload(await k8s.createToken('spire', 'spire-agent', { audience: 'spire-server', podName: 'spire-agent-abcde' })));
    const again = await attestor().attest(payload(await k8s.createToken('spire', 'spire-agent', { audience: 'spire-server', podName: 'spire-agent-fghij' })));
    expect(again.agentId.toString()).toBe(first.agentId.toString());
    expect(again.selectors).toContainEqual({ type: 'k8s_psat', value: 'agent_pod_name:spire-agent-fghij' });
  });

  it('an empty audience list checks the API server\'s own audience', async () => {
    const token = await k8s.createToken('spire', 'spire-agent', { podName: 'spire-agent-abcde' });
    expect((await attestor({ audience: [] }).attest(payload(token))).agentId.toString()).toMatch(/k8s_psat\/mycluster\//);
    expect((await refusal(attestor(), payload(token))).message).toMatch(/^k8s_psat: unable to validate token with TokenReview API: token review API response contains an error: .*audiences/);
  });

  it('refuses a token for another audience', async () => {
    const token = await k8s.createToken('spire', 'spire-agent', { audience: 'someone-else', podName: 'spire-agent-abcde' });
    expect(await refusal(attestor(), payload(token))).toEqual({
      code: 'ERR_PERMISSION_DENIED_K8S_PSAT',
      message: expect.stringMatching(/^k8s_psat: unable to validate token with TokenReview API: token review API response contains an error: .*token audiences \["someone-else"\] is invalid for the target audiences \["spire-server"\]/),
    });
  });

  it('refuses a service account that is not allowed', async () => {
    await k8s.createPod({ namespace: 'spire', name: 'intruder', serviceAccount: 'other-sa', nodeName: 'node-1' });
    const token = await k8s.createToken('spire', 'other-sa', { audience: 'spire-server', podName: 'intruder' });
    expect(await refusal(attestor(), payload(token))).toEqual({ code: 'ERR_PERMISSION_DENIED_K8S_PSAT', message: 'k8s_psat: "spire:other-sa" is not an allowed service account' });
  });

  it('refuses an expired token and one signed by another key (the API server says why)', async () => {
    // Signed with the API server's own service-account key, so only the expiry is wrong.
    const key = createPrivateKey(await readFile(join(k8s.dir, 'sa.key')));
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      'kubernetes.io': { namespace: 'spire', pod: { name: 'spire-agent-abcde', uid: pod.metadata.uid }, serviceaccount: { name: 'spire-agent', uid: 'x' } },
    };
    const expired = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256' }).setIssuer(k8s.issuer).setAudience('spire-server')
      .setSubject('system:serviceaccount:spire:spire-agent').setIssuedAt(now - 7200).setNotBefore(now - 7200).setExpirationTime(now - 3600).sign(key);
    expect(await refusal(attestor(), payload(expired))).toEqual({ code: 'ERR_PERMISSION_DENIED_K8S_PSAT', message: expect.stringMatching(/token review API response contains an error: .*expired/) });
    const forged = `${expired.split('.').slice(0, 2).join('.')}.${Buffer.alloc(256, 1).toString('base64url')}`;
    expect((await refusal(attestor(), payload(forged))).message).toMatch(/token review API response contains an error: .*(invalid|verify)/);
  });

  it('refuses a token whose pod is gone (the API server invalidates bound tokens)', async () => {
    await k8s.createPod({ namespace: 'spire', name: 'short-lived', serviceAccount: 'spire-agent', nodeName: 'node-1' });
    const token = await k8s.createToken('spire', 'spire-agent', { audience: 'spire-server', podName: 'short-lived' });
    await attestor().attest(payload(token));
    await k8s.forceDeletePod('spire', 'short-lived');
    // Refused at once: the pod lookup fails. The authenticator reads pods from an informer
    // cache, so a moment later TokenReview itself rejects the token.
    expect((await refusal(attestor(), payload(token))).message).toMatch(/pods "short-lived" not found|token review API response contains an error/);
    const last = await waitFor('TokenReview to refuse the token', async () => {
      const m = (await refusal(attestor(), payload(token))).message;
      return m.includes('token review API') ? m : undefined;
    }, { timeoutMs: 20_000, intervalMs: 200 });
    expect(last).toMatch(/token review API response contains an error: .*(invalidated|not found)/);
  });

  it('refuses a legacy token that is bound to no pod', async () => {
    const token = await k8s.createToken('spire', 'spire-agent', { audience: 'spire-server' });
    expect((await refusal(attestor(), payload(token))).message).toBe(
      'k8s_psat: fail to get pod name from token review status: missing pod name (is it a projected service account token bound to a pod?)',
    );
  });

  it.each([
    ['', 'k8s_psat: missing attestation payload'],
    ['{', 'k8s_psat: failed to unmarshal data payload: '],
    ['{"token":"t"}', 'k8s_psat: missing cluster in attestation data'],
    ['{"cluster":"mycluster"}', 'k8s_psat: missing token in attestation data'],
    ['{"cluster":"elsewhere","token":"t"}', 'k8s_psat: not configured for cluster "elsewhere"'],
  ])('refuses the payload %j', async (data, message) => {
    const r = await refusal(attestor(), Buffer.from(data));
    expect(r.code).toBe('ERR_INVALID_ARGUMENT_K8S_PSAT');
    expect(r.message.startsWith(message)).toBe(true);
  });

  it('says when the API server cannot be reached or the kubeconfig is unusable', async () => {
    const token = await k8s.createToken('spire', 'spire-agent', { audience: 'spire-server', podName: 'spire-agent-abcde' });
    expect(await refusal(attestor({ kubeConfigFile: join(k8s.dir, 'missing.kubeconfig') }), payload(token))).toEqual({
      code: 'ERR_INTERNAL_K8S_PSAT', message: expect.stringMatching(/^k8s_psat: unable to validate token with TokenReview API: unable to get clientset: ENOENT/),
    });
    const unreachable = join(k8s.dir, 'unreachable.kubeconfig');
    await writeFile(unreachable, (await readFile(k8s.kubeconfigPath, 'utf8')).replace(k8s.url, 'https://127.0.0.1:1'));
    expect(await refusal(attestor({ kubeConfigFile: unreachable }), payload(token))).toEqual({
      code: 'ERR_INTERNAL_K8S_PSAT', message: expect.stringMatching(/^k8s_psat: unable to validate token with TokenReview API: unable to query token review API: kubernetes: POST \/apis\/authentication.k8s.io\/v1\/tokenreviews: connect ECONNREFUSED/),
    });
  });
});

describe('SPIRE\'s k8s_psat and k8sbundle configuration (HCL, as in SPIRE\'s docs)', () => {
  it('loads into the clusters and the notifier\'s defaults', async () => {
    const { loadServerConfig } = await import('../../../../src/server/config.ts');
    const config = await loadServerConfig({
      cwd: k8s.dir,
      configPath: 'server.conf',
      text: `server {
    trust_domain = "example.org"
}
plugins {
    DataStore "sql" { plugin_data { database_type = "sqlite3" connection_string = "ds.sqlite3" } }
    KeyManager "memory" { plugin_data {} }
    NodeAttestor "k8s_psat" {
        plugin_data {
            clusters = {
                "mycluster" = {
                    service_account_allow_list = ["spire:spire-agent"]
                    kube_config_file = "kube.conf"
                    allowed_node_label_keys = ["topology.kubernetes.io/zone"]
                }
                "other" = {
                    service_account_allow_list = ["a:b", "c:d"]
                    audience = []
                }
            }
        }
    }
    Notifier "k8sbundle" { plugin_data { namespace = "infra" } }
}
`,
    });
    const psat = config.plugins.find((p) => p.name === 'k8s_psat')!.config as ReadonlyMap<string, PsatClusterConfig>;
    expect([...psat.keys()]).toEqual(['mycluster', 'other']);
    expect(psat.get('mycluster')).toEqual({
      serviceAccounts: new Set(['spire:spire-agent']), audience: ['spire-server'], kubeConfigFile: join(k8s.dir, 'kube.conf'),
      allowedNodeLabelKeys: new Set(['topology.kubernetes.io/zone']), allowedPodLabelKeys: new Set(),
    });
    // An empty audience list is kept: the API server's own audience (SPIRE's nil vs empty).
    expect(psat.get('other')!.audience).toEqual([]);
    expect(psat.get('other')!.kubeConfigFile).toBeUndefined();
    expect(config.plugins.find((p) => p.name === 'k8sbundle')!.config).toEqual({ namespace: 'infra', configMap: 'spire-bundle', configMapKey: 'bundle.crt', kubeConfigFile: undefined });
  });
});
