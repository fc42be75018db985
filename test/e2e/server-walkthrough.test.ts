// Seed 003's walkthrough with the real binaries: run, healthcheck, token
// generate, entry create, an agent attests with the token, a workload
// fetches its SVID (herald-agent CLI, go-spiffe, py-spiffe, java-spiffe) and openssl
// verifies it against `bundle show`. Then restarts keep the CA and the
// agent's identity, and bad input is refused.
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateToken, ROOT, startAgent, startServer, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { goInteropPath, javaInteropArgs, pythonPath } from '../../demo/lib/tools.ts';
import { runCommand } from '../helpers/process.ts';
import { makeTempDir } from '../helpers/tmp.ts';

const uid = process.getuid!();

describe('herald-server walkthrough (seed 003)', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let server: ServerHandle;
  let agent: AgentHandle;
  let token: string;
  let bundlePem: string;

  beforeAll(async () => {
    tmp = await makeTempDir('herald-walk-');
    server = await startServer({ dir: tmp.path });
  });

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
    await tmp?.cleanup();
  });

  it('healthcheck says the server is healthy', async () => {
    const res = await server.cli('healthcheck');
    expect(res.stdout).toBe('Server is healthy.\n');
    expect(res.code).toBe(0);
  });

  it('token generate prints a token and creates the node alias entry', async () => {
    token = await generateToken(server, 'spiffe://example.org/myagent');
    expect(token).toMatch(/^[0-9a-f-]{36}$/);
    const show = await server.cli('entry', 'show', '-spiffeID', 'spiffe://example.org/myagent');
    expect(show.stdout).toContain(`Parent ID        : spiffe://example.org/spire/agent/join_token/${token}`);
    expect(show.stdout).toContain(`Selector         : spiffe_id:spiffe://example.org/spire/agent/join_token/${token}`);
  });

  it('entry create prints the entry as SPIRE 1.13 does', async () => {
    const res = await server.cli('entry', 'create', '-parentID', 'spiffe://example.org/myagent', '-spiffeID', 'spiffe://example.org/myservice', '-selector', `unix:uid:${uid}`);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(
      new RegExp(
        `^Entry ID         : [0-9a-f-]{36}\nSPIFFE ID        : spiffe://example\\.org/myservice\nParent ID        : spiffe://example\\.org/myagent\nRevision         : 0\nX509-SVID TTL    : default\nJWT-SVID TTL     : default\nSelector         : unix:uid:${uid}\n\n$`,
      ),
    );
  });

  it('an agent attests with the token and a workload gets its SVID, which openssl verifies against bundle show', async () => {
    agent = await startAgent({ dir: tmp.path, server, joinToken: token });
    await agent.proc.waitForOutput('Node attestation was successful');
    const out = join(tmp.path, 'out');
    const fetch = await agent.cli('api', 'fetch', 'x509', '-write', out);
    expect(fetch.code, fetch.stderr).toBe(0);
    expect(fetch.stdout).toMatch(/^Received 1 svid after [\d.]+ms\n\nSPIFFE ID:\t\tspiffe:\/\/example\.org\/myservice\n/);
    for (const f of ['svid.0.pem', 'svid.0.key', 'bundle.0.pem']) expect(existsSync(join(out, f))).toBe(true);
    const show = await server.cli('bundle', 'show');
    bundlePem = show.stdout;
    await writeFile(join(tmp.path, 'bundle-show.pem'), bundlePem);
    const verify = await runCommand('openssl', ['verify', '-CAfile', join(tmp.path, 'bundle-show.pem'), join(out, 'svid.0.pem')]);
    expect(verify.stdout.trim()).toBe(`${join(out, 'svid.0.pem')}: OK`);
    const leaf = new X509Certificate(await readFile(join(out, 'svid.0.pem')));
    expect(leaf.subjectAltName).toBe('URI:spiffe://example.org/myservice');
    expect(leaf.checkPrivateKey((await import('node:crypto')).createPrivateKey(await readFile(join(out, 'svid.0.key'))))).toBe(true);
  });

  it('honours output masks on ListEntries (only the asked fields, the ID always)', async () => {
    const { callUnary, udsClient } = await import('../../src/cli/grpc-client.ts');
    const { Services } = await import('../../src/common/grpc/protos.ts');
    const c = udsClient(Services.entry, server.socketPath);
    try {
      const res = await callUnary<{ entries: { id: string; spiffe_id: { path: string } | null; selectors: unknown[]; parent_id: unknown }[] }>(c, 'ListEntries', { output_mask: { spiffe_id: true } });
      const e = res.entries.find((x) => x.spiffe_id?.path === '/myservice')!;
      expect(e.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(e.selectors).toEqual([]);
      expect(e.parent_id).toBeNull();
      const full = await callUnary<{ entries: { selectors: unknown[] }[] }>(c, 'ListEntries', {});
      expect(full.entries.every((x) => x.selectors.length > 0)).toBe(true);
    } finally {
      c.close();
    }
  });

  it('honours output masks on bundle reads, and an input mask on a federated bundle update', async () => {
    const { callUnary, udsClient } = await import('../../src/cli/grpc-client.ts');
    const { Services } = await import('../../src/common/grpc/protos.ts');
    type Wire = { trust_domain: string; x509_authorities: { asn1: Buffer }[]; jwt_authorities: unknown[]; refresh_hint: string; sequence_number: string };
    const c = udsClient(Services.bundle, server.socketPath);
    try {
      const own = await callUnary<Wire>(c, 'GetBundle', { output_mask: { refresh_hint: true } });
      expect(own.trust_domain).toBe('example.org');
      expect(own.x509_authorities).toEqual([]);
      expect(own.jwt_authorities).toEqual([]);
      expect(own.refresh_hint).not.toBe('0');
      const full = await callUnary<Wire>(c, 'GetBundle', {});
      expect(full.x509_authorities.length).toBeGreaterThan(0);

      // A federated bundle (this domain's roots under another name), then a refresh-hint-only update.
      const fed = { ...full, trust_domain: 'other.example', jwt_authorities: [], refresh_hint: '60', sequence_number: '1' };
      const created = await callUnary<{ results: { status: { code: number }; bundle: Wire }[] }>(c, 'BatchCreateFederatedBundle', { bundle: [fed], output_mask: { sequence_number: true } });
      expect(created.results[0]!.status.code).toBe(0);
      expect(created.results[0]!.bundle.x509_authorities).toEqual([]);
      expect(created.results[0]!.bundle.sequence_number).toBe('1');
      const updated = await callUnary<{ results: { status: { code: number }; bundle: Wire }[] }>(c, 'BatchUpdateFederatedBundle', {
        bundle: [{ trust_domain: 'other.example', x509_authorities: [], jwt_authorities: [], refresh_hint: '120', sequence_number: '0' }],
        input_mask: { refresh_hint: true },
      });
      expect(updated.results[0]!.status.code).toBe(0);
      const got = await callUnary<Wire>(c, 'GetFederatedBundle', { trust_domain: 'other.example' });
      expect(got.refresh_hint).toBe('120');
      expect(got.x509_authorities.map((a) => a.asn1.toString('hex'))).toEqual(full.x509_authorities.map((a) => a.asn1.toString('hex')));
      await callUnary(c, 'BatchDeleteFederatedBundle', { trust_domains: ['other.example'] });
    } finally {
      c.close();
    }
  });

  it('agent list shows the attested agent', async () => {
    const res = await server.cli('agent', 'list');
    expect(res.stdout).toMatch(/^Found 1 attested agent:\n\n/);
    expect(res.stdout).toContain(`SPIFFE ID         : spiffe://example.org/spire/agent/join_token/${token}`);
    expect(res.stdout).toContain('Attestation type  : join_token');
    expect(res.stdout).toMatch(/Expiration time   : \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} \S+\n/);
  });

  it('go-spiffe, py-spiffe and java-spiffe clients fetch and validate SVIDs from the agent socket', async () => {
    const env = { ...process.env, SPIFFE_ENDPOINT_SOCKET: `unix://${agent.socketPath}` };
    const goX509 = JSON.parse((await runCommand(goInteropPath(), ['x509'], { env })).stdout);
    expect(goX509.verified_id).toBe('spiffe://example.org/myservice');
    const goJwt = JSON.parse((await runCommand(goInteropPath(), ['jwt', 'walkthrough'], { env })).stdout);
    expect(goJwt).toMatchObject({ id: 'spiffe://example.org/myservice', local_id: 'spiffe://example.org/myservice', remote_id: 'spiffe://example.org/myservice', wrong_aud_fail: true });
    const pyX509 = JSON.parse((await runCommand(pythonPath(), [join(ROOT, 'test/interop/py/client.py'), 'x509'], { env })).stdout);
    expect(pyX509).toMatchObject({ verified: true, bundles: ['example.org'] });
    expect(pyX509.svids[0].id).toBe('spiffe://example.org/myservice');
    const pyJwt = JSON.parse((await runCommand(pythonPath(), [join(ROOT, 'test/interop/py/client.py'), 'jwt', 'walkthrough'], { env })).stdout);
    expect(pyJwt).toMatchObject({ id: 'spiffe://example.org/myservice', remote_id: 'spiffe://example.org/myservice', wrong_aud_fail: true });
    // java-spiffe (grpc-java sends the socket path as :authority): X509Source and JwtSource.
    const javaEnv = { ...env, SPIFFE_ENDPOINT_SOCKET: `unix:${agent.socketPath}` };
    const javaX509Res = await runCommand('java', [...javaInteropArgs(), 'x509'], { env: javaEnv, timeoutMs: 90_000 });
    const javaX509 = JSON.parse(javaX509Res.stdout || '{}');
    expect(javaX509.error, javaX509Res.stderr.slice(-2000)).toBeUndefined();
    expect(javaX509).toMatchObject({ verified_id: 'spiffe://example.org/myservice', bundles: ['example.org'] });
    expect(javaX509.svids[0].id).toBe('spiffe://example.org/myservice');
    const javaJwtRes = await runCommand('java', [...javaInteropArgs(), 'jwt', 'walkthrough'], { env: javaEnv, timeoutMs: 90_000 });
    const javaJwt = JSON.parse(javaJwtRes.stdout || '{}');
    expect(javaJwt.error, javaJwtRes.stderr.slice(-2000)).toBeUndefined();
    expect(javaJwt).toMatchObject({ id: 'spiffe://example.org/myservice', local_id: 'spiffe://example.org/myservice', remote_id: 'spiffe://example.org/myservice', wrong_aud_fail: true });
  }, 300_000);

  it('a used join token is refused, naming why', async () => {
    const second = await runCommand(join(ROOT, 'bin/herald-agent'), [
      'run', '-config', join(tmp.path, 'agent.yaml'), '-dataDir', join(tmp.path, 'second-data'), '-socketPath', join(tmp.path, 'second.sock'), '-joinToken', token,
      // As SPIRE's, the agent would retry a refused token for a minute (only PERMISSION_DENIED stops it at once).
      '-retryBootstrap=false',
    ], { cwd: tmp.path, timeoutMs: 30_000 });
    expect(second.code).toBe(1);
    expect(second.stderr).toContain('failed to attest with join_token: failed to attest: join token does not exist or has already been used');
  });

  it('restarting the server keeps the CA; restarting the agent re-uses its SVID without a token', async () => {
    await server.restart();
    expect((await server.cli('bundle', 'show')).stdout).toBe(bundlePem);
    await agent.restart();
    await agent.proc.waitForOutput('Using the stored agent SVID');
    const fetch = await agent.cli('api', 'fetch', 'x509');
    expect(fetch.stdout).toContain('spiffe://example.org/myservice');
  });

  it('bad entries are refused with the rule they broke', async () => {
    const foreign = await server.cli('entry', 'create', '-parentID', 'spiffe://example.org/myagent', '-spiffeID', 'spiffe://other.org/x', '-selector', 'unix:uid:1');
    expect(foreign.code).toBe(1);
    // SPIRE's (code: …, msg: %q) quotes the status message.
    expect(foreign.stderr).toContain('(code: InvalidArgument, msg: "invalid spiffe ID: \\"spiffe://other.org/x\\" is not a member of trust domain \\"example.org\\"")');
    const dup = await server.cli('entry', 'create', '-parentID', 'spiffe://example.org/myagent', '-spiffeID', 'spiffe://example.org/myservice', '-selector', `unix:uid:${uid}`);
    expect(dup.stderr).toContain('similar entry already exists');
    const badSel = await server.cli('entry', 'create', '-parentID', 'spiffe://example.org/myagent', '-spiffeID', 'spiffe://example.org/y', '-selector', 'nocolon');
    expect(badSel.code).toBe(1);
    expect(badSel.stderr).toBe('Error: selector "nocolon" must be formatted as type:value\n');
    const count = await server.cli('entry', 'count');
    expect(count.stdout).toBe('2 registration entries\n');
  });

  it('x509 mint writes an SVID that openssl verifies against the bundle', async () => {
    const dir = join(tmp.path, 'mint');
    const res = await server.cli('x509', 'mint', '-spiffeID', 'spiffe://example.org/minted', '-ttl', '10m', '-write', dir);
    expect(res.code, res.stderr).toBe(0);
    const verify = await runCommand('openssl', ['verify', '-CAfile', join(dir, 'bundle.pem'), join(dir, 'svid.pem')]);
    expect(verify.stdout.trim()).toBe(`${join(dir, 'svid.pem')}: OK`);
    const jwt = await server.cli('jwt', 'mint', '-spiffeID', 'spiffe://example.org/minted', '-audience', 'aud1');
    const claims = JSON.parse(Buffer.from(jwt.stdout.trim().split('.')[1]!, 'base64url').toString());
    expect(claims).toMatchObject({ sub: 'spiffe://example.org/minted', aud: ['aud1'] });
  });
});
