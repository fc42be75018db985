// spire-controller-manager's template language (Go text/template subset) and
// the entry a ClusterSPIFFEID declares for a Pod (SCM's renderPodEntry).
import { describe, expect, it } from 'vitest';
import { DEFAULT_PARENT_ID_TEMPLATE, parseSpec, renderPodEntry } from '../../../src/server/k8s/cluster-spiffeid.ts';
import { labelSelectorProblem, matchesLabels } from '../../../src/server/k8s/label-selector.ts';
import { GoTemplate } from '../../../src/server/k8s/template.ts';

const node = { metadata: { name: 'node-1', uid: '11111111-2222-3333-4444-555555555555', labels: { zone: 'a' } }, spec: { podCIDR: '10.0.0.0/24' } };
const pod = {
  metadata: { name: 'web-0', namespace: 'prod', uid: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee', labels: { app: 'web', 'app.kubernetes.io/name': 'frontend' } },
  spec: { serviceAccountName: 'workloada', nodeName: 'node-1', hostname: 'web-0', subdomain: 'web' },
};
const data = { TrustDomain: 'example.org', ClusterName: 'mycluster', ClusterDomain: 'cluster.local', NodeMeta: node.metadata, NodeSpec: node.spec, PodMeta: pod.metadata, PodSpec: pod.spec };
const run = (t: string) => new GoTemplate(t).execute(data);

describe('Go template subset', () => {
  it.each([
    ['spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}', 'spiffe://example.org/ns/prod/sa/workloada'],
    ['{{ .NodeMeta.UID }}', '11111111-2222-3333-4444-555555555555'],
    ['{{ .PodMeta.Labels.app }}', 'web'],
    ['{{ .PodMeta.Labels.missing }}', '<no value>'],
    ['{{ index .PodMeta.Labels "app.kubernetes.io/name" }}', 'frontend'],
    ['{{ index .PodMeta.Labels "missing" }}', ''],
    ['{{ .PodSpec.Hostname }}.{{ .PodSpec.Subdomain }}.{{ .PodMeta.Namespace }}.svc.{{ .ClusterDomain }}', 'web-0.web.prod.svc.cluster.local'],
    ['{{ printf "%s-%s" .PodMeta.Namespace .PodMeta.Name }}', 'prod-web-0'],
    ['{{ .PodMeta.Name | printf "pod/%s" }}', 'pod/web-0'],
    ['{{ print (len .PodMeta.Labels) }}', '2'],
    ['a {{- " b " -}} c', 'a b c'],
    ['{{/* a comment */}}x', 'x'],
    ['{{ .NodeSpec.PodCIDR }}', '10.0.0.0/24'],
    ['{{ .PodMeta.GenerateName }}', ''],
  ])('%s', (t, want) => {
    expect(run(t)).toBe(want);
  });
  it.each([
    ['{{ .PodMeta.Name', 'unclosed action'],
    ['{{ if .PodMeta.Name }}x{{ end }}', '"if" is not supported'],
    ['{{ lower .PodMeta.Name }}', 'function "lower" not defined'],
    ['{{ }}', 'missing value for command'],
  ])('%s is refused when parsed', (t, message) => {
    expect(() => new GoTemplate(t)).toThrow(message);
  });
});

describe('label selectors', () => {
  const labels = { app: 'web', tier: 'front' };
  it.each([
    [undefined, true],
    [{}, true],
    [{ matchLabels: { app: 'web' } }, true],
    [{ matchLabels: { app: 'db' } }, false],
    [{ matchExpressions: [{ key: 'tier', operator: 'In', values: ['front', 'back'] }] }, true],
    [{ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['front'] }] }, false],
    [{ matchExpressions: [{ key: 'app', operator: 'Exists' }] }, true],
    [{ matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, false],
    [{ matchExpressions: [{ key: 'x', operator: 'NotIn', values: ['y'] }] }, true],
  ])('%j → %s', (sel, want) => {
    expect(matchesLabels(sel, labels)).toBe(want);
  });
  it('an invalid operator is named', () => {
    expect(labelSelectorProblem({ matchExpressions: [{ key: 'a', operator: 'Like', values: ['b'] }] })).toBe('matchExpressions key "a": "Like" is not a valid label selector operator');
    expect(labelSelectorProblem({ matchExpressions: [{ key: 'a', operator: 'In' }] })).toBe('matchExpressions key "a": operator In needs at least one value');
  });
});

