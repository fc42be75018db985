// Start-up time and idle memory of the binaries (issue 22), interleaved A/B.
//
//   npm run bench:startup [-- --rounds 5 --svids 1000 --base /path/to/other/checkout --no-spire --load 1.5]
//
// Variants, each round in turn (bundle, sources, base, SPIRE, bundle, …):
//   bundle   this checkout's launchers on the prebuilt bundle (built first when stale)
//   sources  this checkout's launchers with HERALD_BUNDLE=off
//   base     --base DIR's launchers (a second worktree at another commit)
//   spire    SPIRE 1.13.3, for reference (--no-spire leaves it out)
// Every variant loads the very same SPIRE HCL configs (ec-p256, SQLite,
// in-memory keys, join token, unix attestor), as bench/vs-spire does.
// Measured per round: server start → gRPC health SERVING on the admin socket
// (grpc-js, 10 ms polls); agent start → first X509-SVID at the go-spiffe
// probe of bench/vs-spire (an external client, not Herald's); three CLI calls
// (wall time, CPU user+sys, max RSS, from /usr/bin/time); RSS of the server
// and of an agent holding --svids SVIDs, 5 s after the last one arrived.
// CPU time is reported next to wall time because the machine is shared; the
// 1-min load average seen before each measurement is printed with it.
// Every round writes its configs in a new temp dir: these are first starts
// on a new config, with Node's compile cache warm.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Services } from '../../src/common/grpc/protos.ts';
import { spireBinaries } from '../../demo/lib/tools.ts';
import { spireAgentConf, spireServerConf } from '../../test/helpers/spire.ts';
import { freePort } from '../lib/herald-procs.ts';
import { percentile } from '../lib/percentile.ts';
import { adminCall, createTokenEntries } from '../lib/admin.ts';
import { killGroup, runProbe, startDaemon, stopDaemon } from '../lib/daemons.ts';
import { treeCpuMs, treeRssMib } from '../lib/proc-stats.ts';

const ROOT = join(import.meta.dirname, '../..');
const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    svids: { type: 'string', default: '1000' },
    base: { type: 'string' },
    'no-spire': { type: 'boolean', default: false },
    load: { type: 'string', default: '1.5' },
    'max-wait': { type: 'string', default: '20' },
  },
});
const ROUNDS = Number(flags.rounds);
const SVIDS = Number(flags.svids);
const LOAD_MAX = Number(flags.load);
const MAX_WAIT_S = Number(flags['max-wait']);
for (const [k, v] of Object.entries({ rounds: ROUNDS, svids: SVIDS, load: LOAD_MAX, 'max-wait': MAX_WAIT_S })) {
  if (!Number.isFinite(v) || v <= 0 || (k !== 'load' && !Number.isInteger(v))) throw new Error(`--${k} must be a positive ${k === 'load' ? 'number' : 'integer'}`);
}
if (flags.base && !existsSync(join(flags.base, 'bin/herald-server'))) throw new Error(`--base ${flags.base}: no bin/herald-server there`);
const TIME = '/usr/bin/time';
if (!existsSync(TIME)) throw new Error(`${TIME} not found (Debian package "time"): it measures the CLI calls' CPU and RSS`);

const TD = 'bench.example';
const UID = process.getuid!();

interface Variant {
  name: string;
  server: string;
  agent: string;
  env: NodeJS.ProcessEnv;
}
const variants: Variant[] = [
  { name: 'bundle', server: join(ROOT, 'bin/herald-server'), agent: join(ROOT, 'bin/herald-agent'), env: { HERALD_BUNDLE: 'require' } },
  { name: 'sources', server: join(ROOT, 'bin/herald-server'), agent: join(ROOT, 'bin/herald-agent'), env: { HERALD_BUNDLE: 'off' } },
];
if (flags.base) variants.push({ name: 'base', server: join(flags.base, 'bin/herald-server'), agent: join(flags.base, 'bin/herald-agent'), env: {} });
if (!flags['no-spire']) variants.push({ name: 'spire', ...spireBinaries(), env: {} });

// ---- processes ---------------------------------------------------------------

const root = mkdtempSync(join(tmpdir(), 'bench-startup-'));
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) killGroup(p, 'SIGKILL');
  rmSync(root, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));

const daemon = (v: Variant, cmd: string, args: string[], log: string): ChildProcess => startDaemon(live, cmd, args, log, { ...process.env, ...v.env });
const stop = stopDaemon;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tail = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8').split('\n').slice(-15).join('\n') : '');

