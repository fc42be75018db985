import { describe, expect, it } from 'vitest';
import { histogramQuantile, MetricsRegistry, quantileFromBuckets, rpcMetricKey, statusName, valueOf } from '../../../src/common/telemetry/metrics.ts';
import { AgentMetrics } from '../../../src/agent/telemetry.ts';
import { ServerMetrics } from '../../../src/server/telemetry.ts';

describe('metric names', () => {
  it.each([
    // SPIRE's middleware names (pkg/common/api/middleware/names.go), PascalCase → snake_case its way.
    ['/spire.api.server.svid.v1.SVID/BatchNewX509SVID', 'rpc_svid_v1_svid_batch_new_x509svid'],
    ['/spire.api.server.agent.v1.Agent/AttestAgent', 'rpc_agent_v1_agent_attest_agent'],
    ['/spire.api.server.svid.v1.SVID/NewJWTSVID', 'rpc_svid_v1_svid_new_jwtsvid'],
    ['/spire.api.server.entry.v1.Entry/GetAuthorizedEntries', 'rpc_entry_v1_entry_get_authorized_entries'],
    ['/spire.api.server.localauthority.v1.LocalAuthority/PrepareX509Authority', 'rpc_localauthority_v1_local_authority_prepare_x509_authority'],
    ['/SpiffeWorkloadAPI/FetchX509SVID', 'rpc_workload_api_fetch_x509svid'],
    ['/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets', 'rpc_sds_v3_stream_secrets'],
    ['/spire.api.agent.delegatedidentity.v1.DelegatedIdentity/SubscribeToX509SVIDs', 'rpc_spire_api_agent_delegatedidentity_v1_delegated_identity_subscribe_to_x509_svids'],
  ])('%s → %s', (method, key) => {
    expect(rpcMetricKey(method)).toBe(key);
  });

  it('writes gRPC codes as Go does', () => {
    expect([0, 3, 5, 7, 13, 16].map(statusName)).toEqual(['OK', 'InvalidArgument', 'NotFound', 'PermissionDenied', 'Internal', 'Unauthenticated']);
    expect(statusName(99)).toBe('Code(99)');
  });
});

describe('registries', () => {
  it('one per daemon: two agents in one process count apart, under their own prefix', async () => {
    const a = new AgentMetrics();
    const b = new AgentMetrics('herald_agent');
    a.sdsNack.inc();
    a.sdsNack.inc();
    b.sdsNack.inc();
    expect(await valueOf(a.sdsNack)).toBe(2);
    expect(await valueOf(b.sdsNack)).toBe(1);
    expect(await a.text()).toMatch(/^spire_agent_sds_api_nack 2$/m);
    expect(await b.text()).toMatch(/^herald_agent_sds_api_nack 1$/m);
    expect(await b.text()).not.toContain('spire_agent_');
    // Server metrics alongside (gauges read nothing before attach).
    expect(await new ServerMetrics().text()).toMatch(/^# TYPE spire_server_svid_issued counter$/m);
  });

  it('a gauge whose source fails has no series for that scrape; the rest is served', async () => {
    const m = new MetricsRegistry('t');
    let fail = false;
    m.gauge('flaky', 'reads a source that can fail', [], (g) => {
      if (fail) throw new Error('datastore unavailable');
      g.set(7);
    });
    m.gauge<'td'>('flaky_by_td', 'the same, labelled', ['td'], (g) => {
      if (fail) throw new Error('datastore unavailable');
      g.set({ td: 'example.org' }, 3);
    });
    m.counter('steady', 'always there').inc();
    expect(await m.text()).toMatch(/^t_flaky 7$/m);
    expect(await m.text()).toMatch(/^t_flaky_by_td\{td="example.org"\} 3$/m);
    fail = true;
    const text = await m.text();
    // prom-client writes "Nan"; Prometheus parses it (strconv.ParseFloat ignores case).
    expect(text).toMatch(/^t_flaky nan$/im);
    expect(text).not.toMatch(/^t_flaky_by_td\{/m);
    expect(text).toMatch(/^t_steady 1$/m);
  });

  it('call counters: a count and a latency histogram, both by status', async () => {
    const m = new MetricsRegistry('t');
    const c = m.call<'attestor'>('node_attestor_attest', 'attestations', ['attestor']);
    c.done('OK', performance.now() - 5, { attestor: 'join_token' });
    c.done('PermissionDenied', performance.now(), { attestor: 'join_token' });
    const text = await m.text();
    expect(text).toMatch(/^t_node_attestor_attest\{attestor="join_token",status="OK"\} 1$/m);
    expect(text).toMatch(/^t_node_attestor_attest\{attestor="join_token",status="PermissionDenied"\} 1$/m);
    expect(text).toMatch(/^t_node_attestor_attest_elapsed_time_count\{attestor="join_token",status="OK"\} 1$/m);
  });

  it('issued(): every SVID of a batch by result, SPIRE\'s sign counter for the successes', async () => {
    const m = new ServerMetrics();
    m.issued('x509', performance.now(), [0, 0, 5, 0]);
    expect(await valueOf(m.svidIssued, { type: 'x509', status: 'OK' })).toBe(3);
    expect(await valueOf(m.svidIssued, { type: 'x509', status: 'NotFound' })).toBe(1);
    expect(await valueOf(m.signX509Svid)).toBe(3);
    await expect(m.timeIssue('jwt', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await valueOf(m.svidIssued, { type: 'jwt', status: 'Internal' })).toBe(1);
    expect(await valueOf(m.signJwtSvid)).toBe(0);
  });
});

describe('quantiles from buckets (PromQL histogram_quantile)', () => {
  it('interpolates within the bucket holding the rank', () => {
    // 10 observations ≤ 1, 10 more ≤ 2: the median is the top of the first bucket, p75 half-way into the second.
    expect(quantileFromBuckets([[1, 10], [2, 20], [Infinity, 20]], 0.5)).toBe(1);
    expect(quantileFromBuckets([[1, 10], [2, 20], [Infinity, 20]], 0.75)).toBe(1.5);
    expect(quantileFromBuckets([[1, 0], [Infinity, 4]], 0.5)).toBe(1);
    expect(quantileFromBuckets([[1, 0], [Infinity, 0]], 0.5)).toBeUndefined();
  });

  it('reads a prom-client histogram', async () => {
    const m = new MetricsRegistry('t');
    const h = m.histogram('lat', 'latency', [], [1, 10, 100]);
    expect(await histogramQuantile(h, 0.5)).toBeUndefined();
    for (const v of [0.5, 0.5, 5, 50]) h.observe(v);
    expect(await histogramQuantile(h, 0.5)).toBe(1);
    expect(await histogramQuantile(h, 0.99)).toBeCloseTo(10 + 90 * 0.96);
  });
});
