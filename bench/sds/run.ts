// SDS benchmark (issue 6), real server + agent + Envoy:
//  1,000 StreamSecrets streams (an xDS client that ACKs like Envoy) and one
//  real Envoy subscribe to the same identity; the entry is updated ROUNDS
//  times, each forcing a new SVID. For each rotation: time from the first
//  stream's response (an upper bound on when the agent published it) to
//  each stream's response (p50/p99), and to the real Envoy applying it
//  (its sds.default.update_time); agent CPU and RSS. The agent logs at WARN,
//  as in production: debug logging per stream would be what we measure.
//   npm run bench:sds [-- streams rounds]
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { callUnary, udsClient } from '../../src/cli/grpc-client.ts';
import { serviceClient, Services } from '../../src/common/grpc/protos.ts';
import { percentile } from '../lib/percentile.ts';
import { renderBootstrap } from '../../src/agent/endpoints/sds/bootstrap-template.ts';
import { SECRET_TYPE_URL } from '../../src/agent/endpoints/sds/secrets.ts';
import { envoyPath } from '../../demo/lib/tools.ts';
import { startProcess } from '../../test/helpers/process.ts';
import { agentLatency, freePort, startServerAndAgent } from '../lib/herald-procs.ts';

const STREAMS = Number(process.argv[2] ?? 1000);
const ROUNDS = Number(process.argv[3] ?? 5);
const CONNECTIONS = 10;
const td = 'bench.example';
const now = (): number => performance.timeOrigin + performance.now();
const procStat = (pid: number): { cpuTicks: number; rssMb: number } => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').slice(readFileSync(`/proc/${pid}/stat`, 'utf8').lastIndexOf(')') + 2).split(' ');
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
  return { cpuTicks: Number(f[11]) + Number(f[12]), rssMb: rss };
};

