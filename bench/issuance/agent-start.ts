// Server CPU per SVID as an agent sees issuance (issue 22, the vs-spire
// "server CPU per 1,000 SVIDs" row without SPIRE): a node has N entries,
// its agent starts, and the server's CPU time (user + sys, all threads) is
// taken from just before the agent starts until the agent has fetched all N
// X509-SVIDs — attestation, sync and batch issuance together.
//   node bench/issuance/agent-start.ts [svids runs]
// HERALD_CPU_PROF=<dir> runs the server under `node --cpu-prof`.
import { request as httpRequest } from 'node:http';
import { processCpuMs } from '../lib/proc-cpu.ts';
import { startAgentProc, startServerProc } from '../lib/herald-procs.ts';
import { cpuProfEnv, profileClockUs, writeProfileWindow } from '../lib/cpu-profile-summary.ts';

const SVIDS = Number(process.argv[2] ?? 1000);
const RUNS = Number(process.argv[3] ?? 3);
if (!Number.isInteger(SVIDS) || SVIDS <= 0 || !Number.isInteger(RUNS) || RUNS <= 0) throw new Error('usage: agent-start.ts [svids>0] [runs>0]');
const FETCHED = /^spire_agent_manager_sync_svids_fetched(?:_total)?(?:\{[^}]*\})? (\S+)$/m;

function fetched(adminSocket: string): Promise<number> {
  return new Promise((resolve) => {
    const req = httpRequest({ socketPath: adminSocket, path: '/metrics' }, (res) => {
      let b = '';
      res.on('data', (d: Buffer) => (b += d.toString()));
      res.on('end', () => resolve(Number(FETCHED.exec(b)?.[1] ?? 0)));
    });
    req.on('error', () => resolve(0)); // not listening yet
    req.end();
  });
}

const profDir = process.env.HERALD_CPU_PROF;
const results: { cpuMs: number; wallMs: number }[] = [];
// One server, one new agent (and N new entries) per run: run 1 is the
// server's first issuance (cold JIT; signing workers start only under
// sustained load), the later runs see a server that has been issuing already.
const server = await startServerProc({ trustDomain: 'bench.example', ...(profDir ? { env: cpuProfEnv(profDir) } : {}) });
try {
  for (let run = 0; run < RUNS; run++) {
    let cpu0 = 0;
    let t0 = 0;
    let from = 0;
    const agent = await startAgentProc(server, {
      entries: Array.from({ length: SVIDS }, (_, i) => ({ path: `/run${run}/workload/${i}`, selector: `unix:uid:${10_000 + i}` })),
      beforeStart: async () => {
        cpu0 = processCpuMs(server.pid);
        t0 = performance.now();
        from = profileClockUs();
      },
    });
    try {
      // Bounded: a minute is ~20× what 1,000 SVIDs take on a loaded machine.
      const deadline = performance.now() + 60_000;
      while ((await fetched(agent.adminSocket)) < SVIDS) {
        if (performance.now() > deadline) throw new Error(`agent fetched fewer than ${SVIDS} SVIDs in 60 s`);
        await new Promise((r) => setTimeout(r, 20));
      }
      results.push({ cpuMs: processCpuMs(server.pid) - cpu0, wallMs: performance.now() - t0 });
      // The profile summary covers the last run (a warm server when RUNS > 1).
      if (profDir) writeProfileWindow(profDir, server.pid, from, profileClockUs());
    } finally {
      await agent.stop();
    }
  }
} finally {
  await server.stop();
}
const per1000 = (r: { cpuMs: number }): string => ((r.cpuMs * 1000) / SVIDS).toFixed(0);
const warm = results.slice(1).sort((a, b) => a.cpuMs - b.cpuMs);
console.log(`Node ${process.version}; agent start → ${SVIDS} X509-SVIDs fetched, ${RUNS} agents one after the other on one server`);
console.log(`server CPU (user+sys, all threads) per 1,000 SVIDs: first agent (cold server) ${per1000(results[0]!)} ms` +
  (warm.length > 0 ? `; later agents min ${per1000(warm[0]!)}, median ${per1000(warm[Math.floor(warm.length / 2)]!)}, max ${per1000(warm[warm.length - 1]!)} ms` : ''));
console.log(`wall (agent start → all fetched): ${results.map((r) => r.wallMs.toFixed(0)).join(', ')} ms`);