/** One CLI call under /usr/bin/time: wall ms, CPU ms (user+sys), max RSS MiB. */
function cli(v: Variant, cmd: string, args: string[]): Promise<{ wall: number; cpu: number; rss: number }> {
  const stats = join(root, 'time.out');
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(TIME, ['-o', stats, '-f', '%U %S %M', cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...v.env } });
    let err = '';
    p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), 30_000);
    p.on('error', reject);
    p.on('exit', (code) => {
      const wall = performance.now() - t0;
      clearTimeout(t);
      if (code !== 0) return reject(new Error(`${v.name}: ${cmd} ${args.join(' ')} exited ${code}: ${err.trim()}`));
      const [u, s, m] = readFileSync(stats, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
      resolve({ wall, cpu: (u! + s!) * 1000, rss: m! / 1024 });
    });
  });
}

/** The go-spiffe probe of bench/vs-spire: resolves with its JSON result once it exits. */
const probe = async (probeBin: string, args: string[], timeoutMs: number, onReady: () => void) => (await runProbe(live, probeBin, args, timeoutMs, onReady)) as { t_us: number };
const nowUs = () => (performance.timeOrigin + performance.now()) * 1000;

const admin = adminCall;
const serving = (socket: string) =>
  admin<{ status: string }>(socket, Services.health, 'Check', {}, 500).then(
    (r) => r.status === 'SERVING',
    () => false,
  );
const createEntries = (socket: string, token: string, paths: string[]) => createTokenEntries(socket, { trustDomain: TD, token, uid: UID, paths });

// ---- samples -------------------------------------------------------------------

const samples = new Map<string, Map<string, number[]>>(); // metric → variant → values
const loads: number[] = [];
function record(metric: string, v: Variant, value: number): void {
  const byVariant = samples.get(metric) ?? new Map<string, number[]>();
  samples.set(metric, byVariant);
  byVariant.set(v.name, [...(byVariant.get(v.name) ?? []), value]);
}
/** Waits (bounded) for the 1-min load average to fall below --load; records what it saw. */
async function quiet(): Promise<void> {
  const t0 = Date.now();
  while (loadavg()[0]! >= LOAD_MAX && Date.now() - t0 < MAX_WAIT_S * 1000) await sleep(1000);
  loads.push(loadavg()[0]!);
}

