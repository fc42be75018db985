// SPIRE 1.13.3 and Herald side by side on this machine (issue 22 §1).
//
//   npm run bench:vs-spire [-- --pairs 3 --svids 1000 --streams 1000 --quick --load 1.5 --max-wait 60]
//
// Each pair is one SPIRE round then one Herald round (S, H, S, H, …), so every
// metric's samples interleave. Both rounds load the very same HCL config files
// (ec-p256, CA 24h, X509-SVID 1h, JWT-SVID 5m, SQLite, in-memory keys, join
// token, unix workload attestor, 5 s sync); only the binary differs. The
// Workload API is probed by one external client for both (go-spiffe v2.9.0,
// bench/vs-spire/go), admin calls go over grpc-js with SPIRE's API protos, and
// the CLI metric runs each project's own CLI. Envoy SDS v3 (served by both
// agents on the Workload API socket) is probed by the same binary's raw xDS
// client: SDS_STREAMS streams, one entry update, every stream's new secret
// timed. Before every measurement the run
// waits (bounded) for the 1-min load average to fall below --load and prints
// what it saw. Every process and temp dir is removed on exit and on Ctrl-C.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { callUnary, udsClient } from '../../src/cli/grpc-client.ts';
import { Services, type ServiceName } from '../../src/common/grpc/protos.ts';
import { percentile } from '../lib/percentile.ts';
import { SPIRE_VERSION, spireBinaries } from '../../demo/lib/tools.ts';
import { freePort } from '../lib/herald-procs.ts';
import { adminCall, createTokenEntries, type AdminEntry } from '../lib/admin.ts';
import { killGroup, runProbe, startDaemon, stopDaemon } from '../lib/daemons.ts';
import { treeCpuMs as cpuMs, treeRssMib as rssMb } from '../lib/proc-stats.ts';
import { spireAgentConf, spireServerConf } from '../../test/helpers/spire.ts';

const ROOT = join(import.meta.dirname, '../..');
const { values: flags } = parseArgs({
  options: {
    pairs: { type: 'string' },
    svids: { type: 'string' },
    streams: { type: 'string' },
    quick: { type: 'boolean', default: false },
    load: { type: 'string' },
    'max-wait': { type: 'string' },
  },
});
const quick = flags.quick!;
const PAIRS = Number(flags.pairs ?? (quick ? 1 : 3));
const SVIDS = Number(flags.svids ?? (quick ? 100 : 1000));
const LOAD_MAX = Number(flags.load ?? 1.5);
const MAX_WAIT_S = Number(flags['max-wait'] ?? (quick ? 10 : 30));
const LAT_N = quick ? 200 : 1000;
const NEWCONN_N = quick ? 50 : 200;
const CLI_RUNS = quick ? 2 : 3;
const NEW_ENTRY_RUNS = quick ? 1 : 3;
const SDS_STREAMS = Number(flags.streams ?? (quick ? 100 : 1000));
/** SDS streams share this many connections (as many Envoys), like bench/sds. */
const SDS_CONNS = 10;
/** Entries exist this long before an agent that has them starts (SPIRE's server entry cache reloads every 5 s). */
const ENTRY_SETTLE_MS = 6000;
for (const [k, v] of Object.entries({ pairs: PAIRS, svids: SVIDS, streams: SDS_STREAMS, load: LOAD_MAX, 'max-wait': MAX_WAIT_S })) {
  if (!Number.isFinite(v) || v <= 0 || (k !== 'load' && !Number.isInteger(v))) throw new Error(`--${k} must be a positive ${k === 'load' ? 'number' : 'integer'}`);
}
const TD = 'bench.example';
const UID = process.getuid!();

type Sys = 'spire' | 'herald';
const spire = spireBinaries();
const BIN: Record<Sys, { server: string; agent: string }> = {
  spire,
  herald: { server: join(ROOT, 'bin/herald-server'), agent: join(ROOT, 'bin/herald-agent') },
};

// ---- processes and cleanup ------------------------------------------------

