// k8s_psat node attestation (SPIRE's plugin/server/nodeattestor/k8spsat):
// the agent sends {cluster, token}; the token must pass the cluster's
// TokenReview with the configured audience and belong to an allowed service
// account; the agent's Pod and its Node are then read from the API server.
// Agent ID spiffe://<td>/spire/agent/k8s_psat/<cluster>/<node uid>: one agent
// identity per node, kept across agent pod restarts. Error messages are
// SPIRE's, so operators find them in SPIRE's docs and issues.
import { HeraldError, errorMessage, type ErrorCode } from '../../../../common/errors.ts';
import { KubeClient } from '../../../../common/k8s/client.ts';
import { K8S_PSAT, agentIdPath, extraFromTokenStatus, namesFromTokenStatus, type TokenReviewStatus } from '../../../../common/k8s/psat.ts';
import type { Selector } from '../../../../common/selector.ts';
import { SpiffeId } from '../../../../spiffe/id.ts';
import type { TrustDomain } from '../../../../spiffe/trust-domain.ts';
import type { AttestationResult, NodeAttestor } from '../types.ts';

export interface PsatClusterConfig {
  /** `<namespace>:<service account>` */
  readonly serviceAccounts: ReadonlySet<string>;
  /** Empty: the API server's default audience. */
  readonly audience: readonly string[];
  /** Undefined: the in-cluster config. */
  readonly kubeConfigFile: string | undefined;
  readonly allowedNodeLabelKeys: ReadonlySet<string>;
  readonly allowedPodLabelKeys: ReadonlySet<string>;
}

function fail(code: ErrorCode, message: string, cause?: unknown): never {
  throw new HeraldError(code, `k8s_psat: ${message}`, cause === undefined ? {} : { cause });
}
const invalid = (m: string): never => fail('ERR_INVALID_ARGUMENT_K8S_PSAT', m);
const denied = (m: string): never => fail('ERR_PERMISSION_DENIED_K8S_PSAT', m);
const internal = (m: string, cause?: unknown): never => fail('ERR_INTERNAL_K8S_PSAT', m, cause);

/** The API server reviewed the token and refused it (expired, forged, wrong audience, pod gone). */
class TokenRejectedError extends Error {}

/** TokenReview with the audiences; the status, or an error naming what the API server said (SPIRE's ValidateToken). */
export async function reviewToken(client: KubeClient, token: string, audiences: readonly string[]): Promise<TokenReviewStatus> {
  const review = await client.create('/apis/authentication.k8s.io/v1/tokenreviews', {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenReview',
    spec: { token, audiences },
  }).catch((err: unknown) => { throw new Error(`unable to query token review API: ${errorMessage(err)}`, { cause: err }); });
  const status = (review?.status ?? {}) as TokenReviewStatus;
  if (status.error) throw new TokenRejectedError(`token review API response contains an error: ${status.error}`);
  // The reviewer must be audience aware: an authenticated status must name one of ours.
  if (status.authenticated && audiences.length > 0 && !audiences.some((a) => status.audiences?.includes(a))) {
    throw new Error(`token review API did not validate audience: wanted one of ${JSON.stringify(audiences)} but got ${JSON.stringify(status.audiences ?? [])}`);
  }
  return status;
}

const selector = (...parts: string[]): Selector => ({ type: K8S_PSAT, value: parts.join(':') });

export class K8sPsatAttestor implements NodeAttestor {
  readonly name = K8S_PSAT;
  readonly #td: TrustDomain;
  readonly #clusters: ReadonlyMap<string, PsatClusterConfig>;

  constructor(td: TrustDomain, clusters: ReadonlyMap<string, PsatClusterConfig>) {
    this.#td = td;
    this.#clusters = clusters;
  }

