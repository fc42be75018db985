// Unary gRPC over a Unix socket, in-process grpc-js server, client in a child
// process (so the two do not share an event loop):
//   raw           a net server handing each accepted socket (peer address
//                 stamped) straight to a grpc-js connection injector: no
//                 :authority handling at all, the floor;
//   herald        startUdsServer (uds-server.ts + uds-authority.ts) with an
//                 ordinary client (go-spiffe, py-spiffe, Envoy, grpc-js);
//   herald-path   startUdsServer with a client that sends the socket path as
//                 :authority (grpc-java: java-spiffe), so the transcoder runs.
// Scenarios: sequential calls on one connection, concurrent calls on one
// connection, one call per new connection (sequential and concurrent).
// Every reply carries the caller's pid as the server saw it (SO_PEERCRED);
// a wrong or missing one fails the run. Besides latency, the server
// process's CPU time per call (user + system, process.cpuUsage() around each
// scenario) is reported: on a shared, loaded machine it is the steadier
// measure of what each path costs.
//   npm run bench:uds [-- --rounds 3 ...], or node bench/uds/run.ts [--rounds 3] [--calls 3000] [--concurrency 32] [--connections 300] [--only raw,herald,herald-path]
// Rounds interleave the variants (the machine is shared and noisy); each
// cell is p50/p99 over all rounds.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { readPeerCredentials, stampPeerAddress } from '../../src/common/grpc/peer.ts';
import { startUdsServer } from '../../src/common/grpc/uds-server.ts';
import { percentile } from '../lib/percentile.ts';
import { PeerClient, peerServiceDefinition, peerServiceImplementation, type WhoAmIReply } from '../../test/common/grpc/fixtures/peer-service.ts';

interface ClientResult {
  /** Server CPU µs per scenario, filled in by the parent. */
  cpu?: Record<string, number>;
  seq: number[];
  conc: number[];
  concWallMs: number;
  newSeq: number[];
  newConc: number[];
  newConcWallMs: number;
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
}

if (process.argv[2] === '--client') await client();
else await main();

async function client(): Promise<void> {
  const [socketPath, authority, calls, concurrency, connections] = process.argv.slice(3) as [string, string, string, string, string];
  const N = Number(calls);
  const M = Number(concurrency);
  const K = Number(connections);
  type Api = grpc.Client & { whoAmI(req: object, cb: (err: grpc.ServiceError | null, reply?: WhoAmIReply) => void): void };
  const newClient = (): Api =>
    new PeerClient(`unix:${socketPath}`, grpc.credentials.createInsecure(), {
      'grpc.use_local_subchannel_pool': 1,
      ...(authority === '-' ? {} : { 'grpc.default_authority': authority }),
    }) as unknown as Api;
  const call = (c: Api): Promise<number> =>
    new Promise((resolve, reject) => {
      const t0 = performance.now();
      c.whoAmI({}, (err, reply) => {
        const ms = performance.now() - t0;
        if (err) reject(err);
        else if (reply?.creds?.pid !== process.pid) reject(new Error(`server saw pid ${String(reply?.creds?.pid)}, not ${process.pid}`));
        else resolve(ms);
      });
    });

  // Tells the parent (the server) where a scenario starts and ends, and waits for it to note its CPU time.
  const mark = async (label: string): Promise<void> => {
    process.send!(label);
    await once(process, 'message');
  };
  const one = newClient();
  for (let i = 0; i < 300; i++) await call(one); // warm-up
  const seq: number[] = [];
  await mark('start:seq');
  for (let i = 0; i < N; i++) seq.push(await call(one));
  await mark('end:seq');
  const conc: number[] = [];
  await mark('start:conc');
  let t0 = performance.now();
  await Promise.all(Array.from({ length: M }, async () => {
    for (let i = 0; i < N / M; i++) conc.push(await call(one));
  }));
  const concWallMs = performance.now() - t0;
  await mark('end:conc');
  one.close();

  const fresh = async (): Promise<number> => {
    const c = newClient();
    try {
      return await call(c);
    } finally {
      c.close();
    }
  };
  for (let i = 0; i < 20; i++) await fresh(); // warm-up
  const newSeq: number[] = [];
  await mark('start:newSeq');
  for (let i = 0; i < K; i++) newSeq.push(await fresh());
  await mark('end:newSeq');
  const newConc: number[] = [];
  await mark('start:newConc');
  t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(M, 8) }, async (_, w, all = Math.min(M, 8)) => {
    for (let i = w; i < K; i += all) newConc.push(await fresh());
  }));
  const newConcWallMs = performance.now() - t0;
  await mark('end:newConc');
  process.disconnect();
  process.stdout.write(JSON.stringify({ seq, conc, concWallMs, newSeq, newConc, newConcWallMs } satisfies ClientResult));
}

