// Envoy's ext_authz Check against a real herald-agent's authz socket:
// fuzzed requests (authorization headers around real and mutated
// JWT-SVIDs, peer principals, paths, context extensions selecting the
// inject and peer modes) and raw bytes that are not a CheckRequest. Every
// call ends with a status that is not a server fault; a decision is one of
// OK, PERMISSION_DENIED, UNAUTHENTICATED; a token whose three parts do not
// decode to the real token's bytes is never allowed; the agent keeps
// serving afterwards.
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearerToken } from '../../src/agent/endpoints/authz/check.ts';
import { protobufTypes } from '../../src/common/grpc/protos.ts';
import { generateToken, startAgent, startServer, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { isCleanEnd, rawClient } from './agent-fixture.ts';
import { fuzzParams, mutatedBytes, mutatedText } from './fuzz-params.ts';

const TD = 'example.org';
const ME = `spiffe://${TD}/fuzzer`;
const METHOD = '/envoy.service.auth.v3.Authorization/Check';
const types = protobufTypes('authz');
const CheckRequest = types.lookupType('envoy.service.auth.v3.CheckRequest');
const CheckResponse = types.lookupType('envoy.service.auth.v3.CheckResponse');
const encode = (value: object): Buffer => Buffer.from(CheckRequest.encode(CheckRequest.fromObject(value)).finish());
const GRPC_DECISIONS = new Set([grpc.status.OK, grpc.status.PERMISSION_DENIED, grpc.status.UNAUTHENTICATED]);

/** One unary Check: how it ended and, when answered, the decision's code. */
function callCheck(client: grpc.Client, body: Buffer): Promise<{ code: grpc.status; details: string; decision?: number }> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(METHOD, (b: Buffer) => b, (b: Buffer) => b, body, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err, res?: Buffer) => {
      if (err) return resolve({ code: err.code, details: err.details });
      const decoded = CheckResponse.toObject(CheckResponse.decode(res!), { defaults: true }) as { status?: { code?: number } };
      resolve({ code: grpc.status.OK, details: '', decision: decoded.status?.code ?? 0 });
    });
  });
}

