// ext_authz benchmark (issue 8), real server + agent (+ Envoy):
//  1. direct gRPC Check at fixed rates (open loop: 1k, 5k, 10k rps), with
//     one cached token and with more distinct tokens than the cache holds;
//  2. through a real Envoy with wrk (closed loop, 16 connections):
//     ext_authz → Herald (cached / uncached tokens) vs Envoy's own jwt_authn
//     filter with the same trust domain's JWKS from a local file.
// The agent's CPU time (user + sys) per Check is printed for each Envoy
// run: on a shared machine it is steadier than req/s.
//   npm run bench:authz [-- seconds [--envoy-only] [--all-headers]]
// HERALD_CPU_PROF=<dir> runs the agent under `node --cpu-prof`; the profile
// summary (bench/lib/cpu-profile-summary.ts) covers the cached-token Envoy run.
import * as grpc from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { serviceClient, Services } from '../../src/common/grpc/protos.ts';
import { percentile } from '../lib/percentile.ts';
import { publicKeyToJwk } from '../../src/spiffe/bundle/jwk.ts';
import { envoyPath } from '../../demo/lib/tools.ts';
import { startProcess } from '../../test/helpers/process.ts';
import { agentLatency, freePort, startAgentProc, startServerProc, type HistogramBuckets } from '../lib/herald-procs.ts';
import { processCpuMs } from '../lib/proc-cpu.ts';
import { cpuProfEnv, profileClockUs, writeProfileWindow } from '../lib/cpu-profile-summary.ts';

const SECONDS = Number(process.argv[2] ?? 5);
const ENVOY_ONLY = process.argv.includes('--envoy-only');
// Envoy sends every request header to ext_authz unless told which; the
// recommended config (envoy/README.md) sends only the token's header.
const ALL_HEADERS = process.argv.includes('--all-headers');
const profDir = process.env.HERALD_CPU_PROF;
const UNCACHED_TOKENS = 20_000; // more than the validator's 10,000-entry cache: every check misses
const td = 'bench.example';

