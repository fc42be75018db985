// The server agent API's AttestAgent against a real herald-server over TLS:
// fuzzed attestation payloads for join_token, x509pop and k8s_psat (the
// latter reviewed by a real kube-apiserver), fuzzed CSRs, challenge
// responses, attestor types, and raw bytes that are not the message. Every
// call ends with a status that is not a server fault (as the Workload API
// fuzzing: never UNKNOWN, DATA_LOSS or an INTERNAL from a handler), the
// server keeps running, and an agent still attests and syncs afterwards.
// The attestation rate limit is off (it would answer RESOURCE_EXHAUSTED to
// nearly every call from one source); server-rate-limit.test.ts covers it.
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { protobufTypes } from '../../src/common/grpc/protos.ts';
import { createCsr } from '../../src/spiffe/csr.ts';
import { generateToken, startAgent, startServer, type ServerHandle } from '../helpers/herald.ts';
import { startKubeApiserver, type KubeApiserver } from '../helpers/kube-apiserver.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { makePopCert } from '../helpers/x509pop.ts';
import { isCleanEnd, rawBidi } from './agent-fixture.ts';
import { fuzzParams, mutatedBytes, mutatedText } from './fuzz-params.ts';

const TD = 'example.org';
const METHOD = '/spire.api.server.agent.v1.Agent/AttestAgent';
const Req = protobufTypes('spiffe').lookupType('spire.api.server.agent.v1.AttestAgentRequest');
const encode = (value: object): Buffer => Buffer.from(Req.encode(Req.fromObject(value)).finish());
const JSON_SPECIALS = ['"', '{', '}', '[', ']', ',', ':', '\\u0000', '\\', 'null', '1e999', '-', '""', '[]', '{}', 'A', '='];