const root = mkdtempSync(join(tmpdir(), 'vs-spire-'));
const live = new Set<ChildProcess>();
function cleanupSync(): void {
  for (const p of live) killGroup(p, 'SIGKILL');
  live.clear();
  rmSync(root, { recursive: true, force: true });
}
process.on('exit', cleanupSync);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    console.error(`\n${sig}: stopping ${live.size} process(es), removing ${root}`);
    for (const p of live) killGroup(p, 'SIGTERM');
    setTimeout(() => process.exit(130), 1500).unref();
    const t = setInterval(() => live.size === 0 && process.exit(130), 50);
    t.unref();
  });
}

/** A daemon in its own process group, output to `log`. */
const daemon = (cmd: string, args: string[], log: string): ChildProcess => startDaemon(live, cmd, args, log);
const stop = stopDaemon;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nowUs = () => (performance.timeOrigin + performance.now()) * 1000;
const tail = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8').split('\n').slice(-15).join('\n') : '');
/** A probe's result; a failure carries the end of `log` (the agent's, at WARN: its failed syncs). */
const resultOrLog = <T>(result: Promise<T>, log: string): Promise<T> =>
  result.catch((e: Error) => {
    throw new Error(`${e.message}\n${tail(log)}`);
  });

/** Runs the go-spiffe probe; resolves with its JSON result. `onReady` fires on its "ready" line. */
const probe = (probeBin: string, args: string[], timeoutMs: number, onReady?: () => void) => runProbe(live, probeBin, args, timeoutMs, onReady);
/** Starts a probe, resolves once it printed "ready" (with the result promise). */
function probeReady(probeBin: string, args: string[], timeoutMs: number): Promise<{ result: Promise<Record<string, unknown>> }> {
  return new Promise((resolveReady, rejectReady) => {
    const result = probe(probeBin, args, timeoutMs, () => resolveReady({ result }));
    result.catch(rejectReady);
  });
}

function runWall(cmd: string, args: string[]): Promise<{ ms: number; code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    live.add(p);
    let out = '';
    p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const t = setTimeout(() => killGroup(p, 'SIGKILL'), 30_000);
    p.on('error', reject);
    p.on('exit', (code) => {
      const ms = performance.now() - t0;
      live.delete(p);
      clearTimeout(t);
      resolve({ ms, code, out });
    });
  });
}

// ---- quiet machine ---------------------------------------------------------

const loadsSeen = new Map<string, number[]>();
async function quiet(metric: string): Promise<string> {
  const t0 = Date.now();
  let l = loadavg()[0]!;
  while (l >= LOAD_MAX && Date.now() - t0 < MAX_WAIT_S * 1000) {
    await sleep(1000);
    l = loadavg()[0]!;
  }
  const list = loadsSeen.get(metric) ?? [];
  list.push(l);
  loadsSeen.set(metric, list);
  const waited = Math.round((Date.now() - t0) / 1000);
  return `load ${l.toFixed(2)}${waited > 0 ? `, waited ${waited} s${l >= LOAD_MAX ? ' (gave up)' : ''}` : ''}`;
}

// ---- configs (the same files for both) -------------------------------------

// The same config for both systems (Herald loads SPIRE's HCL): sqlite, in-memory keys, join token, unix attestor.
const serverConf = (dir: string, port: number): string =>
  spireServerConf({
    port,
    socketPath: `${dir}/server.sock`,
    trustDomain: TD,
    dataDir: `${dir}/server-data`,
    logLevel: 'WARN',
    serverExtra: '  ca_key_type = "ec-p256"\n  ca_ttl = "24h"\n  default_x509_svid_ttl = "1h"\n  default_jwt_svid_ttl = "5m"\n',
    plugins: 'NodeAttestor "join_token" { plugin_data {} }',
  });
const agentConf = (dir: string, name: string, port: number): string =>
  spireAgentConf({
    dataDir: `${dir}/${name}-data`,
    socketPath: `${dir}/${name}.sock`,
    serverPort: port,
    trustDomain: TD,
    nodeAttestor: 'NodeAttestor "join_token" { plugin_data {} }',
    logLevel: 'WARN',
    agentExtra: '  experimental { sync_interval = "5s" }\n',
  });

