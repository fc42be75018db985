// herald-oidc, SPIRE's oidc-discovery-provider shape, checked by an
// independent relying party: PyJWT's PyJWKClient fetches the discovery
// document and the JWKS over HTTPS and validates JWT-SVIDs whose iss the
// server sets from jwt_issuer. A JWT key rotation shows the new key before
// it signs; after taint and revoke the old key is gone and only new tokens
// validate. Keys from an agent's Workload API and from the server's admin
// socket; the serving certificate is reloaded from its files.
import { X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { connect } from 'node:tls';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pythonPath } from '../../demo/lib/tools.ts';
import { ROOT, generateToken, startAgent, startServer, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { freePorts } from '../helpers/ports.ts';
import { runCommand, startProcess, type RunningProcess } from '../helpers/process.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';

const OIDC_BIN = join(ROOT, 'bin/herald-oidc');
const VALIDATE = join(import.meta.dirname, 'fixtures/oidc_validate.py');
const ID = 'spiffe://example.org/workload/uploader';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

describe('herald-oidc with PyJWT as the relying party', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let server: ServerHandle;
  let agent: AgentHandle;
  let oidc: RunningProcess;
  let oidcPort: number;
  let apiPort: number;
  let issuer: string;
  let caFile: string;

  const cert = (name: string) => runCommand('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', `/CN=${name}`, '-addext', 'subjectAltName=DNS:localhost', '-keyout', join(tmp.path, `${name}.key`), '-out', join(tmp.path, `${name}.pem`)]);

  const get = (port: number, path: string, headers: Record<string, string> = {}): Promise<Reply> =>
    new Promise((resolve, reject) => {
      readFile(caFile).then((ca) => {
        const req = request({ host: '127.0.0.1', port, path, servername: 'localhost', ca, headers: { host: `localhost:${port}`, ...headers } }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
        });
        req.on('error', reject);
        req.end();
      }, reject);
    });
  const kids = async (port = oidcPort): Promise<string[]> => (JSON.parse((await get(port, '/keys')).body).keys as { kid: string }[]).map((k) => k.kid).sort();

  let audiences = 0;
  /** A fresh audience each time: the agent caches JWT-SVIDs per audience. */
  const jwtSvid = async (): Promise<{ token: string; kid: string; audience: string }> => {
    const audience = `sts.example/${++audiences}`;
    const r = await agent.cli('api', 'fetch', 'jwt', '-audience', audience, '-output', 'json');
    expect(r.code, r.stderr).toBe(0);
    const token: string = JSON.parse(r.stdout)[0].svids[0].svid;
    return { token, kid: JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()).kid, audience };
  };
  const validate = async (t: { token: string; audience: string }, iss = issuer) => {
    const r = await runCommand(pythonPath(), [VALIDATE, iss, caFile, t.audience, t.token], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as { ok: boolean; sub?: string; iss?: string; kid?: string; error?: string; doc: Record<string, unknown> };
  };
  const authority = async (what: string, ...args: string[]) => {
    const r = await server.cli('localauthority', 'jwt', what, ...args, '-output', 'json');
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout);
  };
  const startOidc = async (name: string, body: string): Promise<RunningProcess> => {
    const path = join(tmp.path, `${name}.conf`);
    await writeFile(path, body);
    const p = startProcess(OIDC_BIN, ['run', '-config', path], { cwd: tmp.path });
    await p.waitForOutput('Serving OIDC discovery', 30_000);
    return p;
  };

  beforeAll(async () => {
    tmp = await makeTempDir('herald-oidc-');
    [oidcPort, apiPort] = await freePorts(2);
    issuer = `https://localhost:${oidcPort}`;
    expect((await cert('serving')).code).toBe(0);
    caFile = join(tmp.path, 'serving.pem');
    server = await startServer({ dir: tmp.path, extraServer: `  jwt_issuer: ${issuer}\n` });
    const token = await generateToken(server, 'spiffe://example.org/node');
    expect((await server.cli('entry', 'create', '-parentID', 'spiffe://example.org/node', '-spiffeID', ID, '-selector', `unix:uid:${process.getuid!()}`)).code).toBe(0);
    agent = await startAgent({ dir: tmp.path, server, joinToken: token, syncInterval: '500ms' });
    await waitFor('a JWT-SVID', () => jwtSvid().catch(() => undefined), { timeoutMs: 30_000 });
    // As SPIRE's oidc-discovery-provider.conf, in HCL.
    oidc = await startOidc(
      'oidc-discovery-provider',
      `log_level = "DEBUG"
domains = ["localhost"]
jwt_issuer = "${issuer}"
serving_cert_file {
  cert_file_path = "serving.pem"
  key_file_path = "serving.key"
  addr = "127.0.0.1:${oidcPort}"
  file_sync_interval = "200ms"
}
workload_api {
  socket_path = "${agent.socketPath}"
  trust_domain = "example.org"
}
`,
    );
  }, 120_000);

  afterAll(async () => {
    await oidc?.stop();
    await agent?.stop();
    await server?.stop();
    await tmp?.cleanup();
  });

  it('serves SPIRE\'s discovery document for its domains only', async () => {
    const r = await get(oidcPort, '/.well-known/openid-configuration');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({
      issuer,
      jwks_uri: `${issuer}/keys`,
      authorization_endpoint: '',
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256', 'ES256', 'ES384'],
    });
    const other = await get(oidcPort, '/.well-known/openid-configuration', { host: 'evil.example' });
    expect(other.status).toBe(400);
    expect(other.body).toContain('domain "evil.example" is not allowed');
  });

  it('PyJWKClient validates a JWT-SVID whose iss is the provider\'s issuer', async () => {
    const t = await jwtSvid();
    const v = await validate(t);
    expect(v).toMatchObject({ ok: true, sub: ID, iss: issuer, kid: t.kid });
    // A relying party expecting another issuer refuses it.
    const wrongIss = await runCommand(pythonPath(), ['-c', `import jwt,sys; jwt.decode(sys.argv[1], options={"verify_signature": False, "verify_iss": True}, issuer="https://other.example")`, t.token]);
    expect(wrongIss.code).not.toBe(0);
    expect(wrongIss.stderr).toContain('Invalid issuer');
  });

  it('lets caches keep the JWKS and revalidate it (ETag, Last-Modified, 304)', async () => {
    const r = await get(oidcPort, '/keys');
    expect(r.headers['cache-control']).toBe('no-cache, must-revalidate');
    expect(r.headers.etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    expect(Date.parse(String(r.headers['last-modified']))).not.toBeNaN();
    const again = await get(oidcPort, '/keys', { 'if-none-match': String(r.headers.etag) });
    expect(again.status).toBe(304);
    expect(again.body).toBe('');
    const keys = JSON.parse(r.body).keys as Record<string, string>[];
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys) expect(Object.keys(k).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'x', 'y']);
  });

  it('follows a JWT key rotation: the new key is published before it signs; after taint and revoke the old key is gone', async () => {
    const old = (await authority('show')).active.authority_id as string;
    const before = await jwtSvid();
    expect(before.kid).toBe(old);
    const prepared = (await authority('prepare')).prepared_authority.authority_id as string;
    await waitFor('the prepared key in the JWKS', async () => (await kids()).includes(prepared));
    expect(await kids()).toEqual([old, prepared].sort());
    // Published, not signing yet.
    expect((await jwtSvid()).kid).toBe(old);

    await authority('activate', '-authorityID', prepared);
    const fresh = await waitFor('a JWT-SVID signed by the new key', async () => {
      const t = await jwtSvid();
      return t.kid === prepared ? t : undefined;
    });
    expect(await validate(fresh)).toMatchObject({ ok: true, sub: ID, kid: prepared });
    expect((await validate(before)).ok).toBe(true);

    await authority('taint', '-authorityID', old);
    await authority('revoke', '-authorityID', old);
    await waitFor('the revoked key gone from the JWKS', async () => JSON.stringify(await kids()) === JSON.stringify([prepared]));
    const refused = await validate(before);
    expect(refused.ok).toBe(false);
    expect(refused.error).toContain('PyJWKClientError: Unable to find a signing key that matches');
    expect(await validate(await jwtSvid())).toMatchObject({ ok: true, kid: prepared });
  }, 90_000);

  it('serves the same keys from the server\'s admin socket (server_api)', async () => {
    const p = await startOidc(
      'server-api',
      `domains = ["localhost"]
jwt_issuer = "https://localhost:${apiPort}"
serving_cert_file {
  cert_file_path = "serving.pem"
  key_file_path = "serving.key"
  addr = "127.0.0.1:${apiPort}"
}
server_api {
  address = "unix://${server.socketPath}"
  poll_interval = "200ms"
}
`,
    );
    try {
      await waitFor('keys from the server API', async () => (await get(apiPort, '/keys')).status === 200);
      expect(await kids(apiPort)).toEqual(await kids());
      // The token's iss is the server's jwt_issuer, not this provider's: PyJWT refuses it.
      const v = await validate(await jwtSvid(), `https://localhost:${apiPort}`);
      expect(v.ok).toBe(false);
      expect(v.error).toContain('InvalidIssuerError');
    } finally {
      await p.stop();
    }
  });

  it('reloads the serving certificate from its files', async () => {
    const presented = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port: oidcPort, servername: 'localhost', rejectUnauthorized: false }, () => {
          resolve(s.getPeerX509Certificate()!.fingerprint256);
          s.end();
        });
        s.on('error', reject);
      });
    expect((await cert('renewed')).code).toBe(0);
    const renewed = new X509Certificate(await readFile(join(tmp.path, 'renewed.pem')));
    expect(await presented()).not.toBe(renewed.fingerprint256);
    // Key first, then certificate: in between the pair does not match and the old one stays.
    await writeFile(join(tmp.path, 'serving.key'), await readFile(join(tmp.path, 'renewed.key')));
    await writeFile(join(tmp.path, 'serving.pem'), await readFile(join(tmp.path, 'renewed.pem')));
    await waitFor('the renewed certificate', async () => (await presented()) === renewed.fingerprint256);
  });

  it('refuses configs SPIRE users could write but Herald cannot serve, naming the key', async () => {
    const check = async (body: string) => {
      const path = join(tmp.path, 'bad.conf');
      await writeFile(path, body);
      return runCommand(OIDC_BIN, ['validate', '-config', path], { cwd: tmp.path });
    };
    const acme = await check(`domains = ["localhost"]\nacme { email = "a@b.c" tos_accepted = true }\nworkload_api { socket_path = "/x" trust_domain = "example.org" }\n`);
    expect(acme.code).toBe(1);
    expect(acme.stderr).toContain('acme');
    expect(acme.stderr).toContain('ACME is not implemented by herald-oidc; use serving_cert_file');
    const two = await check(`domains = ["localhost"]\ninsecure_addr = "127.0.0.1:1"\nworkload_api { socket_path = "/x" trust_domain = "example.org" }\nserver_api { address = "unix:///y" }\n`);
    expect(two.code).toBe(1);
    expect(two.stderr).toContain('exactly one of server_api or workload_api must be configured, found server_api and workload_api');
  });

  it("takes SPIRE's command line (`-config FILE`, no subcommand) as `run`", async () => {
    const path = join(tmp.path, 'spire-args.conf');
    await writeFile(path, `domains = ["localhost"]\nacme { email = "a@b.c" tos_accepted = true }\nworkload_api { socket_path = "/x" trust_domain = "example.org" }\n`);
    const r = await runCommand(OIDC_BIN, ['-config', path], { cwd: tmp.path });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ACME is not implemented by herald-oidc; use serving_cert_file');
  });
});
