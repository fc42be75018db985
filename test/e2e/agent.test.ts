// herald-agent with real processes: Workload API rules (security header,
// no identity, bad JWT input), rotation seen by go-spiffe, py-spiffe and
// java-spiffe watchers, agent SVID renewal, the server going away and coming back, and
// 1,000 streams dropped abruptly without leaking.
import * as grpc from '@grpc/grpc-js';
import { readdirSync } from 'node:fs';
import { chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceClient, Services } from '../../src/common/grpc/protos.ts';
import { fromStruct } from '../../src/common/grpc/struct.ts';
import { generateToken, ROOT, startAgent, startServer, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { goInteropPath, javaInteropArgs, pythonPath } from '../../demo/lib/tools.ts';
import { RETRY_CAP_FLOOR_MS } from '../../src/agent/manager.ts';
import { runCommand, startProcess } from '../helpers/process.ts';
import { freePort } from '../helpers/ports.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';
import { waitForSyncs } from '../helpers/agent-log.ts';

type Client = grpc.Client & Record<string, (...a: unknown[]) => unknown>;

function workload(socket: string): Client {
  const Ctor = serviceClient(Services.workload);
  return new Ctor(`unix:${socket}`, grpc.credentials.createInsecure()) as unknown as Client;
}

function header(): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('workload.spiffe.io', 'true');
  return md;
}

function unary<T>(c: Client, method: string, req: object, md: grpc.Metadata): Promise<T> {
  return new Promise((resolve, reject) => (c[method] as (r: object, m: grpc.Metadata, cb: (e: grpc.ServiceError | null, r: T) => void) => void)(req, md, (e, r) => (e ? reject(e) : resolve(r))));
}

function firstOrError(c: Client, method: string, md: grpc.Metadata): Promise<{ code: number; details: string } | { message: unknown }> {
  return new Promise((resolve) => {
    const call = (c[method] as (r: object, m: grpc.Metadata) => grpc.ClientReadableStream<unknown>)({}, md);
    call.on('data', (m) => {
      resolve({ message: m });
      call.cancel();
    });
    call.on('error', (e: grpc.ServiceError) => resolve({ code: e.code, details: e.details }));
  });
}

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