describe('fuzz: ext_authz Check (real agent)', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let server: ServerHandle;
  let agent: AgentHandle;
  let client: grpc.Client;
  let token: string;

  beforeAll(async () => {
    tmp = await makeTempDir('herald-fuzz-authz-');
    server = await startServer({ dir: tmp.path, trustDomain: TD, logLevel: 'INFO' });
    const r = await server.cli('entry', 'create', '-parentID', `spiffe://${TD}/node`, '-spiffeID', ME, '-selector', `unix:uid:${process.getuid!()}`);
    expect(r.code, r.stderr).toBe(0);
    const socket = join(tmp.path, 'authz.sock');
    agent = await startAgent({
      dir: tmp.path, server, joinToken: await generateToken(server, `spiffe://${TD}/node`), logLevel: 'INFO',
      extraAgent: `  authz:\n    enabled: true\n    audiences: [echo]\n    socket_path: ${socket}\n`,
    });
    // A real JWT-SVID for the audience the endpoint accepts: the seed the mutations start from.
    for (let i = 0; i < 50 && !token; i++) {
      const fetched = await agent.cli('api', 'fetch', 'jwt', '-audience', 'echo');
      token = /^\s*(eyJ[\w-]+\.[\w-]+\.[\w-]+)\s*$/m.exec(fetched.stdout)?.[1] ?? '';
      if (!token) await new Promise((res) => setTimeout(res, 200));
    }
    expect(token).not.toBe('');
    client = rawClient(socket);
  }, 120_000);

  afterAll(async () => {
    client?.close();
    await agent?.stop();
    await server?.stop();
    await tmp?.cleanup();
  });

  it('fuzzed requests and raw bytes end with a clean status; only the real token is allowed', async () => {
    // The same header, payload and signature bytes (base64url spelled another way, e.g. unused trailing bits, is the same token).
    const parts = (t: string) => t.split('.').map((p) => Buffer.from(p, 'base64url').toString('hex'));
    const sameToken = (t: string | undefined): boolean => t !== undefined && parts(t).length === 3 && parts(t).join('.') === parts(token).join('.');
    const mutatedToken = mutatedText([token], ['.', '-', '_', '=', 'A', ' ', ',', '\u0000']);
    const authorization = fc.oneof(
      fc.constant(`Bearer ${token}`),
      mutatedToken.map((t) => `Bearer ${t}`),
      mutatedText([`Bearer ${token}`, `bearer ${token}, Bearer ${token}`], [' ', ',', '\t', 'Basic ']),
      fc.string({ maxLength: 40 }),
      fc.constant(`Bearer ${'A'.repeat(17 * 1024)}`),
    );
    const text = fc.oneof(fc.constantFrom('', ME, 'spiffe://other.org/x', 'spiffe://', '/hello', 'echo', 'inject', 'peer'), fc.string({ maxLength: 24 }));
    const request = fc.record(
      {
        headers: fc.dictionary(fc.oneof(fc.constantFrom('authorization', ':authority', 'x-spiffe-id'), fc.string({ maxLength: 12 })), text, { maxKeys: 3 }),
        authorization: fc.option(authorization),
        principal: text,
        path: text,
        mode: fc.constantFrom(undefined, 'inject', 'peer', 'other'),
        audience: fc.option(fc.oneof(fc.constantFrom('echo', 'db', 'echo, db', ','), fc.string({ maxLength: 12 }))),
      },
      { requiredKeys: ['headers', 'principal', 'path'] },
    ).map((r) => ({
      allowedToken: sameToken(r.authorization ? bearerToken(r.authorization) : undefined),
      mode: r.mode,
      body: encode({
        attributes: {
          source: { principal: r.principal },
          request: { http: { method: 'GET', path: r.path, host: 'echo.local', headers: { ...r.headers, ...(r.authorization === null || r.authorization === undefined ? {} : { authorization: r.authorization }) } } },
          context_extensions: { ...(r.mode ? { herald_mode: r.mode } : {}), ...(r.audience === null || r.audience === undefined ? {} : { audience: r.audience }) },
        },
      }),
    }));
    const seed = encode({ attributes: { request: { http: { method: 'GET', path: '/', headers: { authorization: `Bearer ${token}` } } } } });
    const input = fc.oneof(
      { weight: 4, arbitrary: request },
      { weight: 1, arbitrary: mutatedBytes([seed]).map((body) => ({ body, allowedToken: false, mode: 'raw' as string | undefined })) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((a) => ({ body: Buffer.from(a), allowedToken: false, mode: 'raw' as string | undefined })) },
    );
    const decisions = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(input, async ({ body, allowedToken, mode }) => {
        const end = await callCheck(client, body);
        const key = end.decision === undefined ? grpc.status[end.code]! : `decision ${grpc.status[end.decision] ?? end.decision}`;
        decisions.set(key, (decisions.get(key) ?? 0) + 1);
        const what = `Check ${body.toString('hex')}`;
        expect(isCleanEnd(end), `${what} ended with ${grpc.status[end.code]} (${end.details})`).toBe(true);
        if (end.decision !== undefined) expect(GRPC_DECISIONS.has(end.decision), `${what}: decision ${end.decision}`).toBe(true);
        // Allowed: the real token, or modes that do not read the header (inject: the agent's own token; peer: the policy).
        if (end.decision === grpc.status.OK && mode !== 'inject' && mode !== 'peer' && mode !== 'raw') expect(allowedToken, `${what} was allowed`).toBe(true);
        expect(agent.proc.child.exitCode, `herald-agent exited:\n${agent.proc.output().slice(-2000)}`).toBeNull();
      }),
      fuzzParams(300),
    );
    console.log(`ext_authz Check fuzz outcomes: ${JSON.stringify(Object.fromEntries(decisions))}`);
    expect(decisions.get('decision UNAUTHENTICATED') ?? 0).toBeGreaterThan(0);
    expect(decisions.get('decision OK') ?? 0).toBeGreaterThan(0);
  }, 300_000);

  it('still allows the real token afterwards', async () => {
    const end = await callCheck(client, encode({ attributes: { request: { http: { method: 'GET', path: '/', headers: { authorization: `Bearer ${token}` } } } } }));
    expect(end).toMatchObject({ code: grpc.status.OK, decision: grpc.status.OK });
  });
});