const admin = <T>(socket: string, service: ServiceName, method: string, req: object) => adminCall<T>(socket, service, method, req);
async function healthy(socket: string): Promise<boolean> {
  const c = udsClient(Services.health, socket);
  try {
    return (await callUnary<{ status: string }>(c, 'Check', {}, undefined, 500)).status === 'SERVING';
  } catch {
    return false;
  } finally {
    c.close();
  }
}
async function joinToken(socket: string): Promise<string> {
  return (await admin<{ value: string }>(socket, Services.agent, 'CreateJoinToken', { ttl: 3600 })).value;
}
const createEntries = (socket: string, token: string, paths: string[]) => createTokenEntries(socket, { trustDomain: TD, token, uid: UID, paths });
/** A new DNS name on each entry: a change both agents answer with new X509-SVIDs. */
async function renewEntries(socket: string, entries: AdminEntry[], dns: string): Promise<void> {
  const res = await admin<{ results: { status: { code: number; message: string } }[] }>(socket, Services.entry, 'BatchUpdateEntry', {
    entries: entries.map((e) => ({ ...e, dns_names: [dns] })),
    input_mask: { dns_names: true },
  });
  const bad = res.results.find((r) => r.status.code !== 0);
  if (bad) throw new Error(`entry update: ${bad.status.message}`);
}

// ---- metrics -----------------------------------------------------------------

interface Metric {
  key: string;
  label: string;
  unit: string;
  /** The metric whose quiet-machine wait this one shares (p99 rows, measured with their p50). */
  loadOf?: string;
}
const METRICS: Metric[] = [
  { key: 'serverStart', label: 'server start → healthcheck OK', unit: 'ms' },
  { key: 'agentFirst', label: 'agent start → first X509-SVID', unit: 'ms' },
  { key: 'newEntry', label: 'new entry → agent serves it', unit: 'ms' },
  { key: 'agentAll', label: `agent start → all ${SVIDS} SVIDs`, unit: 'ms' },
  { key: 'serverCpu', label: 'server CPU per 1,000 SVIDs', unit: 'ms', loadOf: 'agentAll' },
  { key: 'x509p50', label: 'FetchX509SVID reused client p50', unit: 'µs' },
  { key: 'x509p99', label: 'FetchX509SVID reused client p99', unit: 'µs', loadOf: 'x509p50' },
  { key: 'x509newP50', label: 'FetchX509SVID new connection p50', unit: 'µs' },
  { key: 'x509newP99', label: 'FetchX509SVID new connection p99', unit: 'µs', loadOf: 'x509newP50' },
  { key: 'jwtP50', label: 'FetchJWTSVID cached p50', unit: 'µs' },
  { key: 'jwtP99', label: 'FetchJWTSVID cached p99', unit: 'µs', loadOf: 'jwtP50' },
  { key: 'sdsP50', label: `SDS rotation → ${SDS_STREAMS} streams p50`, unit: 'ms' },
  { key: 'sdsP99', label: `SDS rotation → ${SDS_STREAMS} streams p99`, unit: 'ms', loadOf: 'sdsP50' },
  { key: 'sdsMax', label: `SDS rotation → ${SDS_STREAMS} streams max`, unit: 'ms', loadOf: 'sdsP50' },
  { key: 'sdsFanP99', label: `SDS fan-out, 1st → ${SDS_STREAMS} streams p99`, unit: 'ms', loadOf: 'sdsP50' },
  { key: 'sdsFanMax', label: `SDS fan-out, 1st → ${SDS_STREAMS} streams max`, unit: 'ms', loadOf: 'sdsP50' },
  { key: 'x509busyP50', label: `FetchX509SVID new conn, ${SDS_STREAMS} streams, p50`, unit: 'µs' },
  { key: 'x509busyP99', label: `FetchX509SVID new conn, ${SDS_STREAMS} streams, p99`, unit: 'µs', loadOf: 'x509busyP50' },
  { key: 'agentRssStreams', label: `agent RSS, ${SDS_STREAMS} SDS streams (max)`, unit: 'MB', loadOf: 'sdsP50' },
  { key: 'serverRss', label: `server RSS idle, ${SVIDS} SVIDs`, unit: 'MB' },
  { key: 'agentRss', label: `agent RSS idle, ${SVIDS} SVIDs`, unit: 'MB' },
  { key: 'serverCli', label: 'server CLI healthcheck wall', unit: 'ms' },
  { key: 'agentCli', label: 'agent CLI healthcheck wall', unit: 'ms' },
];
const samples: Record<Sys, Map<string, number[]>> = { spire: new Map(), herald: new Map() };
const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));
function record(sys: Sys, pair: number, key: string, v: number, load: string): void {
  const m = METRICS.find((x) => x.key === key)!;
  const list = samples[sys].get(key) ?? [];
  list.push(v);
  samples[sys].set(key, list);
  console.log(`  ${sys.padEnd(6)} #${pair} ${m.label.padEnd(44)} ${fmt(v).padStart(8)} ${m.unit}   (${load})`);
}
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

