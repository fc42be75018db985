// server.ratelimit against a flood: AttestAgent with bad join tokens from
// one source IP (127.0.0.2, 30 at a time, for as long as the checks take) is held to SPIRE's 1 per second
// plus the bounded wait, the rest refused with RESOURCE_EXHAUSTED; an
// attested agent (127.0.0.1) keeps syncing and serving its workload, and a
// new agent attests from another IP during the flood.
import { generateKeyPairSync } from 'node:crypto';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { protobufTypes } from '../../src/common/grpc/protos.ts';
import { MAX_WAIT_MS } from '../../src/server/api/rate-limit.ts';
import { createCsr } from '../../src/spiffe/csr.ts';
import { waitForSyncs } from '../helpers/agent-log.ts';
import { generateToken, startAgent, startServer, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { makeTempDir } from '../helpers/tmp.ts';

const TD = 'example.org';
const FLOOD_FROM = '127.0.0.2';
/** Bounds on the flood: it runs while the other agents are checked, at most this many calls and this long. */
const MAX_FLOOD_CALLS = 200_000;
const MAX_FLOOD_MS = 60_000;
const CONCURRENCY = 30;

/** One AttestAgent call over a raw HTTP/2 session (grpc-js cannot choose the local address): its grpc-status. */
function attest(session: http2.ClientHttp2Session, body: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    body.copy(frame, 5);
    const req = session.request({ ':method': 'POST', ':path': '/spire.api.server.agent.v1.Agent/AttestAgent', 'content-type': 'application/grpc', te: 'trailers' });
    let status = grpc.status.UNKNOWN;
    const read = (h: http2.IncomingHttpHeaders): void => {
      if (h['grpc-status'] !== undefined) status = Number(h['grpc-status']);
    };
    req.on('response', read);
    req.on('trailers', read);
    req.on('data', () => undefined);
    req.on('error', () => undefined);
    req.on('close', () => resolve(status));
    req.end(frame);
  });
}

describe('server rate limits under an AttestAgent flood', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let server: ServerHandle;
  let agent: AgentHandle;
  let second: AgentHandle | undefined;

  beforeAll(async () => {
    tmp = await makeTempDir('herald-ratelimit-');
    server = await startServer({ dir: tmp.path, trustDomain: TD, logLevel: 'INFO' });
    const token = await generateToken(server, `spiffe://${TD}/node`);
    const r = await server.cli('entry', 'create', '-parentID', `spiffe://${TD}/node`, '-spiffeID', `spiffe://${TD}/web`, '-selector', `unix:uid:${process.getuid!()}`);
    expect(r.code, r.stderr).toBe(0);
    agent = await startAgent({ dir: tmp.path, server, joinToken: token, syncInterval: '500ms' });
  }, 60_000);

  afterAll(async () => {
    await second?.stop();
    await agent?.stop();
    await server?.stop();
    await tmp?.cleanup();
  });

  it('holds one source to its rate while attested agents sync and another source attests', async () => {
    const types = protobufTypes('spiffe');
    const Req = types.lookupType('spire.api.server.agent.v1.AttestAgentRequest');
    const csr = createCsr(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey);
    const body = (i: number): Buffer => Buffer.from(Req.encode(Req.fromObject({ params: { data: { type: 'join_token', payload: Buffer.from(`not-a-token-${i}`) }, params: { csr } } })).finish());
    const session = http2.connect(`https://127.0.0.1:${server.port}`, {
      createConnection: () => tls.connect({ socket: net.connect({ host: '127.0.0.1', port: server.port, localAddress: FLOOD_FROM }), ALPNProtocols: ['h2'], rejectUnauthorized: false }),
    });
    session.on('error', () => undefined);

    const statuses = new Map<number, number>();
    const started = Date.now();
    let next = 0;
    let stop = false;
    const worker = async (): Promise<void> => {
      while (!stop && next < MAX_FLOOD_CALLS && Date.now() - started < MAX_FLOOD_MS) {
        const code = await attest(session, body(next++));
        statuses.set(code, (statuses.get(code) ?? 0) + 1);
      }
    };
    const flood = Promise.all(Array.from({ length: CONCURRENCY }, worker));

    // During the flood: the attested agent syncs, and a second agent attests from 127.0.0.1.
    await waitForSyncs(agent.proc, 3);
    second = await startAgent({ dir: tmp.path, server, name: 'second', joinToken: await generateToken(server) });
    expect(await agent.cli('api', 'fetch', 'x509')).toMatchObject({ code: 0 });
    const stillFlooding = next < MAX_FLOOD_CALLS && Date.now() - started < MAX_FLOOD_MS;
    stop = true;

    await flood;
    session.close();
    const elapsedS = (Date.now() - started) / 1000;
    const refused = statuses.get(grpc.status.RESOURCE_EXHAUSTED) ?? 0;
    const letThrough = next - refused;
    console.log(`rate limit: ${next} bad AttestAgent calls from ${FLOOD_FROM} in ${elapsedS.toFixed(1)} s: ${letThrough} reached the attestor, ${refused} refused; statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
    expect(stillFlooding, 'the flood ended before the other agents were checked').toBe(true);
    // 1 per second, plus the one-token burst, plus the calls admitted to wait up to MAX_WAIT_MS.
    expect(letThrough).toBeLessThanOrEqual(Math.ceil(elapsedS) + 1 + MAX_WAIT_MS / 1000);
    expect(letThrough).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(next / 2);
    // No call failed for another reason than the limit or the bad token.
    expect([...statuses.keys()].every((c) => c === grpc.status.RESOURCE_EXHAUSTED || c === grpc.status.PERMISSION_DENIED || c === grpc.status.INVALID_ARGUMENT)).toBe(true);
  }, 120_000);
});
