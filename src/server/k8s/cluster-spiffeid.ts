// spire-controller-manager's ClusterSPIFFEID (spire.spiffe.io/v1alpha1):
// its spec parsed and checked (ParseClusterSPIFFEIDSpec), and the entry it
// declares for one Pod on one Node (renderPodEntry): SPIFFE ID and DNS names
// from templates, the `k8s:pod-uid` selector plus the rendered workload
// selectors, under the parent ID rendered from the node.

import { tryParseDuration } from '../../common/config/duration.ts';
import type { WireEntry } from '../../common/wire/convert.ts';
import { GoTemplate } from './template.ts';
import { labelSelectorProblem, type LabelSelector } from './label-selector.ts';

export const CRD_GROUP = 'spire.spiffe.io';
export const CRD_VERSION = 'v1alpha1';
export const CLUSTER_SPIFFEIDS_PATH = `/apis/${CRD_GROUP}/${CRD_VERSION}/clusterspiffeids`;

/** spire-controller-manager's default: the agent ID k8s_psat gives the node's agent. */
export const DEFAULT_PARENT_ID_TEMPLATE = 'spiffe://{{ .TrustDomain }}/spire/agent/k8s_psat/{{ .ClusterName }}/{{ .NodeMeta.UID }}';

export interface ClusterSPIFFEIDSpec {
  readonly spiffeIDTemplate?: string;
  readonly ttl?: string;
  readonly jwtTtl?: string;
  readonly dnsNameTemplates?: readonly string[];
  readonly workloadSelectorTemplates?: readonly string[];
  readonly federatesWith?: readonly string[];
  readonly namespaceSelector?: LabelSelector;
  readonly podSelector?: LabelSelector;
  readonly admin?: boolean;
  readonly downstream?: boolean;
  readonly autoPopulateDNSNames?: boolean;
  readonly className?: string;
  readonly fallback?: boolean;
  readonly hint?: string;
}

export interface KubeObject {
  readonly metadata?: {
    readonly name?: string;
    readonly namespace?: string;
    readonly uid?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly creationTimestamp?: string;
    readonly resourceVersion?: string;
    readonly deletionTimestamp?: string;
  };
  readonly spec?: any;
  readonly status?: any;
}

export interface ParsedSpec {
  readonly spiffeId: GoTemplate;
  readonly namespaceSelector: LabelSelector | undefined;
  readonly podSelector: LabelSelector | undefined;
  readonly x509SvidTtlSeconds: number;
  readonly jwtSvidTtlSeconds: number;
  readonly federatesWith: readonly string[];
  readonly dnsNames: readonly GoTemplate[];
  readonly workloadSelectors: readonly GoTemplate[];
  readonly admin: boolean;
  readonly downstream: boolean;
  readonly hint: string;
  readonly fallback: boolean;
  readonly className: string;
}

function ttlSeconds(what: string, v: string | undefined): number {
  if (v === undefined || v === '') return 0;
  const d = tryParseDuration(v);
  if (!d.ok) throw new Error(`invalid ${what}: ${d.problem}`);
  if (d.ms < 0) throw new Error(`invalid ${what}: must not be negative`);
  return Math.floor(d.ms / 1000);
}

