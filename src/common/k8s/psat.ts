// What SPIRE's k8s_psat agent and server plugins share
// (pkg/common/plugin/k8s/utils.go): the attestation payload, the agent ID
// and the pieces of a TokenReview status.

export const K8S_PSAT = 'k8s_psat';

/** The attestation data the agent sends, JSON: `{"cluster":…,"token":…}`. */
export interface PsatAttestationData {
  readonly cluster: string;
  readonly token: string;
}

/** spiffe://<td>/spire/agent/<plugin>/<cluster>/<uid> (SPIRE's k8s.AgentID). */
export function agentIdPath(pluginName: string, cluster: string, uid: string): string {
  return `/spire/agent/${pluginName}/${cluster}/${uid}`;
}

export interface TokenReviewStatus {
  readonly authenticated?: boolean;
  readonly error?: string;
  readonly audiences?: readonly string[];
  readonly user?: { readonly username?: string; readonly extra?: Readonly<Record<string, readonly string[]>> };
}

/** system:serviceaccount:<ns>:<sa> → [ns, sa] (SPIRE's GetNamesFromTokenStatus). */
export function namesFromTokenStatus(status: TokenReviewStatus): [string, string] {
  const username = status.user?.username ?? '';
  if (username === '') throw new Error('empty username');
  const names = username.split(':');
  if (names.length !== 4) throw new Error(`unexpected username format: ${username}`);
  if (names[2] === '') throw new Error('missing namespace');
  if (names[3] === '') throw new Error('missing service account name');
  return [names[2]!, names[3]!];
}

/** The single value of a user.extra key (pod name, pod UID), as SPIRE reads it. */
export function extraFromTokenStatus(status: TokenReviewStatus, key: 'pod-name' | 'pod-uid'): string {
  const what = key === 'pod-name' ? 'pod name' : 'pod UID';
  const values = status.user?.extra?.[`authentication.kubernetes.io/${key}`];
  if (values === undefined) throw new Error(`missing ${what}`);
  if (values.length !== 1) throw new Error(`expected 1 ${key === 'pod-name' ? 'name' : 'UID'} but got: ${values.length}`);
  if (values[0] === '') throw new Error(`${what} is empty`);
  return values[0]!;
}