const env = await startServerAndAgent({
  trustDomain: td,
  entries: [{ path: '/bench', selector: `unix:uid:${process.getuid!()}` }],
  syncInterval: '200ms',
});
let envoy: ReturnType<typeof startProcess> | undefined;
try {
  // The xDS streams: every response is ACKed, and its arrival time kept.
  const arrivals: number[][] = Array.from({ length: STREAMS }, () => []);
  let firsts = 0;
  const clients = Array.from({ length: CONNECTIONS }, () => new (serviceClient(Services.sds))(`unix:${env.agentSocket}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }) as unknown as { StreamSecrets(): grpc.ClientDuplexStream<object, { version_info: string; nonce: string }> });
  await new Promise<void>((resolve) => {
    for (let i = 0; i < STREAMS; i++) {
      const call = clients[i % CONNECTIONS]!.StreamSecrets();
      const names = ['default', 'ROOTCA'];
      call.on('data', (r) => {
        arrivals[i]!.push(now());
        call.write({ node: { id: `s${i}` }, type_url: SECRET_TYPE_URL, resource_names: names, version_info: r.version_info, response_nonce: r.nonce });
        if (arrivals[i]!.length === 1 && ++firsts === STREAMS) resolve();
      });
      call.on('error', () => undefined);
      call.write({ node: { id: `s${i}` }, type_url: SECRET_TYPE_URL, resource_names: names });
    }
  });

  // A real Envoy on the same identity.
  const ports = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
  const yaml = await renderBootstrap('sidecar.yaml', {
    NODE_ID: 'bench-envoy', NODE_CLUSTER: 'bench', ADMIN_PORT: ports[0]!, INBOUND_PORT: ports[1]!, OUTBOUND_PORT: ports[2]!, LOCAL_APP_PORT: ports[3]!,
    ALLOWED_PEER_ID: `spiffe://${td}/bench`, UPSTREAM_HOST: '127.0.0.1', UPSTREAM_PORT: ports[1]!, UPSTREAM_ID: `spiffe://${td}/bench`,
    SVID_NAME: 'default', VALIDATION_NAME: 'ROOTCA', AGENT_SOCKET: env.agentSocket,
  });
  const { writeFile } = await import('node:fs/promises');
  await writeFile(join(env.dir, 'envoy.yaml'), yaml);
  envoy = startProcess(envoyPath(), ['-c', join(env.dir, 'envoy.yaml'), '--base-id', String(7000 + (process.pid % 1000)), '--concurrency', '1', '--disable-hot-restart', '-l', 'warn']);
  const envoyUpdateTime = async (): Promise<number> => {
    const res = await fetch(`http://127.0.0.1:${ports[0]}/stats?format=json&filter=^sds\\.default\\.update_time$`).catch(() => undefined);
    const stats = res ? ((await res.json()) as { stats: { name: string; value: number }[] }).stats : [];
    return stats.find((x) => x.name === 'sds.default.update_time')?.value ?? 0;
  };
  for (let i = 0; i < 200 && (await envoyUpdateTime()) === 0; i++) await new Promise((r) => setTimeout(r, 50));
  if ((await envoyUpdateTime()) === 0) throw new Error(`Envoy never got its SVID:\n${envoy.output()}`);

  const entryApi = udsClient(Services.entry, env.serverSocket);
  const e = (await callUnary<{ entries: Record<string, unknown>[] }>(entryApi, 'ListEntries', {})).entries.find((x) => (x.spiffe_id as { path: string }).path === '/bench')!;
  const perStream: number[] = [];
  const lastStream: number[] = [];
  const toEnvoyAck: number[] = [];
  const statBefore = procStat(env.agentPid);
  for (let round = 0; round < ROUNDS; round++) {
    const envoyBefore = await envoyUpdateTime();
    const counts = arrivals.map((a) => a.length);
    await callUnary(entryApi, 'BatchUpdateEntry', { entries: [{ ...e, dns_names: [`r${round}.bench.example`] }], input_mask: { dns_names: true } });
    const deadline = Date.now() + 20_000;
    let envoyAt = envoyBefore;
    while ((envoyAt === envoyBefore || arrivals.some((a, i) => a.length === counts[i])) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
      envoyAt = await envoyUpdateTime();
    }
    const got = arrivals.map((a, i) => a[counts[i]!]!).filter((x) => Number.isFinite(x));
    const at = Math.min(...got);
    const lat = got.map((x) => x - at);
    perStream.push(...lat);
    lastStream.push(Math.max(...lat));
    if (envoyAt !== envoyBefore) toEnvoyAck.push(envoyAt - at);
  }
  const statAfter = procStat(env.agentPid);
  entryApi.close();
  perStream.sort((a, b) => a - b);
  lastStream.sort((a, b) => a - b);
  toEnvoyAck.sort((a, b) => a - b);
  console.log(`Node ${process.version}; ${STREAMS} SDS streams (ACKing xDS client) + 1 real Envoy; ${ROUNDS} rotations`);
  console.log(`rotation → stream response (from the first stream's): p50 ${percentile(perStream, 50).toFixed(1)} ms, p99 ${percentile(perStream, 99).toFixed(1)} ms, last stream (median of rounds) ${percentile(lastStream, 50).toFixed(1)} ms`);
  console.log(`rotation → real Envoy applied it (sds.default.update_time, ms resolution): p50 ${percentile(toEnvoyAck, 50).toFixed(0)} ms, max ${toEnvoyAck[toEnvoyAck.length - 1]?.toFixed(0)} ms (${toEnvoyAck.length} rounds)`);
  const inAgent = await agentLatency(env.agentAdminSocket, 'spire_agent_sds_api_change_to_push_elapsed_time');
  if (inAgent) console.log(`in the agent, cache change → response written: p50 ${inAgent.p50.toFixed(1)} ms, p99 ${inAgent.p99.toFixed(1)} ms (last 1,024 pushes)`);
  console.log(`agent CPU during the rotations: ${((statAfter.cpuTicks - statBefore.cpuTicks) * 10).toFixed(0)} ms over ${ROUNDS} rounds; RSS ${statAfter.rssMb.toFixed(0)} MB with ${STREAMS + 1} SDS streams`);
  for (const c of clients) (c as unknown as grpc.Client).close();
} finally {
  await envoy?.stop();
  await env.stop();
}