async function round(v: Variant, i: number, probeBin: string): Promise<void> {
  const dir = join(root, `${v.name}-${i}`);
  mkdirSync(join(dir, 'server-data'), { recursive: true });
  const port = await freePort();
  const serverSock = join(dir, 'server.sock');
  const conf = (name: string, text: string) => (writeFileSync(join(dir, name), text), join(dir, name));
  const serverConf = conf(
    'server.conf',
    spireServerConf({ port, socketPath: serverSock, trustDomain: TD, dataDir: join(dir, 'server-data'), logLevel: 'WARN', serverExtra: '  ca_key_type = "ec-p256"\n  ca_ttl = "24h"\n  default_x509_svid_ttl = "1h"\n', plugins: 'NodeAttestor "join_token" { plugin_data {} }' }),
  );
  const agentConf = (name: string) =>
    conf(`${name}.conf`, spireAgentConf({ dataDir: join(dir, `${name}-data`), socketPath: join(dir, `${name}.sock`), serverPort: port, trustDomain: TD, nodeAttestor: 'NodeAttestor "join_token" { plugin_data {} }', logLevel: 'WARN' }));
  const procs: ChildProcess[] = [];
  try {
    await quiet();
    const t0 = performance.now();
    const server = daemon(v, v.server, ['run', '-config', serverConf], join(dir, 'server.log'));
    procs.push(server);
    while (!(await serving(serverSock))) {
      if (server.exitCode !== null || performance.now() - t0 > 60_000) throw new Error(`${v.name} server not healthy:\n${tail(join(dir, 'server.log'))}`);
      await sleep(10);
    }
    record('server start → health SERVING, wall ms', v, performance.now() - t0);
    record('server start → health SERVING, CPU ms', v, treeCpuMs(server.pid!));

    const token = async () => (await admin<{ value: string }>(serverSock, Services.agent, 'CreateJoinToken', { ttl: 3600 })).value;
    const token1 = await token();
    await createEntries(serverSock, token1, ['/w0']);
    const token2 = await token();
    await createEntries(serverSock, token2, Array.from({ length: SVIDS }, (_, k) => `/bulk/${k}`));
    // SPIRE's server reloads its entry cache every 5 s: let both see the entries.
    await sleep(v.name === 'spire' ? 6000 : 0);

    for (const [label, args] of [
      ['server healthcheck', ['healthcheck', '-socketPath', serverSock]],
      ['server entry show', ['entry', 'show', '-socketPath', serverSock, '-spiffeID', `spiffe://${TD}/w0`]],
    ] as const) {
      await quiet();
      const c = await cli(v, v.server, [...args]);
      record(`CLI ${label}, wall ms`, v, c.wall);
      record(`CLI ${label}, CPU ms`, v, c.cpu);
      record(`CLI ${label}, max RSS MiB`, v, c.rss);
    }

    await quiet();
    const sock1 = join(dir, 'agent1.sock');
    let started = 0;
    let agent1: ChildProcess | undefined;
    const first = await probe(probeBin, [sock1, 'first', '1', '60000'], 70_000, () => {
      started = nowUs();
      agent1 = daemon(v, v.agent, ['run', '-config', agentConf('agent1'), '-joinToken', token1], join(dir, 'agent1.log'));
      procs.push(agent1);
    }).catch((e: Error) => {
      throw new Error(`${v.name}: ${e.message}\n${tail(join(dir, 'agent1.log'))}`);
    });
    record('agent start → first X509-SVID, wall ms', v, (first.t_us - started) / 1000);
    record('agent start → first X509-SVID, CPU ms', v, treeCpuMs(agent1!.pid!));

    await quiet();
    const c = await cli(v, v.agent, ['healthcheck', '-socketPath', sock1]);
    record('CLI agent healthcheck, wall ms', v, c.wall);
    record('CLI agent healthcheck, CPU ms', v, c.cpu);
    record('CLI agent healthcheck, max RSS MiB', v, c.rss);
    await stop(agent1!);

    // An agent holding SVIDS SVIDs; RSS of it and the server once idle.
    let agent2: ChildProcess | undefined;
    await probe(probeBin, [join(dir, 'agent2.sock'), 'first', String(SVIDS), '300000'], 310_000, () => {
      agent2 = daemon(v, v.agent, ['run', '-config', agentConf('agent2'), '-joinToken', token2], join(dir, 'agent2.log'));
      procs.push(agent2);
    });
    await sleep(5000);
    record(`server RSS idle, ${SVIDS} SVIDs, MiB`, v, treeRssMib(server.pid!));
    record(`agent RSS idle, ${SVIDS} SVIDs, MiB`, v, treeRssMib(agent2!.pid!));
  } finally {
    for (const p of procs.reverse()) await stop(p);
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- main ------------------------------------------------------------------------

function buildProbe(): string {
  const out = join(root, 'go-spiffe-probe');
  execFileSync('go', ['build', '-o', out, '.'], { cwd: join(ROOT, 'bench/vs-spire/go'), env: { ...process.env, GOPROXY: 'off', GOFLAGS: '-buildvcs=false' }, stdio: ['ignore', 'ignore', 'inherit'] });
  return out;
}

const probeBin = buildProbe();
if (execFileSync(process.execPath, ['-e', `import('${join(ROOT, 'src/cli/bundle.js')}').then((b) => console.log(b.bundleState('${ROOT}')))`], { encoding: 'utf8' }).trim() !== 'fresh') {
  console.log('building the CLI bundle (node scripts/build-bundle.ts)');
  execFileSync(process.execPath, [join(ROOT, 'scripts/build-bundle.ts')], { stdio: 'inherit' });
}
console.log(`start-up and idle memory: ${variants.map((v) => v.name).join(', ')}, interleaved, ${ROUNDS} round(s); ${SVIDS} SVIDs; Node ${process.version} on ${cpus().length} × ${cpus()[0]?.model.trim()}`);
console.log(`before each measurement: wait (≤ ${MAX_WAIT_S} s) for the 1-min load < ${LOAD_MAX}\n`);
for (let i = 1; i <= ROUNDS; i++) {
  // Rotate the order each round, so that no variant always runs first.
  for (let k = 0; k < variants.length; k++) {
    const v = variants[(i - 1 + k) % variants.length]!;
    await round(v, i, probeBin);
  }
  process.stdout.write(`round ${i}/${ROUNDS} done (load ${loadavg()[0]!.toFixed(2)})\n`);
}

const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
const rows = [['metric', ...variants.map((v) => `${v.name} min / median / max`)]];
for (const [metric, byVariant] of samples) {
  rows.push([
    metric,
    ...variants.map((v) => {
      const xs = [...(byVariant.get(v.name) ?? [])].sort((a, b) => a - b);
      return xs.length ? `${fmt(xs[0]!)} / ${fmt(percentile(xs, 50))} / ${fmt(xs.at(-1)!)}` : '-';
    }),
  ]);
}
const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
console.log('\n' + rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')).join('\n'));
const ls = [...loads].sort((a, b) => a - b);
console.log(`\n1-min load average seen before measurements: min ${ls[0]!.toFixed(2)}, median ${percentile(ls, 50).toFixed(2)}, max ${ls.at(-1)!.toFixed(2)}`);
