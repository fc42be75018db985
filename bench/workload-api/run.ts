// Workload API benchmark (issue 5), real server + agent processes:
//  - with 1,000 FetchX509SVID streams held open: first-response latency of
//    new streams (p50/p99), agent RSS;
//  - a rotation (entry update → new SVID) reaching all 1,000 streams;
//  - FetchJWTSVID p50/p99 once cached.
//   npm run bench:workload-api [-- streams]
import * as grpc from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { callUnary, udsClient } from '../../src/cli/grpc-client.ts';
import { serviceClient, Services } from '../../src/common/grpc/protos.ts';
import { percentile } from '../lib/percentile.ts';
import { agentLatency, startServerAndAgent } from '../lib/herald-procs.ts';

const STREAMS = Number(process.argv[2] ?? 1000);
const CONNECTIONS = 10;
const SAMPLES = 300;
const td = 'bench.example';

type Client = grpc.Client & Record<string, (...a: unknown[]) => unknown>;
const md = (): grpc.Metadata => {
  const m = new grpc.Metadata();
  m.set('workload.spiffe.io', 'true');
  return m;
};
const newClient = (socket: string): Client =>
  new (serviceClient(Services.workload))(`unix:${socket}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }) as unknown as Client;
const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

const env = await startServerAndAgent({ trustDomain: td, entries: [{ path: '/bench', selector: `unix:uid:${process.getuid!()}` }] });
try {
  const rssIdle = rssMb(env.agentPid);
  const clients = Array.from({ length: CONNECTIONS }, () => newClient(env.agentSocket));
  // Per stream: arrival times of each message.
  const arrivals: number[][] = [];
  let firstCount = 0;
  await new Promise<void>((resolve) => {
    for (let i = 0; i < STREAMS; i++) {
      const times: number[] = [];
      arrivals.push(times);
      const call = (clients[i % CONNECTIONS]!.FetchX509SVID as (r: object, m: grpc.Metadata) => grpc.ClientReadableStream<unknown>)({}, md());
      call.on('data', () => {
        times.push(performance.now());
        if (times.length === 1 && ++firstCount === STREAMS) resolve();
      });
      call.on('error', () => undefined);
    }
  });
  const rssOpen = rssMb(env.agentPid);

  // First-response latency of new streams while STREAMS are open.
  const probe = newClient(env.agentSocket);
  const firsts: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      const call = (probe.FetchX509SVID as (r: object, m: grpc.Metadata) => grpc.ClientReadableStream<unknown>)({}, md());
      call.on('data', () => {
        firsts.push(performance.now() - t0);
        call.cancel();
        resolve();
      });
      call.on('error', (e: grpc.ServiceError) => (e.code === grpc.status.CANCELLED ? undefined : reject(e)));
    });
  }
  firsts.sort((a, b) => a - b);
  // The same from a new workload process: the 1,000 streams' client (this
  // process, with its own event loop and GC) is then out of the measurement.
  const own = (JSON.parse(execFileSync(process.execPath, [join(import.meta.dirname, 'probe.ts'), env.agentSocket, String(SAMPLES)], { encoding: 'utf8' })) as number[]).sort((a, b) => a - b);

  // Rotation: change the entry (new DNS name) → the agent re-issues the SVID on its next sync.
  const entryApi = udsClient(Services.entry, env.serverSocket);
  const listed = await callUnary<{ entries: { id: string; spiffe_id: object; parent_id: object; selectors: object[] }[] }>(entryApi, 'ListEntries', {});
  const e = listed.entries.find((x) => (x.spiffe_id as { path: string }).path === '/bench')!;
  const updatedAt = performance.now();
  await callUnary(entryApi, 'BatchUpdateEntry', { entries: [{ ...e, dns_names: ['rotated.bench.example'] }], input_mask: { dns_names: true } });
  entryApi.close();
  const deadline = Date.now() + 30_000;
  while (arrivals.some((t) => t.length < 2) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const second = arrivals.map((t) => t[1]).filter((x): x is number => x !== undefined);
  const fanout = Math.max(...second) - Math.min(...second);
  const updateToLast = Math.max(...second) - updatedAt;

  // JWT-SVID fetch (cached after the first).
  const jwts: number[] = [];
  for (let i = 0; i < SAMPLES + 1; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) =>
      (probe.FetchJWTSVID as (r: object, m: grpc.Metadata, cb: (e: Error | null) => void) => void)({ audience: ['bench'] }, md(), (err) => (err ? reject(err) : resolve())),
    );
    if (i > 0) jwts.push(performance.now() - t0);
  }
  jwts.sort((a, b) => a - b);

  console.log(`Node ${process.version}; ${STREAMS} FetchX509SVID streams over ${CONNECTIONS} connections held open`);
  console.log(`first response of a new stream: p50 ${percentile(firsts, 50).toFixed(2)} ms, p99 ${percentile(firsts, 99).toFixed(2)} ms (${SAMPLES} samples, from the process holding the ${STREAMS} streams)`);
  console.log(`  from a new workload process: p50 ${percentile(own, 50).toFixed(2)} ms, p99 ${percentile(own, 99).toFixed(2)} ms (${SAMPLES} samples)`);
  console.log(`rotation reached ${second.length}/${STREAMS} streams; first→last arrival ${fanout.toFixed(1)} ms; entry update→last stream ${updateToLast.toFixed(0)} ms (includes the 1 s sync interval and signing)`);
  const inAgent = await agentLatency(env.agentAdminSocket, 'spire_agent_workload_api_change_to_push_elapsed_time');
  if (inAgent) console.log(`in the agent, cache change → message written: p50 ${inAgent.p50.toFixed(1)} ms, p99 ${inAgent.p99.toFixed(1)} ms (last 1,024 writes)`);
  console.log(`agent RSS: ${rssIdle.toFixed(0)} MB idle, ${rssOpen.toFixed(0)} MB with ${STREAMS} streams`);
  console.log(`FetchJWTSVID (cached): p50 ${percentile(jwts, 50).toFixed(2)} ms, p99 ${percentile(jwts, 99).toFixed(2)} ms (${SAMPLES} calls)`);
  for (const c of clients) c.close();
  probe.close();
} finally {
  await env.stop();
}