  async attest(payload: Buffer): Promise<AttestationResult> {
    if (payload.length === 0) invalid('missing attestation payload');
    let data: { cluster?: unknown; token?: unknown };
    try {
      data = JSON.parse(payload.toString('utf8'));
    } catch (err) {
      return invalid(`failed to unmarshal data payload: ${errorMessage(err)}`);
    }
    const clusterName = typeof data?.cluster === 'string' ? data.cluster : '';
    const token = typeof data?.token === 'string' ? data.token : '';
    if (clusterName === '') invalid('missing cluster in attestation data');
    if (token === '') invalid('missing token in attestation data');
    const cluster = this.#clusters.get(clusterName) ?? invalid(`not configured for cluster ${JSON.stringify(clusterName)}`);

    // The kubeconfig is read on each attestation, as SPIRE does: its credentials may rotate.
    let client: KubeClient;
    try {
      client = KubeClient.load(cluster.kubeConfigFile);
    } catch (err) {
      return internal(`unable to validate token with TokenReview API: unable to get clientset: ${errorMessage(err)}`, err);
    }
    let status: TokenReviewStatus;
    try {
      status = await reviewToken(client, token, cluster.audience);
    } catch (err) {
      // SPIRE answers INTERNAL either way; a refused token is the agent's problem, so it is
      // PERMISSION_DENIED here and the agent sees why (INTERNAL details stay in the server log).
      const message = `unable to validate token with TokenReview API: ${errorMessage(err)}`;
      return err instanceof TokenRejectedError ? fail('ERR_PERMISSION_DENIED_K8S_PSAT', message, err) : internal(message, err);
    }
    if (!status.authenticated) denied('token not authenticated according to TokenReview API');

    let namespace: string, serviceAccount: string, podName: string, podUid: string;
    try {
      [namespace, serviceAccount] = namesFromTokenStatus(status);
    } catch (err) {
      return internal(`fail to parse username from token review status: ${errorMessage(err)}`);
    }
    const fullName = `${namespace}:${serviceAccount}`;
    if (!cluster.serviceAccounts.has(fullName)) denied(`${JSON.stringify(fullName)} is not an allowed service account`);
    try {
      podName = extraFromTokenStatus(status, 'pod-name');
    } catch (err) {
      // A legacy (non-projected) token carries no pod: say so, it is the usual cause.
      return internal(`fail to get pod name from token review status: ${errorMessage(err)} (is it a projected service account token bound to a pod?)`);
    }
    try {
      podUid = extraFromTokenStatus(status, 'pod-uid');
    } catch (err) {
      return internal(`fail to get pod UID from token review status: ${errorMessage(err)}`);
    }

    const pod = await client.get(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(podName)}`)
      .catch((err: unknown) => internal(`fail to get pod from k8s API server: unable to query pods API: ${errorMessage(err)}`, err));
    const nodeName: string = pod?.spec?.nodeName ?? '';
    if (nodeName === '') internal('fail to get node from k8s API server: empty node name');
    const node = await client.get(`/api/v1/nodes/${encodeURIComponent(nodeName)}`)
      .catch((err: unknown) => internal(`fail to get node from k8s API server: unable to query nodes API: ${errorMessage(err)}`, err));
    const nodeUid: string = node?.metadata?.uid ?? '';
    if (nodeUid === '') internal('node UID is empty');

    const selectors: Selector[] = [
      selector('cluster', clusterName),
      selector('agent_ns', namespace),
      selector('agent_sa', serviceAccount),
      selector('agent_pod_name', podName),
      selector('agent_pod_uid', podUid),
      selector('agent_node_ip', pod?.status?.hostIP ?? ''),
      selector('agent_node_name', nodeName),
      selector('agent_node_uid', nodeUid),
    ];
    for (const [key, value] of Object.entries((node?.metadata?.labels ?? {}) as Record<string, string>)) {
      if (cluster.allowedNodeLabelKeys.has(key)) selectors.push(selector('agent_node_label', key, value));
    }
    for (const [key, value] of Object.entries((pod?.metadata?.labels ?? {}) as Record<string, string>)) {
      if (cluster.allowedPodLabelKeys.has(key)) selectors.push(selector('agent_pod_label', key, value));
    }
    return {
      agentId: SpiffeId.fromPath(this.#td, agentIdPath(K8S_PSAT, clusterName, nodeUid)),
      selectors,
      canReattest: true,
    };
  }
}