async function round(sys: Sys, pair: number, probeBin: string): Promise<void> {
  const dir = join(root, `${sys}-${pair}`);
  mkdirSync(join(dir, 'server-data'), { recursive: true });
  const port = await freePort();
  writeFileSync(join(dir, 'server.conf'), serverConf(dir, port));
  writeFileSync(join(dir, 'agent1.conf'), agentConf(dir, 'agent1', port));
  writeFileSync(join(dir, 'agent2.conf'), agentConf(dir, 'agent2', port));
  const serverSock = join(dir, 'server.sock');
  const bins = BIN[sys];
  const procs: ChildProcess[] = [];
  try {
    // 1. server start → health Check SERVING on the admin socket (grpc-js, 10 ms polls).
    let load = await quiet('serverStart');
    let t0 = performance.now();
    const server = daemon(bins.server, ['run', '-config', join(dir, 'server.conf')], join(dir, 'server.log'));
    procs.push(server);
    for (let i = 0; ; i++) {
      if (await healthy(serverSock)) break;
      if (server.exitCode !== null || i > 6000 || performance.now() - t0 > 60_000) throw new Error(`${sys} server not healthy:\n${tail(join(dir, 'server.log'))}`);
      await sleep(10);
    }
    record(sys, pair, 'serverStart', performance.now() - t0, load);

    // Both agents' entries now, so that they are settled in the server before
    // either agent starts (SPIRE's server refreshes its entry cache every 5 s).
    const token1 = await joinToken(serverSock);
    const entries1 = await createEntries(serverSock, token1, ['/w0']);
    const token2 = await joinToken(serverSock);
    await createEntries(serverSock, token2, Array.from({ length: SVIDS }, (_, i) => `/bulk/${i}`));
    const settled = performance.now() + ENTRY_SETTLE_MS;

    // 2. server CLI: `healthcheck -socketPath`, wall time.
    load = await quiet('serverCli');
    for (let i = 0; i < CLI_RUNS; i++) {
      const c = await runWall(bins.server, ['healthcheck', '-socketPath', serverSock]);
      if (c.code !== 0) throw new Error(`${sys} server healthcheck exited ${c.code}: ${c.out}`);
      record(sys, pair, 'serverCli', c.ms, load);
    }

    // 3. agent start → the first X509-SVID through go-spiffe.
    const sock1 = join(dir, 'agent1.sock');
    await sleep(Math.max(0, settled - performance.now()));
    load = await quiet('agentFirst');
    let p = await probeReady(probeBin, [sock1, 'first', '1', '60000'], 70_000);
    let t0us = nowUs();
    const agent1 = daemon(bins.agent, ['run', '-config', join(dir, 'agent1.conf'), '-joinToken', token1], join(dir, 'agent1.log'));
    procs.push(agent1);
    let r = await resultOrLog(p.result, join(dir, 'agent1.log'));
    record(sys, pair, 'agentFirst', ((r.t_us as number) - t0us) / 1000, load);

    // 4. new entry → a go-spiffe watcher (already streaming) sees its SVID.
    //    A random 0–5 s pause first, so that the entry lands at a random
    //    point of the agent's 5 s sync cycle rather than just after a sync.
    for (let k = 1; k <= NEW_ENTRY_RUNS; k++) {
      const path = `/new-${pair}-${k}`;
      p = await probeReady(probeBin, [sock1, 'watchid', `spiffe://${TD}${path}`, '30000'], 35_000);
      await sleep(Math.random() * 5000);
      load = await quiet('newEntry');
      entries1.push(...(await createEntries(serverSock, token1, [path])));
      t0us = nowUs();
      r = await resultOrLog(p.result, join(dir, 'agent1.log'));
      record(sys, pair, 'newEntry', ((r.t_us as number) - t0us) / 1000, load);
    }

    // 5. Workload API latencies (the workload now holds 1 + NEW_ENTRY_RUNS SVIDs).
    for (const [kind, n, k50, k99] of [
      ['x509', LAT_N, 'x509p50', 'x509p99'],
      ['x509new', NEWCONN_N, 'x509newP50', 'x509newP99'],
      ['jwt', LAT_N, 'jwtP50', 'jwtP99'],
    ] as const) {
      load = await quiet(k50);
      const us = sorted((await probe(probeBin, [sock1, 'lat', kind, String(n)], 120_000)).us as number[]);
      record(sys, pair, k50, percentile(us, 50), load);
      record(sys, pair, k99, percentile(us, 99), load);
    }

    // 6. SDS_STREAMS Envoy SDS streams (["default", "ROOTCA"]) open on the
    //    agent: a new connection's first FetchX509SVID while they are open;
    //    then every entry of the workload gets a new DNS name and each
    //    stream's new certificate is timed from that change and from the
    //    first stream that got it (the fan-out). Agent RSS is sampled while
    //    the streams are open; the highest reading counts.
    load = await quiet('sdsP50');
    p = await probeReady(probeBin, [sock1, 'sds', String(SDS_STREAMS), String(SDS_CONNS), '90000'], 95_000);
    let rssMax = rssMb(agent1.pid!);
    const rssTimer = setInterval(() => (rssMax = Math.max(rssMax, rssMb(agent1.pid!))), 100);
    try {
      const busyLoad = await quiet('x509busyP50');
      const us = sorted((await probe(probeBin, [sock1, 'lat', 'x509new', String(NEWCONN_N)], 120_000)).us as number[]);
      record(sys, pair, 'x509busyP50', percentile(us, 50), busyLoad);
      record(sys, pair, 'x509busyP99', percentile(us, 99), busyLoad);
      await renewEntries(serverSock, entries1, `sds-${pair}.${TD}`);
      t0us = nowUs();
      const got = sorted((await resultOrLog(p.result, join(dir, 'agent1.log'))).t_us as number[]);
      const fromChange = got.map((t) => (t - t0us) / 1000);
      const fanOut = got.map((t) => (t - got[0]!) / 1000);
      record(sys, pair, 'sdsP50', percentile(fromChange, 50), load);
      record(sys, pair, 'sdsP99', percentile(fromChange, 99), load);
      record(sys, pair, 'sdsMax', fromChange[fromChange.length - 1]!, load);
      record(sys, pair, 'sdsFanP99', percentile(fanOut, 99), load);
      record(sys, pair, 'sdsFanMax', fanOut[fanOut.length - 1]!, load);
    } finally {
      clearInterval(rssTimer);
    }
    record(sys, pair, 'agentRssStreams', Math.max(rssMax, rssMb(agent1.pid!)), load);

    // 7. agent CLI: `healthcheck -socketPath`, wall time.
    load = await quiet('agentCli');
    for (let i = 0; i < CLI_RUNS; i++) {
      const c = await runWall(bins.agent, ['healthcheck', '-socketPath', sock1]);
      if (c.code !== 0) throw new Error(`${sys} agent healthcheck exited ${c.code}: ${c.out}`);
      record(sys, pair, 'agentCli', c.ms, load);
    }
    await stop(agent1);

    // 8. A second agent whose node has SVIDS entries (created with the
    //    first's): start → all of them at the workload; the server's CPU
    //    over that span; then RSS of both at idle.
    const sock2 = join(dir, 'agent2.sock');
    load = await quiet('agentAll');
    p = await probeReady(probeBin, [sock2, 'first', String(SVIDS), '300000'], 310_000);
    const cpu0 = cpuMs(server.pid!);
    t0us = nowUs();
    const agent2 = daemon(bins.agent, ['run', '-config', join(dir, 'agent2.conf'), '-joinToken', token2], join(dir, 'agent2.log'));
    procs.push(agent2);
    r = await resultOrLog(p.result, join(dir, 'agent2.log'));
    const cpu = cpuMs(server.pid!) - cpu0;
    record(sys, pair, 'agentAll', ((r.t_us as number) - t0us) / 1000, load);
    record(sys, pair, 'serverCpu', (cpu * 1000) / SVIDS, load);
    await sleep(5000);
    const l = loadavg()[0]!;
    for (const k of ['serverRss', 'agentRss']) loadsSeen.set(k, [...(loadsSeen.get(k) ?? []), l]);
    load = `load ${l.toFixed(2)}, 5 s after the last SVID`;
    record(sys, pair, 'serverRss', rssMb(server.pid!), load);
    record(sys, pair, 'agentRss', rssMb(agent2.pid!), load);
  } finally {
    for (const pr of procs.reverse()) await stop(pr);
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- main ------------------------------------------------------------------

function buildProbe(): string {
  const out = join(root, 'go-spiffe-probe');
  try {
    execFileSync('go', ['build', '-o', out, '.'], {
      cwd: join(import.meta.dirname, 'go'),
      env: { ...process.env, GOPROXY: 'off', GOFLAGS: '-buildvcs=false' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } catch (e) {
    throw new Error(`building the go-spiffe probe failed (go and the module cache come from scripts/setup): ${(e as { stderr?: Buffer }).stderr?.toString() ?? e}`);
  }
  return out;
}

const started = Date.now();
const probeBin = buildProbe();
console.log(`SPIRE ${SPIRE_VERSION} vs Herald (Node ${process.version}) on ${cpus().length} × ${cpus()[0]?.model.trim()}`);
console.log(`${PAIRS} pair(s), SPIRE then Herald; ${SVIDS} SVIDs; per round: ${NEW_ENTRY_RUNS} new entries, ${SDS_STREAMS} SDS streams over ${SDS_CONNS} connections, latency ${LAT_N} calls (new-connection ${NEWCONN_N}), ${CLI_RUNS} calls per CLI`);
console.log(`quiet machine: 1-min load < ${LOAD_MAX}, waiting at most ${MAX_WAIT_S} s per measurement; temp dir ${root}\n`);
for (let pair = 1; pair <= PAIRS; pair++) {
  for (const sys of ['spire', 'herald'] as const) await round(sys, pair, probeBin);
}

const col = (xs: number[] | undefined) => {
  if (!xs?.length) return ['-', '-', '-'];
  const s = sorted(xs);
  return [fmt(s[0]!), fmt(percentile(s, 50)), fmt(s[s.length - 1]!)];
};
const median = (xs: number[] | undefined) => (xs?.length ? percentile(sorted(xs), 50) : NaN);
const rows = [['metric', 'unit', 'SPIRE min', 'median', 'max', 'Herald min', 'median', 'max', 'H/S', 'load seen']];
for (const m of METRICS) {
  const s = samples.spire.get(m.key);
  const h = samples.herald.get(m.key);
  const ratio = median(h) / median(s);
  const loads = sorted(loadsSeen.get(m.loadOf ?? m.key) ?? []);
  rows.push([m.label, m.unit, ...col(s), ...col(h), Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : '-', loads.length ? `${loads[0]!.toFixed(2)}–${loads[loads.length - 1]!.toFixed(2)}` : 'idle']);
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
console.log(`\nSPIRE vs Herald, ${PAIRS} pair(s) (H/S = Herald median / SPIRE median; below 1 = Herald faster/smaller)`);
for (const [i, r] of rows.entries()) {
  console.log(r.map((c, j) => (j < 2 ? c.padEnd(widths[j]!) : c.padStart(widths[j]!))).join('  '));
  if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
}
console.log(`\ntotal ${Math.round((Date.now() - started) / 1000)} s`);
