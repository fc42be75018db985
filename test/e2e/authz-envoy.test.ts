// ext_authz with real Envoys (envoy/sidecar-authz.yaml): A's outbound
// injects A's JWT-SVID, B's inbound validates it through herald-agent's
// ext_authz and the policy; direct mTLS calls into B try bad tokens; the
// policy reloads; with the agent down Envoy fails closed and recovers.
import { createServer, type Server } from 'node:http';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderBootstrap } from '../../src/agent/endpoints/sds/bootstrap-template.ts';
import { startEnvoy, type EnvoyHandle } from '../helpers/envoy.ts';
import { generateToken, startAgent, startServer, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { freePorts } from '../helpers/ports.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';

const TD = 'example.org';
const ID = { a: `spiffe://${TD}/envoy-a`, b: `spiffe://${TD}/envoy-b` };
const GID = { a: 4201, b: 4202 };

describe('ext_authz through real Envoys', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let server: ServerHandle;
  let agent: AgentHandle;
  let app: Server;
  let ports: number[];
  const envoys: EnvoyHandle[] = [];
  let lastHeaders: Record<string, string | string[] | undefined> = {};
  let policyPath: string;
  let client: Agent;

  /** A direct mTLS call into B's inbound listener, as workload A (minted SVID). */
  const direct = async (path: string, authorization?: string) => {
    const res = await request(`https://127.0.0.1:${ports[2]}${path}`, { dispatcher: client, headers: authorization ? { authorization } : {} });
    return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
  };
  const mintJwt = async (audience: string, id = ID.a) => (await server.cli('jwt', 'mint', '-spiffeID', id, '-audience', audience)).stdout.trim();

  beforeAll(async () => {
    tmp = await makeTempDir('herald-authz-');
    ports = await freePorts(8);
    policyPath = join(tmp.path, 'policy.yaml');
    await writeFile(policyPath, `default: deny\nrules:\n  - name: no-admin\n    action: deny\n    destination: { path_prefix: /admin }\n  - name: a-may-call\n    action: allow\n    jwt: { ids: ["${ID.a}"] }\n`);
    app = createServer((req, res) => {
      lastHeaders = req.headers;
      res.end('hello from b');
    });
    await new Promise<void>((r) => app.listen(ports[0], '127.0.0.1', r));
    server = await startServer({ dir: tmp.path, trustDomain: TD });
    const token = await generateToken(server, `spiffe://${TD}/node`);
    for (const k of ['a', 'b'] as const) {
      const r = await server.cli('entry', 'create', '-parentID', `spiffe://${TD}/node`, '-spiffeID', ID[k], '-selector', `unix:supplementary_gid:${GID[k]}`);
      expect(r.code, r.stderr).toBe(0);
    }
    agent = await startAgent({
      dir: tmp.path, server, joinToken: token, syncInterval: '500ms',
      extraAgent: `  authz:\n    enabled: true\n    audiences: [echo]\n    policy_file: ${policyPath}\n    strip_token: true\n`,
    });
    const sidecar = async (k: 'a' | 'b', base: number) =>
      startEnvoy({
        dir: tmp.path, name: `envoy-${k}`, adminPort: ports[base]!, prefix: ['setpriv', `--groups=${GID[k]}`, '--'],
        yaml: await renderBootstrap('sidecar-authz.yaml', {
          NODE_ID: `envoy-${k}`, NODE_CLUSTER: k, ADMIN_PORT: ports[base]!, INBOUND_PORT: ports[base + 1]!, OUTBOUND_PORT: ports[base + 2]!,
          LOCAL_APP_PORT: ports[0]!, ALLOWED_PEER_ID: ID.a, UPSTREAM_HOST: '127.0.0.1', UPSTREAM_PORT: ports[2]!, UPSTREAM_ID: ID.b,
          SVID_NAME: 'default', VALIDATION_NAME: 'ROOTCA', AGENT_SOCKET: agent.socketPath, AUTHZ_SOCKET: join(tmp.path, 'authz.sock'),
          AUDIENCE: 'echo', UPSTREAM_AUDIENCE: 'echo',
        }),
      });
    // One at a time, so a failed start still leaves the first one to stop.
    envoys.push(await sidecar('b', 1));
    envoys.push(await sidecar('a', 4));
    // Workload A's X509-SVID, for direct calls into B.
    const dir = join(tmp.path, 'a-svid');
    await server.cli('x509', 'mint', '-spiffeID', ID.a, '-write', dir);
    client = new Agent({
      connect: {
        cert: await readFile(join(dir, 'svid.pem')), key: await readFile(join(dir, 'key.pem')), ca: await readFile(join(dir, 'bundle.pem')),
        checkServerIdentity: (_h: string, cert: { subjectaltname?: string }) => (cert.subjectaltname === `URI:${ID.b}` ? undefined : new Error(`unexpected server ${cert.subjectaltname}`)),
      },
    });
  }, 120_000);

  afterAll(async () => {
    await client?.close();
    for (const e of envoys) await e.stop();
    await agent?.stop();
    await server?.stop();
    await new Promise((r) => app?.close(r));
    await tmp?.cleanup();
  });

  it('A → B: A\'s Envoy injects its JWT-SVID, B\'s Envoy validates it; the app sees the identity, not the token', async () => {
    const res = await waitFor('A → B succeeds', async () => {
      const r = await fetch(`http://127.0.0.1:${ports[6]}/hello`).catch(() => undefined);
      return r?.status === 200 ? r : undefined;
    }, { timeoutMs: 20_000 });
    expect(await res.text()).toBe('hello from b');
    expect(lastHeaders['x-spiffe-id']).toBe(ID.a);
    expect(lastHeaders['x-spiffe-trust-domain']).toBe(TD);
    expect(lastHeaders.authorization).toBeUndefined();
  }, 30_000);

  it('direct calls: valid token 200; missing, forged, wrong audience 401; policy 403', async () => {
    const valid = await mintJwt('echo');
    await waitFor('direct call with a valid token', async () => ((await direct('/hello', `Bearer ${valid}`)).status === 200) || undefined, { timeoutMs: 15_000 });
    const missing = await direct('/hello');
    expect(missing.status).toBe(401);
    expect(missing.headers['www-authenticate']).toBe('Bearer realm="herald"');
    const parts = valid.split('.');
    const forged = `${parts[0]}.${parts[1]}.${Buffer.from('forged-signature-forged-signature').toString('base64url')}`;
    const bad = await direct('/hello', `Bearer ${forged}`);
    expect(bad.status).toBe(401);
    expect(bad.body).toBe('invalid JWT-SVID\n');
    expect(bad.body).not.toContain(parts[2]!);
    expect((await direct('/hello', `Bearer ${await mintJwt('elsewhere')}`)).status).toBe(401);
    expect((await direct('/hello', 'Bearer garbage')).status).toBe(401);
    const admin = await direct('/admin/x', `Bearer ${valid}`);
    expect(admin.status).toBe(403);
    expect(admin.body).toBe('forbidden by policy\n');
    expect((await direct('/hello', `Bearer ${await mintJwt('echo', `spiffe://${TD}/someone-else`)}`)).status).toBe(403);
  }, 30_000);

  it('reloads the policy on change and refuses an invalid one, keeping the last good policy', async () => {
    const valid = await mintJwt('echo');
    await writeFile(policyPath, 'default: deny\nrules: []\n');
    await waitFor('new policy denies', async () => ((await direct('/hello', `Bearer ${valid}`)).status === 403) || undefined, { timeoutMs: 10_000 });
    await writeFile(policyPath, 'rules: [ {');
    await agent.proc.waitForOutput('Authorization policy reload refused', 10_000);
    expect((await direct('/hello', `Bearer ${valid}`)).status).toBe(403);
    await writeFile(policyPath, `rules:\n  - { action: allow, jwt: { ids: ["${ID.a}"] } }\n`);
    await waitFor('allowing policy', async () => ((await direct('/hello', `Bearer ${valid}`)).status === 200) || undefined, { timeoutMs: 10_000 });
  }, 30_000);

  it('fails closed while the agent is down, and recovers when it returns', async () => {
    const valid = await mintJwt('echo');
    await agent.stop();
    await waitFor('fail closed', async () => ((await direct('/hello', `Bearer ${valid}`)).status === 503) || undefined, { timeoutMs: 10_000 });
    await agent.restart();
    await waitFor('recovered', async () => ((await direct('/hello', `Bearer ${valid}`)).status === 200) || undefined, { timeoutMs: 20_000 });
  }, 40_000);
});
