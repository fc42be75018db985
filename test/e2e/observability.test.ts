// Observability end to end: a real Prometheus scrapes a real herald-server
// and herald-agent (telemetry.Prometheus on loopback), and PromQL through its
// HTTP API sees an issuance burst, a CA rotation and an SDS NACK; the shipped
// alerting rules pass `promtool check rules`, load into that Prometheus and
// the SDS NACK alert fires. The server runs with audit_log_enabled and its
// JSON log is parsed for the audit lines of admin calls and attestation.
import * as grpc from '@grpc/grpc-js';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prometheusPaths } from '../../demo/lib/tools.ts';
import { serviceClient, Services } from '../../src/common/grpc/protos.ts';
import { SECRET_TYPE_URL } from '../../src/agent/endpoints/sds/secrets.ts';
import { AGENT_BIN, generateToken, ROOT, startAgent, startServer, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { freePorts } from '../helpers/ports.ts';
import { runCommand, startProcess, type RunningProcess } from '../helpers/process.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';

const TD = 'example.org';
const NODE = `spiffe://${TD}/node`;
const ME = `spiffe://${TD}/observer`;
const RULES = join(ROOT, 'docs/observability-rules.yml');
const BURST = 12;
const PEER = 'peer.example';
const BOGUS_TOKEN = 'never-issued-5f1c9e2a';

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

describe('observability: metrics scraped by a real Prometheus, audit log', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let server: ServerHandle;
  let agent: AgentHandle;
  let prometheus: RunningProcess;
  let promUrl: string;
  let token: string;

  /** An instant PromQL query through Prometheus's HTTP API. */
  const query = async (q: string): Promise<Sample[]> => {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`);
    const body = (await res.json()) as { status: string; error?: string; data: { result: Sample[] } };
    if (body.status !== 'success') throw new Error(`PromQL ${q}: ${body.error}`);
    return body.data.result;
  };
  /** Waits (bounded) until the query's single value is `want`; Prometheus scrapes every 250 ms. */
  const expectValue = async (q: string, want: number, timeoutMs = 20_000): Promise<void> => {
    let last: Sample[] = [];
    await waitFor(`${q} == ${want}`, async () => {
      last = await query(q);
      return last.length === 1 && Number(last[0]!.value[1]) === want;
    }, { timeoutMs, intervalMs: 200 }).catch((err: Error) => {
      throw new Error(`${err.message}; last result: ${JSON.stringify(last.map((s) => [s.metric, s.value[1]]))}`);
    });
  };

  beforeAll(async () => {
    const { prometheus: promBin } = prometheusPaths();
    tmp = await makeTempDir('herald-observability-');
    const [serverMetricsPort, agentMetricsPort, promPort] = await freePorts(3);
    const telemetry = (port: number) => `telemetry:\n  Prometheus: { host: 127.0.0.1, port: ${port} }\n`;
    server = await startServer({ dir: tmp.path, trustDomain: TD, extraServer: '  audit_log_enabled: true\n  log_format: json', extraTop: telemetry(serverMetricsPort!) });
    token = await generateToken(server, NODE);
    const entry = await server.cli('entry', 'create', '-parentID', NODE, '-spiffeID', ME, '-selector', `unix:uid:${process.getuid!()}`);
    expect(entry.code, entry.stderr).toBe(0);
    agent = await startAgent({ dir: tmp.path, server, joinToken: token, syncInterval: '300ms', extraTop: telemetry(agentMetricsPort!) });

    // Prometheus: own storage, loopback, a short scrape interval, the shipped rules.
    const promDir = join(tmp.path, 'prometheus');
    await mkdir(promDir);
    await writeFile(
      join(promDir, 'prometheus.yml'),
      `global: { scrape_interval: 250ms, evaluation_interval: 250ms }
rule_files: [${JSON.stringify(RULES)}]
scrape_configs:
  - job_name: herald-server
    static_configs: [{ targets: ['127.0.0.1:${serverMetricsPort}'] }]
  - job_name: herald-agent
    static_configs: [{ targets: ['127.0.0.1:${agentMetricsPort}'] }]
`,
    );
    promUrl = `http://127.0.0.1:${promPort}`;
    prometheus = startProcess(promBin, [
      `--config.file=${join(promDir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(promDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      '--log.level=warn',
    ], { cwd: promDir });
    await waitFor('Prometheus ready', async () => (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.ok === true, { timeoutMs: 30_000, intervalMs: 200 });
    await expectValue('sum(up{job=~"herald-server|herald-agent"})', 2);
  }, 90_000);

  afterAll(async () => {
    await prometheus?.stop();
    await agent?.stop();
    await server?.stop();
    await tmp?.cleanup();
  });

  it('ships alerting rules that promtool accepts, that fire on what they name (promtool unit tests), and that Prometheus loads', async () => {
    const res = await runCommand(prometheusPaths().promtool, ['check', 'rules', RULES]);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(res.stdout).toMatch(/SUCCESS: \d+ rules found/);
    const unit = await runCommand(prometheusPaths().promtool, ['test', 'rules', join(import.meta.dirname, 'fixtures/observability-rules.test.yml')]);
    expect(unit.code, unit.stdout + unit.stderr).toBe(0);
    const rules = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as { data: { groups: { rules: { name: string; health: string }[] }[] } };
    const loaded = rules.data.groups.flatMap((g) => g.rules);
    expect(loaded.map((r) => r.name)).toEqual(expect.arrayContaining(['HeraldX509CaExpiringWithoutSuccessor', 'HeraldFederatedBundleStale', 'HeraldAgentSyncFailing', 'HeraldSdsNack']));
    // Prometheus evaluates each rule; an expression it cannot run is reported as health "err".
    await waitFor('every rule evaluated', async () => {
      const r = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as typeof rules;
      return r.data.groups.flatMap((g) => g.rules).every((x) => x.health === 'ok');
    }, { timeoutMs: 10_000, intervalMs: 200 });
  });

  it('counts an issuance burst on both sides, with SPIRE\'s names', async () => {
    const value = async (q: string) => Number((await query(q))[0]?.value[1] ?? 0);
    // Before: the workload entry and the node alias the join token made (the agent holds SVIDs for both).
    const before = await value('sum(spire_server_svid_issued{type="x509",status="OK"})');
    const cached = await value('spire_agent_lru_cache_svid_map_size');
    const serverEntries = await value('spire_server_entry_entries_by_entryid_cache_count');
    expect(cached).toBe(2);
    const entries = Array.from({ length: BURST }, (_, i) => ({ spiffe_id: `spiffe://${TD}/burst/${i}`, parent_id: NODE, selectors: [{ type: 'unix', value: `uid:${20_000 + i}` }] }));
    const file = join(tmp.path, 'burst.json');
    await writeFile(file, JSON.stringify({ entries }));
    const created = await server.cli('entry', 'create', '-data', file);
    expect(created.code, created.stderr).toBe(0);
    // The agent asks for every new entry's X509-SVID at its next syncs (BatchNewX509SVID).
    await expectValue('sum(spire_server_svid_issued{type="x509",status="OK"})', before + BURST);
    await expectValue('sum(spire_server_server_ca_sign_x509_svid)', before + BURST);
    await expectValue('spire_agent_lru_cache_svid_map_size', cached + BURST);
    await expectValue('spire_agent_manager_sync_svids_fetched', cached + BURST);
    await expectValue('spire_agent_lru_cache_record_map_size', cached + BURST);
    await expectValue('spire_server_entry_entries_by_entryid_cache_count', serverEntries + BURST);
    await expectValue('spire_server_node_agents_by_id_cache_count', 1);
    // SPIRE's per-RPC call counter, named as SPIRE's middleware names it.
    expect(Number((await query('sum(spire_server_rpc_svid_v1_svid_batch_new_x509svid{status="OK"})'))[0]!.value[1])).toBeGreaterThanOrEqual(1);
    expect(Number((await query('spire_server_node_attestor_attest{attestor="join_token",status="OK"}'))[0]!.value[1])).toBe(1);
    // The latency histogram answers histogram_quantile.
    const p99 = await query('histogram_quantile(0.99, sum by (le) (spire_server_svid_issue_elapsed_time_bucket{type="x509"}))');
    expect(Number(p99[0]!.value[1])).toBeGreaterThan(0);
    // Every cached SVID has its seconds to expiry (default_x509_svid_ttl 1h).
    const expiry = await query('spire_agent_cache_manager_svid_expiry_seconds');
    expect(expiry).toHaveLength(cached + BURST);
    for (const s of expiry) expect(Number(s.value[1])).toBeGreaterThan(3000);
    // A JWT-SVID through the Workload API: NewJWTSVID on the server.
    const jwt = await agent.cli('api', 'fetch', 'jwt', '-audience', 'observability');
    expect(jwt.code, jwt.stderr).toBe(0);
    await expectValue('sum(spire_server_svid_issued{type="jwt",status="OK"})', 1);
    await expectValue('spire_agent_workload_api_fetch{type="jwt_svid"}', 1);
  }, 60_000);

  it('follows an X.509 CA rotation: prepared slot, activation, bundle sequence', async () => {
    await expectValue('count(spire_server_ca_authority_expiry_seconds{kind="x509_ca",status="prepared"}) or vector(0)', 0);
    const seq0 = Number((await query(`spire_server_bundle_sequence{trust_domain_id="${TD}"}`))[0]!.value[1]);
    const prepared = await server.cli('localauthority', 'x509', 'prepare', '-output', 'json');
    expect(prepared.code, prepared.stderr).toBe(0);
    const id = (JSON.parse(prepared.stdout) as { prepared_authority: { authority_id: string } }).prepared_authority.authority_id;
    await expectValue('count(spire_server_ca_authority_expiry_seconds{kind="x509_ca",status="prepared"})', 1);
    await expectValue(`spire_server_bundle_sequence{trust_domain_id="${TD}"} > ${seq0}`, seq0 + 1);
    const preparedSlot = (await query('spire_server_ca_authority_expiry_seconds{kind="x509_ca",status="prepared"}'))[0]!.metric.slot;
    const activated = await server.cli('localauthority', 'x509', 'activate', '-authorityID', id);
    expect(activated.code, activated.stderr).toBe(0);
    await expectValue('spire_server_ca_manager_x509_ca_activate', 1);
    await expectValue('count(spire_server_ca_authority_expiry_seconds{kind="x509_ca",status="prepared"}) or vector(0)', 0);
    expect((await query('spire_server_ca_authority_expiry_seconds{kind="x509_ca",status="active"}'))[0]!.metric.slot).toBe(preparedSlot);
    expect(await query('spire_server_ca_authority_expiry_seconds{kind="x509_ca",status="old"}')).toHaveLength(1);
    // The activation threshold of the new CA lies ahead (ca_ttl 24h: 20 h from now).
    expect(Number((await query('spire_server_ca_authority_activation_seconds{kind="x509_ca"}'))[0]!.value[1])).toBeGreaterThan(19 * 3600);
    expect(Number((await query(`spire_server_manager_x509_ca_rotate_ttl{trust_domain_id="${TD}"}`))[0]!.value[1])).toBeGreaterThan(23 * 3600);
  }, 60_000);

  it('counts SDS pushes, an ACK, a NACK, streams open and push→ACK latency; the NACK alert fires', async () => {
    const client = new (serviceClient(Services.sds))(`unix:${agent.socketPath}`, grpc.credentials.createInsecure());
    type Response = { version_info: string; nonce: string };
    const open = () => {
      const call = (client as unknown as { StreamSecrets(): grpc.ClientDuplexStream<object, Response> }).StreamSecrets();
      const got: Response[] = [];
      call.on('data', (r: Response) => got.push(r));
      call.on('error', () => undefined);
      const send = (req: object) => call.write({ node: { id: 'observability', cluster: 'test' }, type_url: SECRET_TYPE_URL, resource_names: ['default'], version_info: '', response_nonce: '', ...req });
      send({});
      return { call, send, first: () => waitFor('an SDS response', () => got[0], { timeoutMs: 10_000, intervalMs: 10 }) };
    };
    const acking = open();
    const nacking = open();
    try {
      await expectValue('spire_agent_sds_api_connections{kind="stream"}', 2);
      const a = await acking.first();
      acking.send({ version_info: a.version_info, response_nonce: a.nonce });
      const n = await nacking.first();
      nacking.send({ response_nonce: n.nonce, error_detail: { code: 3, message: 'observability test NACK' } });
      await expectValue('spire_agent_sds_api_push', 2);
      await expectValue('spire_agent_sds_api_ack', 1);
      await expectValue('spire_agent_sds_api_nack', 1);
      await expectValue('spire_agent_sds_api_push_to_ack_elapsed_time_count', 1);
      await waitFor('the HeraldSdsNack alert firing', async () => {
        const alerts = (await (await fetch(`${promUrl}/api/v1/alerts`)).json()) as { data: { alerts: { labels: { alertname: string }; state: string }[] } };
        return alerts.data.alerts.some((x) => x.labels.alertname === 'HeraldSdsNack' && x.state === 'firing');
      }, { timeoutMs: 20_000, intervalMs: 250 });
    } finally {
      acking.call.cancel();
      nacking.call.cancel();
      client.close();
    }
    await expectValue('spire_agent_sds_api_connections{kind="stream"}', 0);
    // The agent's sync metrics: successful syncs only, timed.
    expect(await query('spire_agent_manager_sync{status!="OK"}')).toEqual([]);
    expect(Number((await query('spire_agent_manager_sync_elapsed_time_count{status="OK"}'))[0]!.value[1])).toBeGreaterThan(0);
  }, 60_000);

  it('follows a federated bundle: fetches, sequence, age; failures when the peer goes away', async () => {
    const peerDir = join(tmp.path, 'peer');
    await mkdir(peerDir);
    const [endpointPort] = await freePorts(1);
    const peer = await startServer({ dir: peerDir, trustDomain: PEER, extraServer: `  federation:\n    bundle_endpoint: { address: 127.0.0.1, port: ${endpointPort}, refresh_hint: 1s }\n` });
    try {
      const bundle = join(tmp.path, 'peer-bundle.json');
      await writeFile(bundle, (await peer.cli('bundle', 'show', '-format', 'spiffe')).stdout);
      expect((await server.cli('bundle', 'set', '-id', `spiffe://${PEER}`, '-path', bundle, '-format', 'spiffe')).code).toBe(0);
      const created = await server.cli('federation', 'create', '-trustDomain', PEER, '-bundleEndpointURL', `https://127.0.0.1:${endpointPort}`, '-bundleEndpointProfile', 'https_spiffe', '-endpointSpiffeID', `spiffe://${PEER}/spire/server`);
      expect(created.code, created.stderr).toBe(0);
      const ok = `spire_server_bundle_manager_fetch_federated_bundle{trust_domain_id="${PEER}",status="OK"}`;
      await waitFor('a federated bundle fetch', async () => Number((await query(ok))[0]?.value[1] ?? 0) >= 1, { timeoutMs: 20_000, intervalMs: 200 });
      expect(await query(`spire_server_bundle_sequence{trust_domain_id="${PEER}"}`)).toHaveLength(1);
      expect(Number((await query(`spire_server_bundle_manager_federated_bundle_age_seconds{trust_domain_id="${PEER}"}`))[0]!.value[1])).toBeLessThan(10);
    } finally {
      await peer.stop();
    }
    // The peer is gone: fetches fail (refresh hint 1 s, retried), the last good bundle ages.
    await waitFor('a failed federated bundle fetch', async () => (await query(`spire_server_bundle_manager_fetch_federated_bundle{trust_domain_id="${PEER}",status!="OK"}`)).length > 0, { timeoutMs: 20_000, intervalMs: 200 });
    const age = async () => Number((await query(`spire_server_bundle_manager_federated_bundle_age_seconds{trust_domain_id="${PEER}"}`))[0]!.value[1]);
    const first = await age();
    await waitFor('the federated bundle ageing', async () => (await age()) > first, { timeoutMs: 10_000, intervalMs: 200 });
  }, 60_000);

  it('writes one audit line per API call and attestation, without secrets', async () => {
    // A failing admin call, for an error line.
    const missing = await server.cli('entry', 'show', '-entryID', 'no-such-entry');
    // A failing attestation: another agent (own data_dir and socket, no telemetry) with a token never issued.
    const intruderConfig = join(tmp.path, 'intruder.yaml');
    const config = (await readFile(join(tmp.path, 'agent.yaml'), 'utf8')).replaceAll('agent-data', 'intruder-data').replaceAll('agent.sock', 'intruder.sock').replace(/^telemetry:[\s\S]*?(?=^\S|$(?![\s\S]))/m, '');
    await writeFile(intruderConfig, config);
    const intruder = await runCommand(AGENT_BIN, ['run', '-config', intruderConfig, '-joinToken', BOGUS_TOKEN], { cwd: tmp.path, timeoutMs: 30_000 });
    expect(intruder.code, intruder.stdout + intruder.stderr).not.toBe(0);
    await expectValue('spire_server_node_attestor_attest{attestor="join_token",status="PermissionDenied"}', 1);
    const audit = () =>
      server.proc
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((r) => r.type === 'audit');
    await waitFor('the failed GetEntry audited', () => audit().some((r) => r.method === 'GetEntry'));
    const lines = audit();
    for (const r of lines) expect(r.msg).toBe('API accessed');
    for (const r of lines) expect(r.request_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(lines.map((r) => r.request_id)).size).toBe(lines.length);
    // No request field that proves identity: tokens, CSRs, attestation payloads, challenge responses.
    for (const r of lines) expect(Object.keys(r).filter((k) => /token|csr|payload|challenge|key/i.test(k))).toEqual([]);

    const tokenCall = lines.find((r) => r.method === 'CreateJoinToken')!;
    expect(tokenCall).toMatchObject({ service: 'agent.v1.Agent', status: 'success', caller_uid: process.getuid!(), caller_gid: process.getgid!() });
    expect(tokenCall.caller_path).toEqual(expect.any(String));
    // The token is a secret until an agent spends it (it then names the agent, as in SPIRE).
    expect(JSON.stringify(tokenCall)).not.toContain(token);

    const created = lines.find((r) => r.method === 'BatchCreateEntry' && JSON.stringify(r).includes(ME))!;
    expect(created).toMatchObject({ service: 'entry.v1.Entry', status: 'success' });
    expect(JSON.stringify(created.entries)).toContain(`uid:${process.getuid!()}`);

    const refused = lines.find((r) => r.method === 'AttestAgent' && r.status === 'error')!;
    expect(refused).toMatchObject({ node_attestor_type: 'join_token', status_code: 'PermissionDenied', status_message: 'failed to attest: join token does not exist or has already been used' });
    expect(refused).not.toHaveProperty('agent_id');
    for (const r of lines) expect(JSON.stringify(r)).not.toContain(BOGUS_TOKEN);

    const attest = lines.find((r) => r.method === 'AttestAgent' && r.status === 'success')!;
    expect(attest).toMatchObject({ service: 'agent.v1.Agent', node_attestor_type: 'join_token', agent_id: `spiffe://${TD}/spire/agent/join_token/${token}`, status: 'success' });
    expect(attest.caller_addr).toMatch(/^127\.0\.0\.1:\d+$/);

    const failed = lines.find((r) => r.method === 'GetEntry')!;
    expect(missing.code).not.toBe(0);
    expect(failed).toMatchObject({ status: 'error', status_code: 'NotFound', id: 'no-such-entry' });
    expect(failed.status_message).toEqual(expect.any(String));

    // Agent calls over TLS name the agent.
    const renew = lines.find((r) => r.method === 'BatchNewX509SVID')!;
    expect(renew).toMatchObject({ service: 'svid.v1.SVID', status: 'success', caller_id: expect.stringMatching(/^spiffe:\/\/example\.org\/spire\/agent\//) });
    expect(JSON.stringify(renew)).not.toMatch(/csr/i);
  });
});
