// The agent's idle memory with N X509-SVIDs (the vs-spire row "agent RSS
// idle, 1000 SVIDs", with its parts): a real herald-server and herald-agent,
// N entries for this process's uid on the agent's node, a Workload API client
// that waits for all N SVIDs and leaves, then — `settle` seconds later, as
// vs-spire's 5 s — RSS, /proc/PID/smaps_rollup (anonymous vs file-backed) and
// the V8 heap (through preload.ts, loaded into the agent by NODE_OPTIONS).
//   node bench/agent-memory/run.ts [--svids 1000] [--runs 3] [--settle 5]
//     [--roots DIR,DIR]        interleaved A/B: each checkout's bin/herald-agent (default: this one)
//     [--snapshot FILE]        also a heap snapshot of the last agent (Chrome DevTools → Memory)
//     [--mappings]             and the resident memory of each agent by mapping (/proc/PID/smaps)
import * as grpc from '@grpc/grpc-js';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { serviceClient, Services } from '../../src/common/grpc/protos.ts';
import { startAgentProc, startServerProc } from '../lib/herald-procs.ts';

const { values: flags } = parseArgs({ options: { svids: { type: 'string' }, runs: { type: 'string' }, settle: { type: 'string' }, roots: { type: 'string' }, snapshot: { type: 'string' }, mappings: { type: 'boolean' } } });
const SVIDS = Number(flags.svids ?? 1000);
const RUNS = Number(flags.runs ?? 3);
const SETTLE_MS = Number(flags.settle ?? 5) * 1000;
const ROOTS = (flags.roots ?? join(import.meta.dirname, '../..')).split(',').map((r) => resolve(r));
if (!Number.isInteger(SVIDS) || SVIDS < 0 || !Number.isInteger(RUNS) || RUNS <= 0 || !(SETTLE_MS >= 0)) throw new Error('usage: run.ts [--svids n>=0] [--runs n>0] [--settle s] [--roots DIR,DIR] [--snapshot FILE]');
const PRELOAD = join(import.meta.dirname, 'preload.ts');
const MiB = 1024 * 1024;

interface Sample {
  rss: number;
  anon: number;
  file: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  code: number;
  young: number;
}

