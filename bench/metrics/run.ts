// Metrics benchmark (issue 21): what a Prometheus scrape costs a real
// herald-server and herald-agent holding N entries / SVIDs, and what one
// metric update costs on the hot paths (in process).
//   npm run bench:metrics [-- entries scrapes]
import { performance } from 'node:perf_hooks';
import { AgentMetrics } from '../../src/agent/telemetry.ts';
import { ServerMetrics } from '../../src/server/telemetry.ts';
import { freePort, startAgentProc, startServerProc } from '../lib/herald-procs.ts';
import { percentile } from '../lib/percentile.ts';

const ENTRIES = Number(process.argv[2] ?? 1000);
const SCRAPES = Number(process.argv[3] ?? 100);
const DEADLINE_MS = 180_000;

/** ns per call of `fn`, over `n` calls. */
function nsPerOp(n: number, fn: (i: number) => void): number {
  for (let i = 0; i < Math.min(n, 10_000); i++) fn(i);
  const t = performance.now();
  for (let i = 0; i < n; i++) fn(i);
  return ((performance.now() - t) * 1e6) / n;
}

const server = new ServerMetrics();
const agent = new AgentMetrics();
const t0 = performance.now();
console.log('in process (ns per update):');
console.log(`  counter inc, no labels            ${nsPerOp(1_000_000, () => agent.sdsPush.inc()).toFixed(0)}`);
console.log(`  counter inc, 1 label              ${nsPerOp(1_000_000, (i) => agent.authzDecision.inc({ result: i & 1 ? 'allowed' : 'denied_policy' })).toFixed(0)}`);
console.log(`  histogram observe (15 buckets)    ${nsPerOp(1_000_000, (i) => agent.sdsPushToAck.observe(i % 500)).toFixed(0)}`);
console.log(`  RPC call counter (count + timer)  ${nsPerOp(300_000, () => server.rpc('/spire.api.server.svid.v1.SVID/BatchNewX509SVID').done('OK', t0)).toFixed(0)}`);

const telemetry = async () => `telemetry:\n  Prometheus: { host: 127.0.0.1, port: ${await freePort()} }\n`;
const serverTelemetry = await telemetry();
const agentTelemetry = await telemetry();
const port = (t: string) => Number(/port: (\d+)/.exec(t)![1]);
// A top-level key after the daemon's section: the helpers append extra text there.
const srv = await startServerProc({ trustDomain: 'bench.example', extraServer: serverTelemetry });
try {
  const entries = Array.from({ length: ENTRIES }, (_, i) => ({ path: `/w/${i}`, selector: `unix:uid:${10_000 + i}` }));
  const agt = await startAgentProc(srv, { entries, extraAgent: agentTelemetry });
  try {
    const scrape = async (p: number): Promise<string> => (await fetch(`http://127.0.0.1:${p}/metrics`)).text();
    const deadline = Date.now() + DEADLINE_MS;
    for (;;) {
      const m = /^spire_agent_lru_cache_svid_map_size (\d+)$/m.exec(await scrape(port(agentTelemetry)));
      if (Number(m?.[1] ?? 0) >= ENTRIES) break;
      if (Date.now() > deadline) throw new Error(`the agent did not get ${ENTRIES} SVIDs within ${DEADLINE_MS / 1000} s`);
      await new Promise((r) => setTimeout(r, 250));
    }
    console.log(`\nscrape over HTTP, ${ENTRIES} entries / SVIDs, ${SCRAPES} scrapes each (ms):`);
    for (const [name, p] of [['herald-server', port(serverTelemetry)], ['herald-agent', port(agentTelemetry)]] as const) {
      const times: number[] = [];
      let body = '';
      for (let i = 0; i < SCRAPES; i++) {
        const t = performance.now();
        body = await scrape(p);
        times.push(performance.now() - t);
      }
      times.sort((a, b) => a - b);
      const series = body.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
      console.log(`  ${name.padEnd(14)} p50 ${percentile(times, 50).toFixed(2)}  p99 ${percentile(times, 99).toFixed(2)}  (${series} series, ${(body.length / 1024).toFixed(0)} KiB)`);
    }
  } finally {
    await agt.stop();
  }
} finally {
  await srv.stop();
}
