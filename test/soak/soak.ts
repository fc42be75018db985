// The chaos soak (issue 23): a real topology on loopback (soak-topology.ts)
// under continuous workload traffic (soak-workloads.ts) while a seeded
// injector applies one fault at a time (soak-faults.ts). The result is a
// table; the soak passes when no SVID served was expired, unverifiable or
// signed by a revoked authority, no entry or agent was lost, every failed
// call falls in a fault window, and no process that ran throughout grew
// beyond the stated bounds.
//   npm run soak -- --minutes 10 --seed 42        (scripts/soak.ts)
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { procStats, type ProcStats } from '../helpers/proc-stats.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { FAULT_GRACE_MS, FAULT_KINDS, FaultInjector, type FaultKind, type FaultWindow } from './soak-faults.ts';
import { startTopology, type Topology } from './soak-topology.ts';
import { CALL_KINDS, WorkloadDriver, type CallFailure } from './soak-workloads.ts';

export const WORKLOADS = 50;
const ROUND_MS = 2_000;
/** Bounds for a process that ran from start to end (not restarted by a fault). */
export const MAX_RSS_GROWTH_MIB = 100;
export const MAX_FD_GROWTH = 50;

export interface SoakResult {
  seed: number;
  minutes: number;
  /** The kinds chosen from, when not all. */
  kinds?: readonly FaultKind[];
  windows: FaultWindow[];
  calls: WorkloadDriver['calls'];
  unattributed: CallFailure[];
  longestGapMs: number;
  longestGapId: string;
  violations: WorkloadDriver['violations'];
  entries: { before: number; after: number };
  agents: { before: number; after: number };
  processes: { name: string; start: ProcStats; end: ProcStats; restarted: boolean }[];
  problems: string[];
}

function pids(t: Topology): Map<string, number> {
  return new Map([
    ...t.servers.map((s, i) => [`server-${i}`, s.proc.pid] as const),
    ...t.agents.map((a, i) => [`agent-${i}`, a.proc.pid] as const),
    ['envoy-a', t.envoys.a.proc.pid],
    ['envoy-b', t.envoys.b.proc.pid],
  ]);
}

async function count(t: Topology, what: 'entry' | 'agent'): Promise<number> {
  const r = await t.servers[0]!.cli(what, 'count');
  const n = /(\d+)/.exec(r.stdout)?.[1];
  if (r.code !== 0 || n === undefined) throw new Error(`herald-server ${what} count: ${r.stderr || r.stdout}`);
  return Number(n);
}

export async function runSoak(opts: { minutes: number; seed: number; kinds?: readonly FaultKind[]; log?: (line: string) => void }): Promise<SoakResult> {
  const log = opts.log ?? (() => undefined);
  // This process is every workload: its supplementary group selects their entries (Envoys get their own groups).
  process.setgroups!([4300]);
  const tmp = await makeTempDir('herald-soak-');
  let topo: Topology | undefined;
  let driver: WorkloadDriver | undefined;
  try {
    topo = await startTopology(tmp.path, WORKLOADS);
    log(`topology up in ${tmp.path}: ${topo.servers.length} servers on PostgreSQL, ${topo.agents.length} agents, 2 Envoys, a federation peer, ${WORKLOADS} workloads; seed ${opts.seed}`);
    driver = new WorkloadDriver(topo);
    // Everyone has an SVID before the clock starts.
    for (let i = 0; i < 30; i++) {
      driver.startMeasuring();
      await driver.round();
      if (driver.failures.length === 0) break;
      log(`warm-up round ${i + 1}: ${driver.failures.length} calls failed, first: ${driver.failures[0]!.detail}`);
      await new Promise((r) => setTimeout(r, 1_000));
    }
    if (driver.failures.length > 0) throw new Error(`the topology does not serve its workloads: ${driver.failures[0]!.detail}`);
    driver.startMeasuring();
    const startPids = pids(topo);
    const startStats = new Map([...startPids].map(([n, pid]) => [n, procStats(pid)]));
    const entriesBefore = await count(topo, 'entry');
    const agentsBefore = await count(topo, 'agent');

    const until = Date.now() + opts.minutes * 60_000;
    const injector = new FaultInjector(topo, driver, opts.seed, log, opts.kinds);
    let stopRounds = false;
    const rounds = (async () => {
      while (!stopRounds) {
        const next = Date.now() + ROUND_MS;
        await driver!.round();
        await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
      }
    })();
    const faults = injector.run(until).finally(() => undefined);
    let faultError: unknown;
    await faults.catch((err) => (faultError = err));
    // The last fault's grace period, under traffic.
    await new Promise((r) => setTimeout(r, FAULT_GRACE_MS));
    stopRounds = true;
    await rounds;
    driver.finish();

    const endPids = pids(topo);
    // A process that is gone at the end (crashed or stopped itself) fails the soak; its output is kept.
    const gone: string[] = [];
    const endStats = (name: string, pid: number): ProcStats => {
      try {
        return procStats(pid);
      } catch {
        gone.push(name);
        return { rssMiB: 0, fds: 0 } as ProcStats;
      }
    };
    const processes = [...startPids].map(([name, pid]) => ({ name, start: startStats.get(name)!, end: endStats(name, endPids.get(name)!), restarted: endPids.get(name) !== pid }));
    const windows = injector.windows;
    const inWindow = (f: CallFailure): boolean => windows.some((w) => f.at >= w.start && f.at <= (w.end || Date.now()) + FAULT_GRACE_MS);
    const result: SoakResult = {
      seed: opts.seed,
      minutes: opts.minutes,
      ...(opts.kinds ? { kinds: opts.kinds } : {}),
      windows,
      calls: driver.calls,
      unattributed: driver.failures.filter((f) => !inWindow(f)),
      longestGapMs: driver.longestGapMs,
      longestGapId: driver.longestGapId,
      violations: driver.violations,
      entries: { before: entriesBefore, after: await count(topo, 'entry') },
      agents: { before: agentsBefore, after: await count(topo, 'agent') },
      processes,
      problems: [],
    };
    const p = result.problems;
    if (faultError) p.push(`fault injection failed: ${(faultError as Error).message}`);
    for (const name of gone) p.push(`${name} is not running at the end: it exited by itself (its output is kept)`);
    p.push(...injector.problems);
    if (result.unattributed.length > 0) p.push(`${result.unattributed.length} failed calls outside any fault window, first: ${result.unattributed[0]!.kind} at ${new Date(result.unattributed[0]!.at).toISOString()}: ${result.unattributed[0]!.detail}`);
    for (const k of ['expired', 'revoked', 'unverified'] as const) if (result.violations[k] > 0) p.push(`${result.violations[k]} ${k} SVIDs served: ${result.violations.details[0]}`);
    if (result.entries.after < result.entries.before) p.push(`entries lost: ${result.entries.before} → ${result.entries.after}`);
    if (result.agents.after < result.agents.before) p.push(`agents lost: ${result.agents.before} → ${result.agents.after}`);
    for (const pr of processes) {
      if (pr.restarted || gone.includes(pr.name)) continue;
      if (pr.end.rssMiB - pr.start.rssMiB > MAX_RSS_GROWTH_MIB) p.push(`${pr.name} RSS grew ${pr.start.rssMiB} → ${pr.end.rssMiB} MiB (bound +${MAX_RSS_GROWTH_MIB})`);
      if (pr.end.fds - pr.start.fds > MAX_FD_GROWTH) p.push(`${pr.name} fds grew ${pr.start.fds} → ${pr.end.fds} (bound +${MAX_FD_GROWTH})`);
    }
    if (p.length > 0) await keepLogs(topo, result, log);
    return result;
  } finally {
    driver?.close();
    await topo?.stop();
    await tmp.cleanup();
  }
}