describe('herald-agent end to end', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let server: ServerHandle;
  let agent: AgentHandle;
  let healthPort: number;

  beforeAll(async () => {
    tmp = await makeTempDir('herald-agent-e2e-');
    // The "no entry" caller runs as nobody and must reach the socket.
    await chmod(tmp.path, 0o755);
    server = await startServer({ dir: tmp.path, extraServer: '  agent_ttl: 10s' });
    const token = await generateToken(server, 'spiffe://example.org/node1');
    const created = await server.cli('entry', 'create', '-parentID', 'spiffe://example.org/node1', '-spiffeID', 'spiffe://example.org/rotating', '-selector', `unix:uid:${process.getuid!()}`, '-x509SVIDTTL', '6');
    expect(created.code, created.stderr).toBe(0);
    healthPort = await freePort();
    agent = await startAgent({ dir: tmp.path, server, joinToken: token, syncInterval: '500ms', extraTop: `health_checks: { listener_enabled: true, bind_address: 127.0.0.1, bind_port: ${healthPort} }\n` });
  }, 120_000);

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
    await tmp?.cleanup();
  });

  it('answers SPIRE\'s health_checks paths over HTTP', async () => {
    expect((await fetch(`http://127.0.0.1:${healthPort}/live`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${healthPort}/ready`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${healthPort}/other`)).status).toBe(404);
  });

  it('refuses a call without the security header, before attesting', async () => {
    const c = workload(agent.socketPath);
    const res = await firstOrError(c, 'FetchX509SVID', new grpc.Metadata());
    expect(res).toEqual({ code: grpc.status.INVALID_ARGUMENT, details: 'security header missing from request' });
    await expect(unary(c, 'FetchJWTSVID', { audience: ['a'] }, new grpc.Metadata())).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    c.close();
  });

  it('tells a caller without an entry "no identity issued" (PermissionDenied)', async () => {
    const res = await runCommand('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', join(ROOT, 'bin/herald-agent'), 'api', 'fetch', 'x509', '-socketPath', agent.socketPath, '-timeout', '3s'], { cwd: '/' });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('no identity issued');
  });

  it('rejects bad JWT requests with InvalidArgument and a reason', async () => {
    const c = workload(agent.socketPath);
    await expect(unary(c, 'FetchJWTSVID', { audience: [] }, header())).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'audience must be specified' });
    await expect(unary(c, 'ValidateJWTSVID', { audience: '', svid: 'x' }, header())).rejects.toMatchObject({ details: 'audience must be specified' });
    await expect(unary(c, 'ValidateJWTSVID', { audience: 'a', svid: '' }, header())).rejects.toMatchObject({ details: 'svid must be specified' });
    await expect(unary(c, 'ValidateJWTSVID', { audience: 'a', svid: 'not.a.jwt' }, header())).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    const minted = await server.cli('jwt', 'mint', '-spiffeID', 'spiffe://example.org/x', '-audience', 'right');
    await expect(unary(c, 'ValidateJWTSVID', { audience: 'wrong', svid: minted.stdout.trim() }, header())).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringContaining('audience') });
    const ok = await unary<{ spiffe_id: string; claims: { fields: Record<string, never> } }>(c, 'ValidateJWTSVID', { audience: 'right', svid: minted.stdout.trim() }, header());
    expect(ok.spiffe_id).toBe('spiffe://example.org/x');
    // Claims as a Struct; aud always a list (py-spiffe iterates it).
    expect(fromStruct(ok.claims)).toMatchObject({ sub: 'spiffe://example.org/x', aud: ['right'] });
    expect(typeof fromStruct(ok.claims).exp).toBe('number');
    c.close();
  });

  it('go-spiffe, py-spiffe and java-spiffe watchers see the SVID rotate on the open stream; java-spiffe\'s JwtSource follows a JWT key rotation', async () => {
    const env = { ...process.env, SPIFFE_ENDPOINT_SOCKET: `unix://${agent.socketPath}` };
    // java-spiffe (grpc-java) sends the socket path as :authority. Its
    // X509Source and JwtSource stay open through the SVID rotation; the JWT
    // authority is rotated under them only after every watcher has seen the
    // SVID rotate, since a bundle change also reaches X509 streams (as in
    // SPIRE) and must not pass for the rotation.
    const java = startProcess('java', [...javaInteropArgs(), 'watch', '2', 'jwt-rotation'], { env: { ...env, SPIFFE_ENDPOINT_SOCKET: `unix:${agent.socketPath}` } });
    try {
      const [goRes, pyRes] = await Promise.all([
        runCommand(goInteropPath(), ['watch', '2'], { env, timeoutMs: 40_000 }),
        runCommand(pythonPath(), [join(ROOT, 'test/interop/py/client.py'), 'watch', '2'], { env, timeoutMs: 40_000 }),
        // JVM startup on a busy 2-core machine is slow: generous bounds.
        java.waitForOutput(/^x509 updates seen$/m, 90_000).catch((err: Error) => {
          throw new Error(`${err.message}; java-spiffe said:\n${java.output().slice(-3000)}`);
        }),
      ]);
      const prepared = JSON.parse((await server.cli('localauthority', 'jwt', 'prepare', '-output', 'json')).stdout).prepared_authority.authority_id;
      const activated = await server.cli('localauthority', 'jwt', 'activate', '-authorityID', prepared, '-output', 'json');
      expect(activated.code, activated.stderr).toBe(0);
      const go = JSON.parse(goRes.stdout);
      const py = JSON.parse(pyRes.stdout);
      let timer: NodeJS.Timeout | undefined;
      const exited = await Promise.race([java.exited().then(() => true), new Promise<boolean>((r) => { timer = setTimeout(r, 90_000, false); })]);
      clearTimeout(timer);
      expect(exited, java.output().slice(-3000)).toBe(true);
      const javaOut = java.output().split('\n').find((l) => l.startsWith('{')) ?? '{}';
      const j = JSON.parse(javaOut);
      expect(j.error, java.output().slice(-3000)).toBeUndefined();
      for (const r of [go, py, j]) {
        expect(r.updates).toHaveLength(2);
        expect(r.updates[0][0].id).toBe('spiffe://example.org/rotating');
        expect(r.updates[1][0].serial).not.toBe(r.updates[0][0].serial);
      }
      // The X509Source serves the rotated SVID. JWT-SVIDs from the JwtSource
      // validate against its own JWT bundle and at the agent, before and
      // after the new key: the source picked the key up from its stream.
      expect(j.current.serial).toBe(j.updates[1][0].serial);
      for (const jwt of [j.jwt_before, j.jwt_after]) {
        expect(jwt).toMatchObject({ id: 'spiffe://example.org/rotating', local_id: 'spiffe://example.org/rotating', remote_id: 'spiffe://example.org/rotating', wrong_aud_fail: true });
      }
      expect(j.jwt_after.kid).not.toBe(j.jwt_before.kid);
      expect(j.jwt_before.key_ids).not.toContain(j.jwt_after.kid);
      expect(j.jwt_after.key_ids).toEqual(expect.arrayContaining([j.jwt_before.kid, j.jwt_after.kid]));
    } finally {
      await java.stop('SIGKILL');
    }
  }, 180_000);


  it('bundle streams send a message only when their own content changes', async () => {
    const c = workload(agent.socketPath);
    const got: Record<string, { bundles: Record<string, Buffer> }[]> = { FetchX509SVID: [], FetchX509Bundles: [], FetchJWTBundles: [] };
    const calls = Object.keys(got).map((m) => {
      const call = (c[m] as (r: object, md: grpc.Metadata) => grpc.ClientReadableStream<{ bundles: Record<string, Buffer> }>)({}, header());
      call.on('data', (msg) => got[m]!.push(msg));
      call.on('error', () => undefined);
      return call;
    });
    try {
      // The SVID (TTL 6 s) rotates; the bundles do not change.
      await waitFor('an SVID rotation', () => got.FetchX509SVID!.length >= 2, { timeoutMs: 20_000 });
      expect(got.FetchX509Bundles).toHaveLength(1);
      expect(got.FetchJWTBundles).toHaveLength(1);
      // A new X.509 authority changes the X.509 bundle only.
      const prepared = await server.cli('localauthority', 'x509', 'prepare');
      expect(prepared.code, prepared.stderr).toBe(0);
      await waitFor('the new X.509 authority', () => got.FetchX509Bundles!.length === 2, { timeoutMs: 10_000 });
      const ders = got.FetchX509Bundles!.map((m) => m.bundles['spiffe://example.org']!.length);
      expect(ders[1]).toBeGreaterThan(ders[0]!);
      // Three more agent syncs (each fetches the bundle and publishes what changed): the JWT
      // bundle stream would have had its message by then.
      await waitForSyncs(agent.proc, 3);
      expect(got.FetchJWTBundles).toHaveLength(1);
      // A new JWT key changes the JWT bundle.
      expect((await server.cli('localauthority', 'jwt', 'prepare')).code).toBe(0);
      await waitFor('the new JWT key', () => got.FetchJWTBundles!.length === 2, { timeoutMs: 10_000 });
      const keys = got.FetchJWTBundles!.map((m) => JSON.parse(m.bundles['spiffe://example.org']!.toString()).keys.length);
      expect(keys[1]).toBe(keys[0] + 1);
    } finally {
      for (const call of calls) call.cancel();
      c.close();
    }
  }, 60_000);
  it('renews its own agent SVID and keeps syncing with the renewed one', async () => {
    await agent.proc.waitForOutput('Renewed the agent SVID', 20_000);
    const before = agent.proc.output().length;
    const c = workload(agent.socketPath);
    // NewJWTSVID reaches the server with the renewed agent SVID.
    const res = await unary<{ svids: { svid: string }[] }>(c, 'FetchJWTSVID', { audience: ['after-renewal'] }, header());
    expect(res.svids).toHaveLength(1);
    c.close();
    expect(agent.proc.output().slice(before)).not.toContain('Sync with the server failed');
  }, 30_000);

  it('1,000 streams dropped abruptly (client killed) leave no connections behind', async () => {
    const pid = agent.proc.pid;
    // Settled first: a connection from the previous test may still be closing
    // (polled: the same count on two samples 300 ms apart).
    let baseline = fdCount(pid);
    let samples = 0;
    await waitFor('agent fds settled', () => {
      const now = fdCount(pid);
      const settled = ++samples > 1 && now === baseline;
      baseline = Math.min(baseline, now);
      return settled;
    }, { timeoutMs: 10_000, intervalMs: 300 });
    const client = startProcess(process.execPath, [join(ROOT, 'test/e2e/fixtures/open-streams.ts'), agent.socketPath, '1000', '10']);
    try {
      await client.waitForOutput('ready 1000', 40_000);
      expect(fdCount(pid)).toBeGreaterThanOrEqual(baseline + 10);
    } finally {
      // Also when an assertion failed: the client must not outlive the test.
      await client.stop('SIGKILL');
    }
    await waitFor('agent fds back to baseline', () => fdCount(pid) <= baseline + 1, { timeoutMs: 15_000 });
  }, 60_000);
});