/** SCM's ParseClusterSPIFFEIDSpec: the error says which field is wrong. */
export function parseSpec(spec: ClusterSPIFFEIDSpec | undefined): ParsedSpec {
  const s = spec ?? {};
  if (!s.spiffeIDTemplate) throw new Error('empty SPIFFEID template');
  const tmpl = (what: string, src: string): GoTemplate => {
    try {
      return new GoTemplate(src, what);
    } catch (err) {
      throw new Error(`invalid ${what} value: ${(err as Error).message}`);
    }
  };
  for (const [what, sel] of [['namespaceSelector', s.namespaceSelector], ['podSelector', s.podSelector]] as const) {
    const p = labelSelectorProblem(sel);
    if (p) throw new Error(`invalid ${what}: ${p}`);
  }
  if (s.autoPopulateDNSNames) throw new Error('autoPopulateDNSNames is not supported by Herald (it needs the Endpoints of the pod\'s services)');
  return {
    spiffeId: tmpl('SPIFFEID template', s.spiffeIDTemplate),
    namespaceSelector: s.namespaceSelector,
    podSelector: s.podSelector,
    x509SvidTtlSeconds: ttlSeconds('ttl', s.ttl),
    jwtSvidTtlSeconds: ttlSeconds('jwtTtl', s.jwtTtl),
    federatesWith: (s.federatesWith ?? []).map((td) => td.replace(/^spiffe:\/\//, '')),
    dnsNames: (s.dnsNameTemplates ?? []).map((t) => tmpl('dnsNameTemplate', t)),
    workloadSelectors: (s.workloadSelectorTemplates ?? []).map((t) => tmpl('workloadSelectorTemplates', t)),
    admin: s.admin === true,
    downstream: s.downstream === true,
    hint: s.hint ?? '',
    fallback: s.fallback === true,
    className: s.className ?? '',
  };
}

export interface RenderContext {
  readonly trustDomain: string;
  readonly clusterName: string;
  readonly clusterDomain: string;
  readonly parentId: GoTemplate;
}

/** SCM's renderPodEntry, as a wire entry (validated later by the same code as the Entry API's). */
export function renderPodEntry(spec: ParsedSpec, node: KubeObject, pod: KubeObject, ctx: RenderContext): WireEntry {
  const data: Record<string, unknown> = {
    TrustDomain: ctx.trustDomain,
    ClusterName: ctx.clusterName,
    ClusterDomain: ctx.clusterDomain,
    NodeMeta: node.metadata ?? {},
    NodeSpec: node.spec ?? {},
  };
  const parentId = ctx.parentId.execute(data);
  data.PodMeta = pod.metadata ?? {};
  data.PodSpec = pod.spec ?? {};
  const spiffeId = spec.spiffeId.execute(data);
  const dnsNames: string[] = [];
  for (const t of spec.dnsNames) {
    const name = t.execute(data);
    if (!dnsNames.includes(name)) dnsNames.push(name);
  }
  // The pod UID pins the entry to this pod; the parent ID to its node.
  const selectors = [{ type: 'k8s', value: `pod-uid:${pod.metadata?.uid ?? ''}` }];
  for (const t of spec.workloadSelectors) {
    const rendered = t.execute(data);
    const i = rendered.indexOf(':');
    if (i < 0) throw new Error(`invalid workload selector ${JSON.stringify(rendered)}: expected at least one colon separate the type from the value`);
    if (i === 0) throw new Error(`invalid workload selector ${JSON.stringify(rendered)}: type cannot be empty`);
    if (i === rendered.length - 1) throw new Error(`invalid workload selector ${JSON.stringify(rendered)}: value cannot be empty`);
    selectors.push({ type: rendered.slice(0, i), value: rendered.slice(i + 1) });
  }
  return {
    id: '',
    spiffe_id: spiffeIdWire(spiffeId, 'SPIFFE ID', ctx.trustDomain),
    parent_id: spiffeIdWire(parentId, 'parent ID', ctx.trustDomain),
    selectors,
    x509_svid_ttl: spec.x509SvidTtlSeconds,
    jwt_svid_ttl: spec.jwtSvidTtlSeconds,
    federates_with: [...spec.federatesWith],
    admin: spec.admin,
    downstream: spec.downstream,
    expires_at: '0',
    dns_names: dnsNames,
    revision_number: '0',
    store_svid: false,
    hint: spec.hint,
    created_at: '0',
  };
}

/** `spiffe://td/path` → the wire form; SCM refuses another trust domain here. */
function spiffeIdWire(rendered: string, what: string, td: string): { trust_domain: string; path: string } {
  const m = /^spiffe:\/\/([^/]+)(\/.*)?$/.exec(rendered);
  if (!m) throw new Error(`failed to render ${what}: invalid SPIFFE ID ${JSON.stringify(rendered)}`);
  if (m[1] !== td) throw new Error(`failed to render ${what}: invalid SPIFFE ID: expected trust domain ${JSON.stringify(td)} but got ${JSON.stringify(m[1])}`);
  return { trust_domain: m[1]!, path: m[2] ?? '' };
}