/** On failure: every process's output (since its last start) and the failures, in a directory that outlives the run. */
async function keepLogs(t: Topology, r: SoakResult, log: (line: string) => void): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'herald-soak-logs-'));
  const outputs: [string, string][] = [
    ...t.servers.map((s, i) => [`server-${i}.log`, s.proc.output()] as [string, string]),
    ...t.agents.map((a, i) => [`agent-${i}.log`, a.proc.output()] as [string, string]),
    ['envoy-a.log', t.envoys.a.proc.output()],
    ['envoy-b.log', t.envoys.b.proc.output()],
    ['postgres.log', t.postgres.log()],
  ];
  for (const [name, text] of outputs) await writeFile(join(dir, name), `${t.pastOutput.get(name.replace(/\.log$/, '')) ?? ''}${text}`);
  await writeFile(join(dir, 'result.json'), JSON.stringify({ ...r, calls: Object.fromEntries(r.calls) }, null, 1));
  log(`soak failed: process logs and the result in ${dir}`);
}

/** The issue's table, as text. */
export function formatSoakTable(r: SoakResult): string {
  const lines: string[] = [];
  const row = (...cells: (string | number)[]): number => lines.push(`| ${cells.join(' | ')} |`);
  lines.push(`Herald chaos soak: ${r.minutes} min, seed ${r.seed} (rerun: npm run soak -- --minutes ${r.minutes} --seed ${r.seed}${r.kinds ? ` --kinds ${r.kinds.join(',')}` : ''})`, '');
  row('fault', 'injected', 'skipped');
  row('---', '---', '---');
  for (const k of FAULT_KINDS) {
    const ws = r.windows.filter((w) => w.kind === k);
    row(k, ws.filter((w) => !w.skipped).length, ws.filter((w) => w.skipped).length);
  }
  row('**total**', r.windows.filter((w) => !w.skipped).length, `${new Set(r.windows.filter((w) => !w.skipped).map((w) => w.kind)).size} kinds`);
  lines.push('');
  row('calls', 'attempted', 'succeeded', 'failed', 'failed outside a fault window');
  row('---', '---', '---', '---', '---');
  for (const k of CALL_KINDS) {
    const c = r.calls.get(k)!;
    row(k, c.attempted, c.succeeded, c.failed, r.unattributed.filter((f) => f.kind === k).length);
  }
  lines.push('');
  row('check', 'value');
  row('---', '---');
  row('longest window without a valid X509-SVID (any workload)', `${(r.longestGapMs / 1000).toFixed(1)} s${r.longestGapId ? ` (${r.longestGapId})` : ''}`);
  row('expired SVIDs served', r.violations.expired);
  row('SVIDs signed by a revoked authority (X.509) or a tainted/revoked key (JWT) served', r.violations.revoked);
  row('SVIDs not verifying against the bundle served with them', r.violations.unverified);
  row('entries before → after', `${r.entries.before} → ${r.entries.after}`);
  row('agents before → after', `${r.agents.before} → ${r.agents.after}`);
  lines.push('');
  row('process', 'RSS start (MiB)', 'RSS end (MiB)', 'fds start', 'fds end', 'restarted by a fault');
  row('---', '---', '---', '---', '---', '---');
  for (const p of r.processes) row(p.name, p.start.rssMiB, p.end.rssMiB, p.start.fds, p.end.fds, p.restarted ? 'yes' : 'no');
  lines.push('', `Bounds for processes not restarted: RSS +${MAX_RSS_GROWTH_MIB} MiB, fds +${MAX_FD_GROWTH}.`);
  lines.push(r.problems.length === 0 ? 'RESULT: PASS' : `RESULT: FAIL\n${r.problems.map((p) => `- ${p}`).join('\n')}`);
  return lines.join('\n');
}