describe('renderPodEntry', () => {
  const ctx = (parent = DEFAULT_PARENT_ID_TEMPLATE) => ({ trustDomain: 'example.org', clusterName: 'mycluster', clusterDomain: 'cluster.local', parentId: new GoTemplate(parent) });
  it('SCM defaults: parent is the node\'s k8s_psat agent, the pod UID selector pins the pod', () => {
    const spec = parseSpec({
      spiffeIDTemplate: 'spiffe://{{ .TrustDomain }}/ns/{{ .PodMeta.Namespace }}/sa/{{ .PodSpec.ServiceAccountName }}',
      ttl: '1h30m',
      jwtTtl: '5m',
      dnsNameTemplates: ['{{ .PodMeta.Name }}.{{ .PodMeta.Namespace }}.svc', '{{ .PodMeta.Name }}.{{ .PodMeta.Namespace }}.svc'],
      workloadSelectorTemplates: ['k8s:sa:{{ .PodSpec.ServiceAccountName }}'],
      federatesWith: ['other.org'],
      hint: 'web',
    });
    const e = renderPodEntry(spec, node, pod, ctx());
    expect(e.spiffe_id).toEqual({ trust_domain: 'example.org', path: '/ns/prod/sa/workloada' });
    expect(e.parent_id).toEqual({ trust_domain: 'example.org', path: '/spire/agent/k8s_psat/mycluster/11111111-2222-3333-4444-555555555555' });
    expect(e.selectors).toEqual([
      { type: 'k8s', value: 'pod-uid:aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee' },
      { type: 'k8s', value: 'sa:workloada' },
    ]);
    expect(e.dns_names).toEqual(['web-0.prod.svc']);
    expect([e.x509_svid_ttl, e.jwt_svid_ttl, e.federates_with, e.hint]).toEqual([5400, 300, ['other.org'], 'web']);
  });
  it('a node alias as the parent', () => {
    const spec = parseSpec({ spiffeIDTemplate: 'spiffe://example.org/w/{{ .PodMeta.Name }}' });
    expect(renderPodEntry(spec, node, pod, ctx('spiffe://example.org/ns/spire/sa/spire-agent')).parent_id?.path).toBe('/ns/spire/sa/spire-agent');
  });
  it.each([
    [{ spiffeIDTemplate: 'spiffe://other.org/x' }, 'failed to render SPIFFE ID: invalid SPIFFE ID: expected trust domain "example.org" but got "other.org"'],
    [{ spiffeIDTemplate: 'not a spiffe id' }, 'failed to render SPIFFE ID: invalid SPIFFE ID "not a spiffe id"'],
    [{ spiffeIDTemplate: 'spiffe://example.org/x', workloadSelectorTemplates: ['k8s'] }, 'invalid workload selector "k8s": expected at least one colon separate the type from the value'],
  ])('%j: %s', (s, message) => {
    expect(() => renderPodEntry(parseSpec(s), node, pod, ctx())).toThrow(message);
  });
  it.each([
    [{}, 'empty SPIFFEID template'],
    [{ spiffeIDTemplate: 'x', ttl: '1 hour' }, 'invalid ttl: unknown unit'],
    [{ spiffeIDTemplate: '{{ .X' }, 'invalid SPIFFEID template value'],
    [{ spiffeIDTemplate: 'x', podSelector: { matchExpressions: [{ key: 'a', operator: 'Near' }] } }, 'invalid podSelector'],
    [{ spiffeIDTemplate: 'x', autoPopulateDNSNames: true }, 'autoPopulateDNSNames is not supported by Herald'],
  ])('spec %j is refused: %s', (s, message) => {
    expect(() => parseSpec(s)).toThrow(message);
  });
});