// Its own server: the agent SVID must outlive the outage (a join_token agent whose SVID
// expires while the server is down cannot renew and must be given a new token, as with SPIRE).
describe('herald-agent while its server is down', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let server: ServerHandle;
  let agent: AgentHandle;

  beforeAll(async () => {
    tmp = await makeTempDir('herald-agent-outage-');
    server = await startServer({ dir: tmp.path });
    const token = await generateToken(server, 'spiffe://example.org/node1');
    const created = await server.cli('entry', 'create', '-parentID', 'spiffe://example.org/node1', '-spiffeID', 'spiffe://example.org/rotating', '-selector', `unix:uid:${process.getuid!()}`);
    expect(created.code, created.stderr).toBe(0);
    agent = await startAgent({ dir: tmp.path, server, joinToken: token, syncInterval: '1s' });
  }, 120_000);

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
    await tmp?.cleanup();
  });

  it('keeps serving cached SVIDs while the server is down and reconnects within the retry cap when it returns', async () => {
    await server.stop();
    await agent.proc.waitForOutput('Sync with the server failed', 10_000);
    const fetched = await agent.cli('api', 'fetch', 'x509');
    expect(fetched.stdout).toContain('spiffe://example.org/rotating');
    // Stay down until the backoff has reached its cap (1 s interval: 2, 4, 5, 5 s; uncapped it
    // would be 16 s next, and grpc-js's own reconnect backoff up to 120 s).
    const failures = () => Math.max(0, ...[...agent.proc.output().matchAll(/failures=(\d+)/g)].map((m) => Number(m[1])));
    await waitFor('four failed syncs', () => failures() >= 4, { timeoutMs: 40_000 });
    const mark = agent.proc.output().length;
    await server.restart();
    // Bound: the retry cap, one connect and one sync; the rest is margin for a loaded 2-core machine.
    await waitFor('agent reconnects', () => agent.proc.output().slice(mark).includes('Reconnected to the server'), { timeoutMs: RETRY_CAP_FLOOR_MS * 1.1 + 10_000 }).catch((err: Error) => {
      throw new Error(`${err.message}\n--- agent output since the restart ---\n${agent.proc.output().slice(mark)}`);
    });
  }, 90_000);
});