async function main(): Promise<void> {
  const rounds = arg('rounds', 3);
  const calls = arg('calls', 3000);
  const concurrency = arg('concurrency', 32);
  const connections = arg('connections', 300);
  const dir = await mkdtemp(join(tmpdir(), 'herald-bench-uds-'));

  // The floor: sockets go to grpc-js as accepted, as before uds-authority.ts.
  const rawGrpc = new grpc.Server({ 'grpc.enable_channelz': 0 });
  rawGrpc.addService(peerServiceDefinition, peerServiceImplementation);
  const injector = rawGrpc.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const rawSocket = join(dir, 'raw.sock');
  const rawNet = net.createServer((socket) => {
    stampPeerAddress(socket, readPeerCredentials(socket));
    socket.on('error', () => undefined);
    injector.injectConnection(socket);
  });
  await new Promise<void>((resolve) => rawNet.listen(rawSocket, resolve));

  const herald = await startUdsServer({ socketPath: join(dir, 'herald.sock'), mode: 0o700, services: [{ definition: peerServiceDefinition, implementation: peerServiceImplementation }] });

  const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1]!.split(',') : undefined;
  const variants = [
    { name: 'raw', socket: rawSocket, authority: '-' },
    { name: 'herald', socket: herald.socketPath, authority: '-' },
    { name: 'herald-path', socket: herald.socketPath, authority: herald.socketPath },
  ].filter((v) => only === undefined || only.includes(v.name));
  const results = new Map<string, ClientResult[]>(variants.map((v) => [v.name, []]));
  try {
    for (let r = 0; r < rounds; r++) {
      // Rotate the order so no variant always runs first or last.
      for (let i = 0; i < variants.length; i++) {
        const v = variants[(i + r) % variants.length]!;
        process.stderr.write(`round ${r + 1}/${rounds}: ${v.name}\n`);
        results.get(v.name)!.push(await runClient(v.socket, v.authority, calls, concurrency, connections));
      }
    }
  } finally {
    rawNet.close();
    rawGrpc.forceShutdown();
    await herald.forceClose();
    await rm(dir, { recursive: true, force: true });
  }

  const fmt = (n: number): string => n.toFixed(3);
  const rows: string[][] = [['scenario', 'variant', 'p50 ms', 'p99 ms', 'calls/s', 'server CPU µs/call']];
  const scenarios: [string, keyof ClientResult & string, (r: ClientResult) => number[], ((r: ClientResult) => number) | undefined][] = [
    [`${calls} sequential, one connection`, 'seq', (r) => r.seq, undefined],
    [`${calls} with ${concurrency} concurrent, one connection`, 'conc', (r) => r.conc, (r) => r.concWallMs],
    [`${connections} sequential, new connection each`, 'newSeq', (r) => r.newSeq, undefined],
    [`${connections} with ${Math.min(concurrency, 8)} concurrent, new connection each`, 'newConc', (r) => r.newConc, (r) => r.newConcWallMs],
  ];
  for (const [label, key, pick, wall] of scenarios) {
    for (const v of variants) {
      const rs = results.get(v.name)!;
      const sorted = rs.flatMap(pick).sort((a, b) => a - b);
      const rate = wall === undefined
        ? 1000 / (sorted.reduce((a, b) => a + b, 0) / sorted.length)
        : rs.reduce((a, r) => a + pick(r).length, 0) / (rs.reduce((a, r) => a + wall(r), 0) / 1000);
      if (sorted.length === 0) continue;
      const cpu = rs.reduce((a, r) => a + r.cpu![key]!, 0) / sorted.length;
      rows.push([label, v.name, fmt(percentile(sorted, 50)), fmt(percentile(sorted, 99)), rate.toFixed(0), cpu.toFixed(0)]);
    }
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  for (const row of rows) console.log(row.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
  console.log(`(${rounds} interleaved rounds; node ${process.version}; client in a child process)`);
}

function runClient(socket: string, authority: string, calls: number, concurrency: number, connections: number): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [import.meta.filename, '--client', socket, authority, String(calls), String(concurrency), String(connections)], {
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    });
    const marks = new Map<string, NodeJS.CpuUsage>();
    child.on('message', (label: string) => {
      marks.set(label, process.cpuUsage());
      child.send('ok');
    });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) {
        reject(new Error(`bench client exited with ${String(code)}`));
        return;
      }
      const result = JSON.parse(out) as ClientResult;
      const used = (phase: string): number => {
        const a = marks.get(`start:${phase}`)!;
        const b = marks.get(`end:${phase}`)!;
        return b.user - a.user + (b.system - a.system);
      };
      result.cpu = Object.fromEntries(['seq', 'conc', 'newSeq', 'newConc'].map((p) => [p, used(p)]));
      resolve(result);
    });
  });
}
