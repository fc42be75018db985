// bin/herald-authz on its own, fed by an agent's Workload API: validates
// JWT-SVIDs against the bundles it streams, injects its own JWT-SVID.
import * as grpc from '@grpc/grpc-js';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceClient, Services } from '../../src/common/grpc/protos.ts';
import { generateToken, ROOT, startAgent, startServer, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { startProcess, type RunningProcess } from '../helpers/process.ts';
import { makeTempDir } from '../helpers/tmp.ts';

type CheckRes = { status: { code: number }; ok_response?: { headers: { header: { key: string; value: string } }[] }; denied_response?: { status: { code: number } } };

describe('herald-authz (standalone)', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let server: ServerHandle;
  let agent: AgentHandle;
  let authz: RunningProcess;
  let client: grpc.Client & { Check(req: object, cb: (e: grpc.ServiceError | null, r: CheckRes) => void): void };
  const checkCall = (headers: Record<string, string>, ext: Record<string, string> = {}) =>
    new Promise<CheckRes>((resolve, reject) => client.Check({ attributes: { request: { http: { method: 'GET', path: '/', host: 'x', headers } }, context_extensions: ext } }, (e, r) => (e ? reject(e) : resolve(r))));

  beforeAll(async () => {
    tmp = await makeTempDir('herald-authz-standalone-');
    server = await startServer({ dir: tmp.path });
    const token = await generateToken(server, 'spiffe://example.org/node');
    await server.cli('entry', 'create', '-parentID', 'spiffe://example.org/node', '-spiffeID', 'spiffe://example.org/authz', '-selector', `unix:uid:${process.getuid!()}`);
    agent = await startAgent({ dir: tmp.path, server, joinToken: token });
    const listen = join(tmp.path, 'authz.sock');
    authz = startProcess(join(ROOT, 'bin/herald-authz'), ['run', '-socketPath', agent.socketPath, '-listen', listen, '-audience', 'echo', '-injectAudience', 'echo']);
    await authz.waitForOutput('JWT bundles received; ready', 20_000);
    client = new (serviceClient(Services.authorization))(`unix:${listen}`, grpc.credentials.createInsecure()) as never;
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await authz?.stop();
    await agent?.stop();
    await server?.stop();
    await tmp?.cleanup();
  });

  it('validates JWT-SVIDs against the bundles from the Workload API', async () => {
    const jwt = (await server.cli('jwt', 'mint', '-spiffeID', 'spiffe://example.org/caller', '-audience', 'echo')).stdout.trim();
    const ok = await checkCall({ authorization: `Bearer ${jwt}` });
    expect(ok.status.code).toBe(0);
    expect(ok.ok_response!.headers[0]!.header).toMatchObject({ key: 'x-spiffe-id', value: 'spiffe://example.org/caller' });
    const bad = await checkCall({ authorization: 'Bearer nope' });
    expect(bad.status.code).toBe(16);
    expect(bad.denied_response!.status.code).toBe('Unauthorized');
  });

  it('injects its own JWT-SVID, which validates', async () => {
    const res = await checkCall({}, { herald_mode: 'inject' });
    expect(res.status.code).toBe(0);
    const value = res.ok_response!.headers[0]!.header.value;
    expect(value).toMatch(/^Bearer /);
    const claims = JSON.parse(Buffer.from(value.slice(7).split('.')[1]!, 'base64url').toString());
    expect(claims).toMatchObject({ sub: 'spiffe://example.org/authz', aud: ['echo'] });
    expect((await checkCall({ authorization: value })).status.code).toBe(0);
  });
});