/** Resolves once a FetchX509SVID answer holds `n` SVIDs; the stream is then cancelled. */
function waitForSvids(socket: string, n: number): Promise<void> {
  const client = new (serviceClient(Services.workload))(`unix:${socket}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, (r: object, m: grpc.Metadata) => grpc.ClientReadableStream<{ svids: unknown[] }>>;
  const md = new grpc.Metadata();
  md.set('workload.spiffe.io', 'true');
  return new Promise<void>((done, fail) => {
    const deadline = setTimeout(() => fail(new Error(`the workload did not get ${n} SVIDs in 120 s`)), 120_000);
    const open = (): void => {
      const call = client.FetchX509SVID!({}, md);
      call.on('data', (m) => {
        if (m.svids.length < n) return;
        clearTimeout(deadline);
        call.cancel();
        client.close();
        done();
      });
      // No identity yet (the first sync is under way): ask again.
      call.on('error', (e: grpc.ServiceError) => (e.code === grpc.status.CANCELLED ? undefined : setTimeout(open, 100)));
    };
    open();
  });
}

/** Resident kB by mapped file (anonymous mappings by their name, e.g. [heap], or "anonymous"). */
function residentByMapping(pid: number): [string, number][] {
  const by = new Map<string, number>();
  let name = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) name = head[1] || 'anonymous';
    const rss = /^Rss:\s+(\d+) kB$/.exec(line);
    if (rss) by.set(name, (by.get(name) ?? 0) + Number(rss[1]));
  }
  return [...by].sort((a, b) => b[1] - a[1]);
}

function smapsKb(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').matchAll(/^(\w+):\s+(\d+) kB$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

async function heapStats(pid: number, file: string): Promise<{ memoryUsage: NodeJS.MemoryUsage; spaces: Record<string, { used: number; committed: number }> }> {
  rmSync(file, { force: true });
  process.kill(pid, 'SIGUSR2');
  const deadline = performance.now() + 60_000;
  while (!existsSync(file)) {
    if (performance.now() > deadline) throw new Error('the agent did not write its heap figures (preload not loaded?)');
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 20)); // written in one call; let it land
  return JSON.parse(readFileSync(file, 'utf8'));
}

async function measure(root: string, snapshot: string | undefined): Promise<Sample> {
  const server = await startServerProc({ trustDomain: 'bench.example' });
  const statsFile = join(server.dir, 'mem.json');
  try {
    const uid = process.getuid!();
    const agent = await startAgentProc(server, {
      root,
      syncInterval: '5s', // as vs-spire's agents
      entries: Array.from({ length: SVIDS }, (_, i) => ({ path: `/workload/${i}`, selector: `unix:uid:${uid}` })),
      env: { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${PRELOAD}`, HERALD_BENCH_MEM_OUT: statsFile, ...(snapshot ? { HERALD_BENCH_HEAP_SNAPSHOT: snapshot } : {}) },
    });
    try {
      if (SVIDS > 0) await waitForSvids(agent.socket, SVIDS);
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      const s = smapsKb(agent.pid);
      const rss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${agent.pid}/status`, 'utf8'))![1]) / 1024;
      if (flags.mappings) for (const [name, kb] of residentByMapping(agent.pid).slice(0, 12)) console.log(`${(kb / 1024).toFixed(1).padStart(8)} MiB  ${name}`);
      const h = await heapStats(agent.pid, statsFile);
      const sp = h.spaces;
      return {
        rss,
        anon: s.Anonymous! / 1024,
        file: (s.Rss! - s.Anonymous!) / 1024,
        heapUsed: h.memoryUsage.heapUsed / MiB,
        heapTotal: h.memoryUsage.heapTotal / MiB,
        external: h.memoryUsage.external / MiB,
        arrayBuffers: h.memoryUsage.arrayBuffers / MiB,
        code: ((sp.code_space?.committed ?? 0) + (sp.code_large_object_space?.committed ?? 0)) / MiB,
        young: (sp.new_space?.committed ?? 0) / MiB,
      };
    } finally {
      await agent.stop();
    }
  } finally {
    await server.stop();
  }
}

const results = new Map<string, Sample[]>(ROOTS.map((r) => [r, []]));
for (let run = 0; run < RUNS; run++) {
  // Interleaved: machine load drifts, and each pair sees the same.
  for (const root of ROOTS) {
    const last = run === RUNS - 1 && root === ROOTS[ROOTS.length - 1];
    results.get(root)!.push(await measure(root, last && flags.snapshot ? resolve(flags.snapshot) : undefined));
  }
}

const COLS: [keyof Sample, string][] = [['rss', 'RSS'], ['anon', 'anonymous'], ['file', 'file-backed'], ['heapUsed', 'V8 heap used'], ['heapTotal', 'V8 heap total'], ['young', 'young gen'], ['code', 'V8 code'], ['external', 'external'], ['arrayBuffers', 'ArrayBuffers']];
console.log(`Node ${process.version}; agent idle ${SETTLE_MS / 1000} s after a workload got ${SVIDS} X509-SVIDs; MiB, min / median / max of ${RUNS} runs`);
for (const root of ROOTS) {
  console.log(`\n${root}`);
  for (const [k, label] of COLS) {
    const v = results.get(root)!.map((s) => s[k]).sort((a, b) => a - b);
    console.log(`  ${label.padEnd(14)} ${v[0]!.toFixed(1).padStart(6)} ${v[Math.floor(v.length / 2)]!.toFixed(1).padStart(6)} ${v[v.length - 1]!.toFixed(1).padStart(6)}`);
  }
}
