// Retiring a compromised old authority, as SPIRE does: taint it (agents
// replace what it signed at once, their own SVID too, and drop JWT-SVIDs it
// signed), then revoke it (it leaves the bundle). Only the old authority
// can be tainted, and only a tainted one revoked; a restart in between
// changes nothing.
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callUnary, udsClient } from '../../src/cli/grpc-client.ts';
import { Services } from '../../src/common/grpc/protos.ts';
import { generateToken, startAgent, startServer, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';

type WireBundle = { x509_authorities: { asn1: Buffer; tainted: boolean }[]; jwt_authorities: { key_id: string; tainted: boolean }[] };

async function bundleOf(server: ServerHandle): Promise<WireBundle> {
  const c = udsClient(Services.bundle, server.socketPath);
  try {
    return await callUnary<WireBundle>(c, 'GetBundle', {});
  } finally {
    c.close();
  }
}
const authorityCli = (server: ServerHandle, kind: 'x509' | 'jwt', what: string, ...args: string[]) => server.cli('localauthority', kind, what, ...args, '-output', 'json');
/** The workload's X509-SVID leaf and the bundle served with it. */
async function fetchX509(agent: AgentHandle): Promise<{ leaf: X509Certificate; bundleDer: Buffer }> {
  const r = await agent.cli('api', 'fetch', 'x509', '-output', 'json');
  expect(r.code, r.stderr).toBe(0);
  const svid = JSON.parse(r.stdout).svids[0];
  return { leaf: new X509Certificate(Buffer.from(svid.x509_svid, 'base64')), bundleDer: Buffer.from(svid.bundle, 'base64') };
}
/** prepare + activate; returns the IDs of the new active and the now-old authority. */
async function rotateAuthority(server: ServerHandle, kind: 'x509' | 'jwt'): Promise<{ active: string; old: string }> {
  const before = JSON.parse((await authorityCli(server, kind, 'show')).stdout).active.authority_id;
  const prepared = JSON.parse((await authorityCli(server, kind, 'prepare')).stdout).prepared_authority.authority_id;
  const activated = await authorityCli(server, kind, 'activate', '-authorityID', prepared);
  expect(activated.code, activated.stderr).toBe(0);
  return { active: prepared, old: before };
}
/** A server, a join-token agent syncing every `syncInterval`, one workload entry for this uid. */
async function topology(dir: string, syncInterval: string): Promise<{ server: ServerHandle; agent: AgentHandle }> {
  const server = await startServer({ dir });
  const token = await generateToken(server, 'spiffe://example.org/node');
  expect((await server.cli('entry', 'create', '-parentID', 'spiffe://example.org/node', '-spiffeID', 'spiffe://example.org/w', '-selector', `unix:uid:${process.getuid!()}`)).code).toBe(0);
  const agent = await startAgent({ dir, server, joinToken: token, syncInterval });
  await waitFor('the first SVID', () => fetchX509(agent).catch(() => undefined));
  return { server, agent };
}

describe('localauthority taint and revoke', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let server: ServerHandle;
  let agent: AgentHandle;

  const bundle = () => bundleOf(server);
  const authority = (kind: 'x509' | 'jwt', what: string, ...args: string[]) => authorityCli(server, kind, what, ...args);
  const svidLeaf = async (): Promise<X509Certificate> => (await fetchX509(agent)).leaf;
  const jwtKid = async (): Promise<string> => {
    const r = await agent.cli('api', 'fetch', 'jwt', '-audience', 'aud', '-output', 'json');
    expect(r.code, r.stderr).toBe(0);
    // As spire-agent: [JWTSVIDResponse, JWTBundlesResponse].
    const token: string = JSON.parse(r.stdout)[0].svids[0].svid;
    return JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).kid;
  };
  const rotate = (kind: 'x509' | 'jwt') => rotateAuthority(server, kind);

  beforeAll(async () => {
    tmp = await makeTempDir('herald-taint-');
    ({ server, agent } = await topology(tmp.path, '500ms'));
  }, 60_000);

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
    await tmp?.cleanup();
  });

  it('X.509: tainting the old CA makes the agent replace its SVIDs now; revoking removes it from the bundle', async () => {
    const before = await svidLeaf();
    const { active, old } = await rotate('x509');

    // Refusals that name the rule.
    const activeTaint = await authority('x509', 'taint', '-authorityID', active);
    expect(activeTaint.code).not.toBe(0);
    expect(activeTaint.stderr).toContain('only the old authority can be tainted or revoked');
    const early = await authority('x509', 'revoke', '-authorityID', old);
    expect(early.stderr).toContain('only a tainted authority can be revoked');
    expect((await authority('x509', 'taint', '-authorityID', 'ff'.repeat(20))).stderr).toContain('no old X.509 authority with ID');

    // Nothing is due for an hour, yet the SVID from the old CA is replaced at once.
    const mark = agent.proc.output().length;
    const tainted = await authority('x509', 'taint', '-authorityID', old);
    expect(tainted.code, tainted.stderr).toBe(0);
    expect(JSON.parse(tainted.stdout).tainted_authority.authority_id).toBe(old);
    expect((await bundle()).x509_authorities.filter((a) => a.tainted)).toHaveLength(1);
    const after = await waitFor('an SVID from the new CA', async () => {
      const leaf = await svidLeaf();
      return leaf.serialNumber !== before.serialNumber ? leaf : undefined;
    }, { timeoutMs: 10_000 });
    const cas = (await bundle()).x509_authorities.map((a) => new X509Certificate(a.asn1));
    const issuer = cas.find((c) => after.checkIssued(c) && after.verify(c.publicKey))!;
    expect(issuer).toBeDefined();
    expect((await bundle()).x509_authorities.find((a) => Buffer.compare(a.asn1, issuer.raw) === 0)!.tainted).toBe(false);
    await waitFor('the agent SVID replaced', () => agent.proc.output().slice(mark).includes('The agent SVID was signed by a tainted authority; renewing it now'), { timeoutMs: 10_000 });
    expect((await authority('x509', 'taint', '-authorityID', old)).stderr).toContain('already tainted');

    const count = (await bundle()).x509_authorities.length;
    const revoked = await authority('x509', 'revoke', '-authorityID', old);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect((await bundle()).x509_authorities).toHaveLength(count - 1);
    // The agent keeps working with its new SVID and sees the smaller bundle.
    await waitFor('the agent bundle without the revoked CA', async () => {
      const r = await agent.cli('api', 'fetch', 'x509', '-output', 'json');
      const der = Buffer.from(JSON.parse(r.stdout).svids[0].bundle, 'base64');
      return der.length === (await bundle()).x509_authorities.reduce((n, a) => n + a.asn1.length, 0) || undefined;
    }, { timeoutMs: 10_000 });
  }, 60_000);

  it('JWT: tainting the old key drops the cached JWT-SVIDs it signed; revoking removes it from the bundle', async () => {
    const firstKid = await jwtKid();
    const { old } = await rotate('jwt');
    expect(old).toBe(firstKid);
    expect(await jwtKid()).toBe(firstKid); // still cached
    // The server still knows its old authority after a restart (from the journal).
    await server.restart();
    expect(JSON.parse((await authority('jwt', 'show')).stdout).old.authority_id).toBe(old);
    const tainted = await authority('jwt', 'taint', '-authorityID', old);
    expect(tainted.code, tainted.stderr).toBe(0);
    await waitFor('a JWT-SVID signed by the new key', async () => ((await jwtKid()) !== firstKid ? true : undefined), { timeoutMs: 10_000 });
    const revoked = await authority('jwt', 'revoke', '-authorityID', old);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect((await bundle()).jwt_authorities.map((a) => a.key_id)).not.toContain(old);
  }, 60_000);
});