describe('fuzz: server agent API AttestAgent (real server, real kube-apiserver)', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let k8s: KubeApiserver;
  let server: ServerHandle;
  let client: grpc.Client;
  const seeds: { joinToken: string[]; x509pop: string[]; k8sPsat: string[]; csr: Buffer[] } = { joinToken: [], x509pop: [], k8sPsat: [], csr: [] };

  beforeAll(async () => {
    tmp = await makeTempDir('herald-fuzz-agentapi-');
    k8s = await startKubeApiserver();
    await k8s.createNode('node-1');
    await k8s.createPod({ namespace: 'spire', name: 'agent-pod', serviceAccount: 'spire-agent', nodeName: 'node-1', status: { hostIP: '127.0.0.1' } });
    makePopCert(tmp.path, 'node-ca', { ca: true });
    makePopCert(tmp.path, 'node', { issuer: 'node-ca' });
    server = await startServer({
      dir: tmp.path,
      trustDomain: TD,
      logLevel: 'INFO',
      x509popCaBundle: join(tmp.path, 'node-ca.pem'),
      extraNodeAttestors: `k8s_psat: { plugin_data: { clusters: { mycluster: { service_account_allow_list: ["spire:spire-agent"], kube_config_file: ${k8s.kubeconfigPath} } } } }`,
      extraServer: '  ratelimit: { attestation: false }\n',
    });
    const bundle = (await server.cli('bundle', 'show')).stdout;
    // The server's SVID names no host: only the chain is checked here (the agent checks its SPIFFE ID).
    client = new grpc.Client(`127.0.0.1:${server.port}`, grpc.credentials.createSsl(Buffer.from(bundle), null, null, { checkServerIdentity: () => undefined }));

    // Seeds that get past the first checks: real tokens, a real node certificate chain, a real PSAT, a real CSR.
    seeds.joinToken.push(await generateToken(server), await generateToken(server), 'not-a-token', '00000000-0000-0000-0000-000000000000');
    const der = (f: string) => Buffer.from(readFileSync(join(tmp.path, f), 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64').toString('base64');
    seeds.x509pop.push(JSON.stringify({ certificates: [der('node.pem'), der('node-ca.pem')] }), JSON.stringify({ certificates: [der('node.pem')] }));
    const psat = await k8s.createToken('spire', 'spire-agent', { audience: 'spire-server', podName: 'agent-pod' });
    // Refusals to reach: a token for another audience (TokenReview says no) and one for a service account not allowed.
    await k8s.ensureServiceAccount('spire', 'intruder');
    const wrongAudience = await k8s.createToken('spire', 'spire-agent', { audience: 'not-spire-server', podName: 'agent-pod' });
    const notAllowed = await k8s.createToken('spire', 'intruder', { audience: 'spire-server' });
    seeds.k8sPsat.push(...[psat, psat, wrongAudience, notAllowed].map((token, i) => JSON.stringify({ cluster: i === 1 ? 'other' : 'mycluster', token })));
    seeds.csr.push(createCsr(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey));
  }, 180_000);

  afterAll(async () => {
    client?.close();
    await server?.stop();
    await k8s?.stop();
    await tmp?.cleanup();
  });

  it('fuzzed attestation payloads, CSRs, challenge responses and raw bytes end with a clean status', async () => {
    const payloads = {
      join_token: () => fc.oneof(fc.constantFrom(...seeds.joinToken), mutatedText(seeds.joinToken, ['-', '\u0000', ' ', 'é']), fc.string({ maxLength: 64 })),
      x509pop: () => fc.oneof(fc.constantFrom(...seeds.x509pop), mutatedText(seeds.x509pop, JSON_SPECIALS)),
      k8s_psat: () => fc.oneof(fc.constantFrom(...seeds.k8sPsat), mutatedText(seeds.k8sPsat, [...JSON_SPECIALS, '.'])),
    };
    // A CSR is parsed before the attestor runs, so most calls carry a valid one
    // and a known attestor type: 7-13 % of the runs then reach an attestor's
    // refusal (PERMISSION_DENIED; 1.5-2.5 % before, and one CI run of 200 saw none).
    const csr = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...seeds.csr) }, { weight: 1, arbitrary: mutatedBytes(seeds.csr) }, { weight: 1, arbitrary: fc.constant(Buffer.alloc(0)) });
    const attestation = fc.oneof(
      {
        weight: 3,
        arbitrary: fc.constantFrom('join_token', 'x509pop', 'k8s_psat').chain((type) =>
          fc.record({ type: fc.constant(type), payload: payloads[type as keyof typeof payloads]().map((p) => Buffer.from(p)) }),
        ),
      },
      { weight: 1, arbitrary: fc.record({ type: fc.oneof(fc.constantFrom('', 'aws_iid', 'JOIN_TOKEN', 'join_token\u0000'), fc.string({ maxLength: 16 })), payload: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)) }) },
    );
    const challenge = fc.oneof(
      fc.constant(undefined),
      mutatedText(['{"x509pop": {"signature": {"signature": "AAAA"}}}', '{"signature": "MEUCIQ=="}'], JSON_SPECIALS).map((t) => encode({ challenge_response: Buffer.from(t) })),
      fc.uint8Array({ maxLength: 32 }).map((a) => encode({ challenge_response: Buffer.from(a) })),
    );
    const first = fc.oneof(
      { weight: 4, arbitrary: fc.tuple(attestation, csr).map(([data, c]) => encode({ params: { data, params: { csr: c } } })) },
      { weight: 1, arbitrary: mutatedBytes([encode({ params: { data: { type: 'join_token', payload: Buffer.from('x') }, params: { csr: seeds.csr[0]! } } })]) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)) },
    );
    const statuses = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(first, challenge, async (msg, reply) => {
        const end = await rawBidi(client, METHOD, reply ? [msg, reply] : [msg], new grpc.Metadata());
        const key = grpc.status[end.code]!;
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
        expect(isCleanEnd(end), `AttestAgent ended with ${key} (${end.details}) for ${msg.toString('hex')}${reply ? ` then ${reply.toString('hex')}` : ''}`).toBe(true);
        expect(server.proc.child.exitCode, `herald-server exited:\n${server.proc.output().slice(-2000)}`).toBeNull();
      }),
      fuzzParams(200),
    );
    console.log(`AttestAgent fuzz statuses: ${JSON.stringify(Object.fromEntries(statuses))}`);
    // The run reached the attestors (refusals), not only the decoder.
    expect(statuses.get('PERMISSION_DENIED') ?? 0).toBeGreaterThan(0);
    expect(statuses.get('INVALID_ARGUMENT') ?? 0).toBeGreaterThan(0);
  }, 600_000);

  it('still attests a real agent afterwards', async () => {
    const r = await server.cli('entry', 'create', '-parentID', `spiffe://${TD}/after`, '-spiffeID', `spiffe://${TD}/w`, '-selector', `unix:uid:${process.getuid!()}`);
    expect(r.code, r.stderr).toBe(0);
    const agent = await startAgent({ dir: tmp.path, server, name: 'after', joinToken: await generateToken(server, `spiffe://${TD}/after`), logLevel: 'INFO' });
    try {
      const fetched = await agent.cli('api', 'fetch', 'x509');
      expect(fetched.code, fetched.stderr).toBe(0);
      expect(fetched.stdout).toContain(`spiffe://${TD}/w`);
    } finally {
      await agent.stop();
    }
  }, 120_000);
});
