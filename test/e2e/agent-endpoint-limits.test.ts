// agent.endpoint_limits against a hostile workload running as its own uid
// (4242): 10,000 idle connections, a loop of streams it never reads, a
// message over max_request_bytes. The agent closes what is over the bounds,
// keeps its memory and file descriptors bounded, and keeps serving another
// workload (this process, uid 0) throughout.
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceClient, Services } from '../../src/common/grpc/protos.ts';
import { generateToken, ROOT, startAgent, startServer, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { startProcess, type RunningProcess } from '../helpers/process.ts';
import { procStats, type ProcStats } from '../helpers/proc-stats.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';

const TD = 'example.org';
const HOSTILE_UID = 4242;
const PER_UID = 500;
// The bound this test states for the agent under all of the abuse below: well above its
// ~100 MB at rest, far below what 10,000 connections or unread streams would take unbounded.
const MAX_RSS_GROWTH_MIB = 150;

describe('agent endpoint limits under a hostile workload', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let server: ServerHandle;
  let agent: AgentHandle;
  let good: grpc.Client & Record<string, (...a: unknown[]) => unknown>;
  let baseline: ProcStats;
  const hostiles: RunningProcess[] = [];
  const md = new grpc.Metadata();
  md.set('workload.spiffe.io', 'true');

  const hostile = (mode: string, n: number): RunningProcess => {
    const p = startProcess(process.execPath, [join(ROOT, 'test/e2e/fixtures/hostile-client.ts'), agent.socketPath, mode, String(n)], { uid: HOSTILE_UID, gid: HOSTILE_UID });
    hostiles.push(p);
    return p;
  };

  /** The good workload gets its X509-SVID and a JWT-SVID. */
  const goodWorkloadServed = async (): Promise<void> => {
    const x509 = await new Promise<unknown>((resolve, reject) => {
      const call = (good.FetchX509SVID as (r: object, m: grpc.Metadata, o: grpc.CallOptions) => grpc.ClientReadableStream<unknown>)({}, md, { deadline: Date.now() + 10_000 });
      call.on('data', (d: unknown) => {
        resolve(d);
        call.cancel();
      });
      call.on('error', (e: grpc.ServiceError) => (e.code === grpc.status.CANCELLED ? undefined : reject(e)));
    });
    expect((x509 as { svids: { spiffe_id: string }[] }).svids[0]!.spiffe_id).toBe(`spiffe://${TD}/good`);
    const jwt = await new Promise<{ svids: unknown[] }>((resolve, reject) =>
      (good.FetchJWTSVID as (r: object, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: { svids: unknown[] }) => void) => void)({ audience: ['db'] }, md, { deadline: Date.now() + 10_000 }, (e, r) => (e ? reject(e) : resolve(r))),
    );
    expect(jwt.svids).toHaveLength(1);
  };

  beforeAll(async () => {
    tmp = await makeTempDir('herald-limits-');
    // The hostile uid must reach the socket inside the test directory.
    await chmod(tmp.path, 0o755);
    server = await startServer({ dir: tmp.path, trustDomain: TD });
    const token = await generateToken(server, `spiffe://${TD}/node`);
    for (const [id, uid] of [['good', process.getuid!()], ['hostile', HOSTILE_UID]] as const) {
      const r = await server.cli('entry', 'create', '-parentID', `spiffe://${TD}/node`, '-spiffeID', `spiffe://${TD}/${id}`, '-selector', `unix:uid:${uid}`);
      expect(r.code, r.stderr).toBe(0);
    }
    agent = await startAgent({
      dir: tmp.path,
      server,
      joinToken: token,
      logLevel: 'INFO',
      extraAgent: `  endpoint_limits:
    max_connections: 3000
    max_connections_per_uid: ${PER_UID}
    max_streams_per_connection: 50
    max_request_bytes: 65536
    first_request_timeout: 3s`,
    });
    good = new (serviceClient(Services.workload))(`unix:${agent.socketPath}`, grpc.credentials.createInsecure()) as unknown as typeof good;
    await goodWorkloadServed();
    baseline = procStats(agent.proc.pid);
  }, 90_000);

  afterAll(async () => {
    for (const h of hostiles) await h.stop('SIGKILL');
    good?.close();
    await agent?.stop();
    await server?.stop();
    await tmp?.cleanup();
  });

  it('10,000 idle connections: at most max_connections_per_uid are held, then closed at first_request_timeout; others are served', async () => {
    const h = hostile('idle', 10_000);
    const line = await h.waitForOutput(/^\{"open".*\}$/m, 60_000);
    const first = JSON.parse(/^(\{"open".*\})$/m.exec(line)![1]!) as { open: number; closedByAgent: number };
    expect(first.open).toBeGreaterThan(0);
    expect(first.open).toBeLessThanOrEqual(PER_UID);
    expect(first.closedByAgent).toBeGreaterThanOrEqual(10_000 - PER_UID);
    await goodWorkloadServed();
    const during = procStats(agent.proc.pid);
    // The connections it holds, plus its own (server, sockets, files).
    expect(during.fds).toBeLessThan(baseline.fds + PER_UID + 50);
    await h.waitForOutput('"allClosed":true', 30_000);
    await waitFor('agent fds back near baseline', () => procStats(agent.proc.pid).fds < baseline.fds + 20, { timeoutMs: 10_000 });
    expect(agent.proc.output()).toContain('Connection limit reached; closing new connections');
    await h.stop('SIGKILL');
    console.log(`endpoint limits: idle 10k: agent fds ${baseline.fds} → ${during.fds}, RSS ${baseline.rssMiB} → ${during.rssMiB} MiB`);
  }, 120_000);

  it('2,000 streams opened in a loop and never read: others are served, memory stays bounded', async () => {
    const h = hostile('streams', 2_000);
    await h.waitForOutput('"started":2000');
    // The agent holds the hostile connection (and the streams it let through) while serving the other workload.
    await waitFor('the hostile connection to be held', () => procStats(agent.proc.pid).fds > baseline.fds, { timeoutMs: 10_000 });
    await goodWorkloadServed();
    const during = procStats(agent.proc.pid);
    expect(during.rssMiB - baseline.rssMiB).toBeLessThan(MAX_RSS_GROWTH_MIB);
    await h.stop('SIGKILL');
    console.log(`endpoint limits: 2k unread streams: agent RSS ${baseline.rssMiB} → ${during.rssMiB} MiB, fds ${baseline.fds} → ${during.fds}`);
  }, 120_000);

  it('a request over max_request_bytes fails with RESOURCE_EXHAUSTED, and the agent goes on', async () => {
    const h = hostile('huge', 2 * 1024 * 1024);
    const out = await h.waitForOutput(/"code"/, 30_000);
    expect(JSON.parse(/^(\{"code".*\})$/m.exec(out)![1]!).code).toBe('RESOURCE_EXHAUSTED');
    await goodWorkloadServed();
    expect(procStats(agent.proc.pid).rssMiB - baseline.rssMiB).toBeLessThan(MAX_RSS_GROWTH_MIB);
  }, 60_000);
});
