// Simulated agents for bench:ha: each attests with a join token (real CSR,
// real mTLS afterwards, through the load balancer), gets 10 entries, then
// syncs every `syncMs` as an agent does — GetBundle, GetAuthorizedEntries —
// and each sync renews one of its 10 SVIDs (BatchNewX509SVID with a fresh
// CSR), i.e. every SVID is renewed every 10 syncs. Reports sync rate,
// p50/p99 sync latency, SVIDs/s, server CPU and RSS, PostgreSQL transactions/s.
import { generateKeyPairSync, X509Certificate, type KeyObject } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { ServerClient } from '../../src/agent/client/server-client.ts';
import { callUnary, udsClient } from '../../src/cli/grpc-client.ts';
import { Services } from '../../src/common/grpc/protos.ts';
import { percentile } from '../lib/percentile.ts';
import { certificatesToPem } from '../../src/spiffe/bundle/der.ts';
import { createCsr } from '../../src/spiffe/csr.ts';
import { SpiffeId } from '../../src/spiffe/id.ts';
import { TrustDomain } from '../../src/spiffe/trust-domain.ts';
import type { HaDeployment } from '../../test/helpers/ha.ts';

const ENTRIES_PER_AGENT = 10;
const td = TrustDomain.require('example.org');
const serverId = SpiffeId.fromSegments(td, 'spire', 'server');

interface SimAgent {
  client: ServerClient;
  entryIds: string[];
  key: KeyObject;
  next: number;
}

/** CPU seconds and RSS (bytes) of every process in the process group `pgid`. */
function groupUsage(pgid: number): { cpuS: number; rss: number } {
  const tick = 100;
  let cpuS = 0;
  let rss = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(f[2]) !== pgid) continue; // field 5: pgrp
      cpuS += (Number(f[11]) + Number(f[12])) / tick; // utime, stime
      rss += Number(f[21]) * 4096; // rss pages
    } catch {
      // the process is gone
    }
  }
  return { cpuS, rss };
}

async function pgTransactions(uri: string): Promise<number> {
  const c = new pg.Client({ connectionString: uri });
  await c.connect();
  try {
    return Number((await c.query('SELECT sum(xact_commit + xact_rollback) AS n FROM pg_stat_database')).rows[0].n);
  } finally {
    await c.end();
  }
}

export async function simulateAgents(ha: HaDeployment, o: { agents: number; syncMs: number; seconds: number; during?: () => Promise<void> }): Promise<void> {
  const admin = ha.servers[0]!.socketPath;
  const agentApi = udsClient(Services.agent, admin);
  const entryApi = udsClient(Services.entry, admin);
  const bundle = await callUnary<{ x509_authorities: { asn1: Buffer }[] }>(udsClient(Services.bundle, admin), 'GetBundle', {});
  const roots = bundle.x509_authorities.map((x) => new X509Certificate(x.asn1));
  const address = `127.0.0.1:${ha.lbServer.port}`;
  const sims: SimAgent[] = [];
  const t0 = Date.now();
  for (let a = 0; a < o.agents; a++) {
    const token = (await callUnary<{ value: string }>(agentApi, 'CreateJoinToken', { ttl: 3600 })).value;
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const boot = new ServerClient({ address, serverId, trustedRoots: undefined });
    const svid = await boot.attest('join_token', Buffer.from(token), createCsr(privateKey));
    boot.close();
    const created = await callUnary<{ results: { entry: { id: string } }[] }>(entryApi, 'BatchCreateEntry', {
      entries: Array.from({ length: ENTRIES_PER_AGENT }, (_, i) => ({
        spiffe_id: { trust_domain: td.name, path: `/sim${a}/workload${i}` },
        parent_id: { trust_domain: td.name, path: `/spire/agent/join_token/${token}` },
        selectors: [{ type: 'unix', value: `uid:${1000 + i}` }],
      })),
    });
    const client = new ServerClient({
      address,
      serverId,
      trustedRoots: roots,
      identity: { certChainPem: certificatesToPem(svid.cert_chain.map((d) => new X509Certificate(d))), privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() },
    });
    sims.push({ client, entryIds: created.results.map((r) => r.entry.id), key: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, next: a % ENTRIES_PER_AGENT });
  }
  console.log(`simulated agents: ${o.agents} attested (join token, real CSR) with ${ENTRIES_PER_AGENT} entries each in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const latencies: number[] = [];
  let syncs = 0;
  let svids = 0;
  let errors = 0;
  let stop = false;
  const cpu0 = ha.servers.map((s) => groupUsage(s.proc.pid).cpuS);
  const tx0 = await pgTransactions(ha.databaseUri);
  const started = Date.now();
  const loops = sims.map(async (sim, i) => {
    // Spread the fleet over the interval, as agents started at different times are.
    await new Promise((r) => setTimeout(r, (o.syncMs * i) / sims.length));
    while (!stop) {
      const t = performance.now();
      try {
        await sim.client.getBundle();
        const entries = await sim.client.authorizedEntries();
        if (entries.length !== ENTRIES_PER_AGENT) throw new Error(`expected ${ENTRIES_PER_AGENT} entries, got ${entries.length}`);
        const entryId = sim.entryIds[sim.next++ % ENTRIES_PER_AGENT]!;
        const [r] = await sim.client.batchNewX509Svid([{ entryId, csr: createCsr(sim.key) }]);
        if (r?.svid) svids++;
        latencies.push(performance.now() - t);
        syncs++;
      } catch {
        errors++;
      }
      const wait = o.syncMs - (performance.now() - t);
      if (wait > 0 && !stop) await new Promise((r) => setTimeout(r, wait));
    }
  });
  await Promise.all([o.during?.(), new Promise((r) => setTimeout(r, o.seconds * 1000))]);
  const elapsed = (Date.now() - started) / 1000;
  stop = true;
  const cpu1 = ha.servers.map((s) => groupUsage(s.proc.pid));
  const tx1 = await pgTransactions(ha.databaseUri);
  await Promise.all(loops);
  for (const s of sims) s.client.close();
  const sorted = latencies.sort((a, b) => a - b);
  console.log(
    `sync (GetBundle + GetAuthorizedEntries + 1 SVID) every ${o.syncMs} ms: ${(syncs / elapsed).toFixed(0)} syncs/s, ` +
      `p50 ${percentile(sorted, 50).toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms, ${(svids / elapsed).toFixed(0)} SVIDs/s, ${errors} failed`,
  );
  console.log(
    `servers: CPU ${cpu1.map((u, i) => `${(((u.cpuS - cpu0[i]!) / elapsed) * 100).toFixed(0)}%`).join(' / ')}, RSS ${cpu1.map((u) => `${(u.rss / 2 ** 20).toFixed(0)} MiB`).join(' / ')}; ` +
      `PostgreSQL ${((tx1 - tx0) / elapsed).toFixed(0)} transactions/s`,
  );
}
