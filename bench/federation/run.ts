// Federation benchmark (issue 7): two real servers (web.example,
// echo.example) and a web agent; echo's bundle endpoint has refresh hint 5s.
//  - time from a CA rotation in echo (PrepareX509Authority: the new CA
//    enters echo's bundle) to the new CA reaching a web workload's
//    FetchX509Bundles stream; ROUNDS rounds;
//  - echo's bundle endpoint: requests/s over keep-alive HTTPS connections.
//   npm run bench:federation [-- rounds agentSyncInterval]
import * as grpc from '@grpc/grpc-js';
import { Pool } from 'undici';
import { serviceClient, Services } from '../../src/common/grpc/protos.ts';
import { parseCertificatesDer } from '../../src/spiffe/bundle/der.ts';
import { percentile } from '../lib/percentile.ts';
import { freePort, startAgentProc, startServerProc } from '../lib/herald-procs.ts';

const ROUNDS = Number(process.argv[2] ?? 3);
const AGENT_SYNC = process.argv[3] ?? '5s';
const ENDPOINT_SECONDS = 5;
const CONNECTIONS = 8;

const [pWeb, pEcho] = [await freePort(), await freePort()];
const endpoint = (port: number) => `  federation:\n    bundle_endpoint: { address: 127.0.0.1, port: ${port}, refresh_hint: 5s }\n`;
const echo = await startServerProc({ trustDomain: 'echo.example', extraServer: endpoint(pEcho) });
const web = await startServerProc({ trustDomain: 'web.example', extraServer: endpoint(pWeb) });
const stops: (() => Promise<void>)[] = [() => echo.stop(), () => web.stop()];
try {
  const echoBundle = await echo.admin<object>(Services.bundle, 'GetBundle', {});
  await web.admin(Services.bundle, 'BatchSetFederatedBundle', { bundle: [echoBundle] });
  await web.admin(Services.trustDomain, 'BatchCreateFederationRelationship', {
    federation_relationships: [{ trust_domain: 'echo.example', bundle_endpoint_url: `https://127.0.0.1:${pEcho}`, https_spiffe: { endpoint_spiffe_id: 'spiffe://echo.example/spire/server' } }],
  });
  const agent = await startAgentProc(web, { entries: [{ path: '/web', selector: `unix:uid:${process.getuid!()}`, federatesWith: ['echo.example'] }], syncInterval: AGENT_SYNC });
  stops.unshift(() => agent.stop());

  // Watch the web workload's view of echo's bundle.
  const client = new (serviceClient(Services.workload))(`unix:${agent.socket}`, grpc.credentials.createInsecure()) as unknown as { FetchX509Bundles(r: object, m: grpc.Metadata): grpc.ClientReadableStream<{ bundles: Record<string, Buffer> }> };
  const md = new grpc.Metadata();
  md.set('workload.spiffe.io', 'true');
  let echoCas = new Set<string>();
  const seen: { at: number; cas: Set<string> }[] = [];
  const stream = client.FetchX509Bundles({}, md);
  stream.on('data', (m) => {
    const der = m.bundles['spiffe://echo.example'];
    if (!der) return;
    echoCas = new Set(parseCertificatesDer(der).map((c) => c.fingerprint256));
    seen.push({ at: performance.now(), cas: echoCas });
  });
  stream.on('error', () => undefined);
  const deadline = Date.now() + 30_000;
  while (echoCas.size === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));

  const latencies: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const before = echoCas.size;
    const t0 = performance.now();
    const prepared = await echo.admin<{ prepared_authority: { authority_id: string } }>(Services.localAuthority, 'PrepareX509Authority', {});
    const until = Date.now() + 60_000;
    while (echoCas.size <= before && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    latencies.push(performance.now() - t0);
    await echo.admin(Services.localAuthority, 'ActivateX509Authority', { authority_id: prepared.prepared_authority.authority_id });
  }
  stream.cancel();
  latencies.sort((a, b) => a - b);

  // Bundle endpoint throughput (TLS certificate checks off: this measures the server).
  const pool = new Pool(`https://127.0.0.1:${pEcho}`, { connections: CONNECTIONS, connect: { rejectUnauthorized: false } });
  let requests = 0;
  const stopAt = performance.now() + ENDPOINT_SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONNECTIONS * 4 }, async () => {
      while (performance.now() < stopAt) {
        const res = await pool.request({ path: '/', method: 'GET' });
        await res.body.text();
        if (res.statusCode === 200) requests++;
      }
    }),
  );
  await pool.close();
  console.log(`Node ${process.version}; refresh hint 5 s, web agent sync interval ${AGENT_SYNC}`);
  console.log(`echo CA rotation → web workload's bundle stream: median ${(percentile(latencies, 50) / 1000).toFixed(2)} s, max ${(latencies[latencies.length - 1]! / 1000).toFixed(2)} s (${ROUNDS} rounds; bound: refresh hint + agent sync)`);
  console.log(`bundle endpoint: ${(requests / ENDPOINT_SECONDS).toFixed(0)} requests/s (${CONNECTIONS} keep-alive HTTPS connections, ${ENDPOINT_SECONDS} s)`);
} finally {
  for (const s of stops) await s();
}