describe('localauthority revoke as soon as the workloads moved to the new CA', () => {
  // The agent's own SVID moves in the same sync as the workload SVIDs, not
  // one sync later: an operator who revokes the old CA as soon as the
  // workloads moved does not leave the agent presenting an SVID the server
  // no longer trusts (a join_token agent could never sync again). A 4 s sync
  // interval makes "one sync later" longer than the CLI calls here.
  let tmp: { path: string; cleanup: () => Promise<void> };
  let server: ServerHandle;
  let agent: AgentHandle;

  beforeAll(async () => {
    tmp = await makeTempDir('herald-taint-fast-');
    ({ server, agent } = await topology(tmp.path, '4s'));
  }, 60_000);
  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
    await tmp?.cleanup();
  });

  it('the agent keeps syncing, and sees the smaller bundle', async () => {
    const before = await fetchX509(agent);
    const { old } = await rotateAuthority(server, 'x509');
    expect((await authorityCli(server, 'x509', 'taint', '-authorityID', old)).code).toBe(0);
    await waitFor('a workload SVID from the new CA', async () => ((await fetchX509(agent)).leaf.serialNumber !== before.leaf.serialNumber ? true : undefined), { timeoutMs: 20_000 });
    const revoked = await authorityCli(server, 'x509', 'revoke', '-authorityID', old);
    expect(revoked.code, revoked.stderr).toBe(0);
    const remaining = (await bundleOf(server)).x509_authorities.reduce((n, a) => n + a.asn1.length, 0);
    await waitFor('the agent bundle without the revoked CA', async () => ((await fetchX509(agent)).bundleDer.length === remaining ? true : undefined), { timeoutMs: 20_000 });
  }, 90_000);
});
