// Issuance benchmark (issue 4): a real herald-server process; N agents
// attest with join tokens and then call BatchNewX509SVID over mTLS with
// batches of CSRs for their entries, concurrently, for a fixed time.
// Prints SVIDs/s, p50/p99 per call, the server's CPU time (user + sys, all
// threads) per 1,000 SVIDs, and the ratio to the `openssl speed ecdsap256`
// bound measured in the same run: one CSR verify + one sign per SVID, on
// one core and on all of them.
//   npm run bench:issuance [-- agents batch seconds]
// HERALD_CPU_PROF=<dir> runs the server under `node --cpu-prof` (profiles
// of the main thread and of each signing worker land in <dir>).
import { generateKeyPairSync } from 'node:crypto';
import { ServerClient } from '../../src/agent/client/server-client.ts';
import { certificatesToPem } from '../../src/spiffe/bundle/der.ts';
import { createCsr } from '../../src/spiffe/csr.ts';
import { SpiffeId } from '../../src/spiffe/id.ts';
import { TrustDomain } from '../../src/spiffe/trust-domain.ts';
import { X509Certificate } from 'node:crypto';
import { Services } from '../../src/common/grpc/protos.ts';
import { callUnary, udsClient } from '../../src/cli/grpc-client.ts';
import { percentile } from '../lib/percentile.ts';
import { opensslSpeed } from '../lib/openssl.ts';
import { startServerProc } from '../lib/herald-procs.ts';
import { processCpuMs } from '../lib/proc-cpu.ts';
import { cpuProfEnv, profileClockUs, writeProfileWindow } from '../lib/cpu-profile-summary.ts';
import { availableParallelism } from 'node:os';

const AGENTS = Number(process.argv[2] ?? 4);
const BATCH = Number(process.argv[3] ?? 50);
const SECONDS = Number(process.argv[4] ?? 10);
const ENTRIES_PER_AGENT = BATCH;
const td = TrustDomain.fromString('bench.example');

const profDir = process.env.HERALD_CPU_PROF;
const server = await startServerProc({
  trustDomain: td.name,
  ...(profDir ? { env: cpuProfEnv(profDir) } : {}),
});
const socketPath = server.socket;
const port = server.port;
const stop = (): Promise<void> => server.stop();

try {
  const entry = udsClient(Services.entry, socketPath);
  const agentApi = udsClient(Services.agent, socketPath);
  const serverId = SpiffeId.fromSegments(td, 'spire', 'server');
  const agents: { client: ServerClient; entryIds: string[] }[] = [];
  for (let a = 0; a < AGENTS; a++) {
    const token = (await callUnary<{ value: string }>(agentApi, 'CreateJoinToken', { ttl: 600 })).value;
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const boot = new ServerClient({ address: `127.0.0.1:${port}`, serverId, trustedRoots: undefined });
    const svid = await boot.attest('join_token', Buffer.from(token), createCsr(privateKey));
    boot.close();
    const chain = svid.cert_chain.map((d) => new X509Certificate(d));
    const agentId = `/spire/agent/join_token/${token}`;
    const created = await callUnary<{ results: { entry: { id: string } }[] }>(entry, 'BatchCreateEntry', {
      entries: Array.from({ length: ENTRIES_PER_AGENT }, (_, i) => ({
        spiffe_id: { trust_domain: td.name, path: `/agent${a}/workload${i}` },
        parent_id: { trust_domain: td.name, path: agentId },
        selectors: [{ type: 'unix', value: `uid:${1000 + i}` }],
      })),
    });
    const bundle = await callUnary<{ x509_authorities: { asn1: Buffer }[] }>(udsClient(Services.bundle, socketPath), 'GetBundle', {});
    const client = new ServerClient({
      address: `127.0.0.1:${port}`,
      serverId,
      trustedRoots: bundle.x509_authorities.map((x) => new X509Certificate(x.asn1)),
      identity: { certChainPem: certificatesToPem(chain), privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() },
    });
    agents.push({ client, entryIds: created.results.map((r) => r.entry.id) });
  }
  // One CSR per entry, made up front: the benchmark measures the server.
  const csrs = agents.map((a) => a.entryIds.map((id) => ({ entryId: id, csr: createCsr(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey) })));
  // Warm-up.
  await Promise.all(agents.map((a, i) => a.client.batchNewX509Svid(csrs[i]!)));

  const latencies: number[] = [];
  let svids = 0;
  let failures = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const cpu0 = processCpuMs(server.pid);
  const from = profileClockUs();
  const t0 = performance.now();
  await Promise.all(
    agents.map(async (a, i) => {
      while (performance.now() < deadline) {
        const s = performance.now();
        const res = await a.client.batchNewX509Svid(csrs[i]!);
        latencies.push(performance.now() - s);
        for (const r of res) (r.status.code === 0 ? svids++ : failures++);
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const cpuMs = processCpuMs(server.pid) - cpu0;
  if (profDir) writeProfileWindow(profDir, server.pid, from, profileClockUs());
  for (const a of agents) a.client.close();
  entry.close();
  agentApi.close();
  latencies.sort((x, y) => x - y);
  const rate = svids / elapsed;
  const ossl = opensslSpeed(3);
  console.log(`Node ${process.version}, ${AGENTS} agents × batches of ${BATCH} CSRs, ${SECONDS} s`);
  console.log(`X509-SVIDs issued/s (BatchNewX509SVID): ${rate.toFixed(0)}  (${svids} SVIDs, ${failures} failures, ${latencies.length} calls)`);
  console.log(`per call: p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms`);
  // The crypto an SVID cannot avoid: verify its CSR, sign its certificate.
  const bound = 1 / (1 / ossl.sign + 1 / ossl.verify);
  const cores = availableParallelism();
  console.log(`server CPU (user+sys, all threads): ${((cpuMs * 1000) / svids).toFixed(0)} ms per 1,000 SVIDs (openssl's verify + sign: ${((1000 * 1000) / bound).toFixed(0)} ms)`);
  console.log(`openssl speed ecdsap256: sign/s ${ossl.sign.toFixed(0)}, verify/s ${ossl.verify.toFixed(0)} → bound (1 verify + 1 sign) ${bound.toFixed(0)}/s per core`);
  console.log(`  ratio to the one-core bound ${(rate / bound).toFixed(3)}, to the ${cores}-core bound ${(rate / (bound * cores)).toFixed(3)}`);
} finally {
  await stop();
}