const server = await startServerProc({ trustDomain: td });
const stops: (() => Promise<void>)[] = [() => server.stop()];
try {
  const authzSocket = join(server.dir, 'authz.sock');
  const agent = await startAgentProc(server, {
    entries: [],
    extraAgent: `  authz:\n    enabled: true\n    audiences: [echo]\n    socket_path: ${authzSocket}\n`,
    ...(profDir ? { env: cpuProfEnv(profDir) } : {}),
  });
  stops.unshift(() => agent.stop());
  // The agent's own view: time spent in Check since the previous row (the histogram is cumulative).
  let lastBuckets: HistogramBuckets | undefined;
  const serverSide = async (): Promise<string> => {
    const l = await agentLatency(agent.adminSocket, 'spire_agent_authz_check_elapsed_time', lastBuckets);
    lastBuckets = l?.buckets;
    return l ? ` | in the agent: p50 ${(l.p50 * 1000).toFixed(0)} µs, p99 ${(l.p99 * 1000).toFixed(0)} µs` : '';
  };

  const mint = async (i: number): Promise<string> =>
    (await server.admin<{ svid: { token: string } }>(Services.svid, 'MintJWTSVID', { id: { trust_domain: td, path: `/caller/${i}` }, audience: ['echo'], ttl: 600 })).svid.token;
  const cached = await mint(0);
  const tokens: string[] = [];
  for (let i = 0; i < UNCACHED_TOKENS; i += 500) tokens.push(...(await Promise.all(Array.from({ length: 500 }, (_, j) => mint(i + j)))));

  // ---- 1. direct gRPC --------------------------------------------------
  const client = new (serviceClient(Services.authorization))(`unix:${authzSocket}`, grpc.credentials.createInsecure()) as unknown as {
    Check(req: object, cb: (e: grpc.ServiceError | null, r: { status: { code: number } }) => void): void;
    close(): void;
  };
  const checkOnce = (token: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      client.Check({ attributes: { request: { http: { method: 'GET', path: '/', host: 'echo', headers: { authorization: `Bearer ${token}` } } } } }, (e, r) => {
        if (e) reject(e);
        else if (r.status.code !== 0) reject(new Error(`denied: ${r.status.code}`));
        else resolve(performance.now() - t0);
      });
    });
  await Promise.all(Array.from({ length: 200 }, () => checkOnce(cached)));

  const openLoop = async (rps: number, pick: (i: number) => string): Promise<string> => {
    const lat: number[] = [];
    let errors = 0;
    let sent = 0;
    const pending: Promise<void>[] = [];
    const start = performance.now();
    const end = start + SECONDS * 1000;
    while (performance.now() < end) {
      const due = Math.floor(((performance.now() - start) / 1000) * rps);
      for (; sent < due; sent++) pending.push(checkOnce(pick(sent)).then((l) => void lat.push(l), () => void errors++));
      // A 1 ms timer, not a spin: the generator must not eat the core the agent needs.
      await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all(pending);
    lat.sort((a, b) => a - b);
    const achieved = lat.length / ((performance.now() - start) / 1000);
    return `${String(rps).padStart(6)} rps target: ${achieved.toFixed(0).padStart(6)} done/s, p50 ${percentile(lat, 50).toFixed(2)} ms, p99 ${percentile(lat, 99).toFixed(2)} ms${errors ? `, ${errors} errors` : ''}`;
  };
  const closedLoop = async (pick: (i: number) => string, concurrency = 64): Promise<number> => {
    let n = 0;
    const end = performance.now() + SECONDS * 1000;
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) await checkOnce(pick(n++));
    }));
    return n / SECONDS;
  };

  const lines: string[] = [];
  if (!ENVOY_ONLY) {
    lines.push(`direct gRPC Check over the agent's authz socket (${SECONDS} s each):`);
    for (const rps of [1000, 5000, 10000]) lines.push(`  cached token    ${await openLoop(rps, () => cached)}${await serverSide()}`);
    for (const rps of [1000, 5000]) lines.push(`  uncached tokens ${await openLoop(rps, (i) => tokens[i % tokens.length]!)}${await serverSide()}`);
    lines.push(`  max (64 in flight): cached ${(await closedLoop(() => cached)).toFixed(0)} checks/s, uncached ${(await closedLoop((i) => tokens[i % tokens.length]!)).toFixed(0)} checks/s`);
  }
  client.close();

  // ---- 2. through Envoy ------------------------------------------------
  const bundle = await server.admin<{ jwt_authorities: { key_id: string; public_key: Buffer }[] }>(Services.bundle, 'GetBundle', {});
  const jwks = { keys: bundle.jwt_authorities.map((k) => ({ ...publicKeyToJwk(createPublicKey({ key: k.public_key, format: 'der', type: 'spki' })), kid: k.key_id, alg: 'ES256' })) };
  await writeFile(join(server.dir, 'jwks.json'), JSON.stringify(jwks));
  const [admin, pAuthz, pJwt] = [await freePort(), await freePort(), await freePort()];
  const hcm = (name: string, filter: string) => `
  - name: ${name}
    address: { socket_address: { address: 127.0.0.1, port_value: ${name === 'authz' ? pAuthz : pJwt} } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ${name}
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes: [{ match: { prefix: "/" }, direct_response: { status: 200, body: { inline_string: "ok" } } }]
          http_filters:
${filter}
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }`;
  const yaml = `admin: { address: { socket_address: { address: 127.0.0.1, port_value: ${admin} } } }
static_resources:
  listeners:${hcm('authz', `          - name: envoy.filters.http.ext_authz
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz
              transport_api_version: V3${ALL_HEADERS ? '' : '\n              allowed_headers: { patterns: [{ exact: authorization }] }'}
              grpc_service: { envoy_grpc: { cluster_name: herald_authz }, timeout: 1s }`)}${hcm('jwt', `          - name: envoy.filters.http.jwt_authn
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication
              providers:
                herald:
                  audiences: [echo]
                  local_jwks: { filename: ${join(server.dir, 'jwks.json')} }
              rules: [{ match: { prefix: "/" }, requires: { provider_name: herald } }]`)}
  clusters:
  - name: herald_authz
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: { http2_protocol_options: {} }
    load_assignment:
      cluster_name: herald_authz
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: ${authzSocket} } } } }] }]
`;
  await writeFile(join(server.dir, 'envoy.yaml'), yaml);
  const envoy = startProcess(envoyPath(), ['-c', join(server.dir, 'envoy.yaml'), '--base-id', String(8000 + (process.pid % 1000)), '--concurrency', '1', '--disable-hot-restart', '-l', 'warn']);
  stops.unshift(() => envoy.stop());
  for (let i = 0; i < 100; i++) {
    if ((await fetch(`http://127.0.0.1:${admin}/ready`).catch(() => undefined))?.status === 200) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await writeFile(join(server.dir, 'tokens.txt'), tokens.join('\n') + '\n');
  await writeFile(join(server.dir, 'cached.txt'), `${cached}\n`);
  await writeFile(join(server.dir, 'rotate.lua'), `local tokens = {}
local i = 0
init = function(args) for line in io.lines(args[1]) do tokens[#tokens + 1] = line end end
request = function()
  i = i % #tokens + 1
  return wrk.format("GET", "/", { ["Authorization"] = "Bearer " .. tokens[i] })
end
`);
  const wrk = (port: number, file: string, measureAgent = false): string => {
    const cpu0 = processCpuMs(agent.pid);
    const envoyCpu0 = processCpuMs(envoy.pid);
    const from = profileClockUs();
    const out = execFileSync('wrk', ['-t1', '-c16', `-d${SECONDS}s`, '--latency', '-s', join(server.dir, 'rotate.lua'), `http://127.0.0.1:${port}/`, '--', join(server.dir, file)], { encoding: 'utf8' });
    const rps = /Requests\/sec:\s+([\d.]+)/.exec(out)?.[1];
    const p50 = /\s50%\s+([\d.]+\w+)/.exec(out)?.[1];
    const p99 = /\s99%\s+([\d.]+\w+)/.exec(out)?.[1];
    const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1];
    const total = Number(/(\d+) requests in/.exec(out)?.[1]);
    // Envoy's own CPU per request: with --concurrency 1 its one worker is what saturates first.
    let agentCpu = `, Envoy CPU ${(((processCpuMs(envoy.pid) - envoyCpu0) * 1000) / total).toFixed(1)} µs/req`;
    if (measureAgent) {
      agentCpu += `, agent CPU ${(((processCpuMs(agent.pid) - cpu0) * 1000) / total).toFixed(1)} µs/check`;
      if (profDir && file === 'cached.txt') writeProfileWindow(profDir, agent.pid, from, profileClockUs());
    }
    return `${Number(rps).toFixed(0).padStart(6)} req/s, p50 ${p50}, p99 ${p99}${non2xx ? ` (${non2xx} non-2xx!)` : ''}${agentCpu}`;
  };
  lines.push(`through Envoy (--concurrency 1), wrk -t1 -c16, ${SECONDS} s each; ext_authz gets ${ALL_HEADERS ? 'every request header (--all-headers)' : 'the authorization header only (allowed_headers)'}:`);
  lines.push(`  ext_authz → Herald, cached token      ${wrk(pAuthz, 'cached.txt', true)}`);
  lines.push(`  ext_authz → Herald, ${UNCACHED_TOKENS} tokens       ${wrk(pAuthz, 'tokens.txt', true)}`);
  lines.push(`  jwt_authn (Envoy, local JWKS), cached ${wrk(pJwt, 'cached.txt')}`);
  lines.push(`  jwt_authn (Envoy, local JWKS), ${UNCACHED_TOKENS}  ${wrk(pJwt, 'tokens.txt')}`);
  console.log(`Node ${process.version}; ${(await import('node:os')).availableParallelism()} cores shared by load generator, Envoy, agent and server`);
  for (const l of lines) console.log(l);
} finally {
  for (const s of stops) await s();
}
