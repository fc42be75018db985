// Workload API requests against a real herald-agent: well-formed messages
// with fuzzed fields (audiences, requested SPIFFE IDs, tokens to validate),
// raw bytes that are not the method's message, and fuzzed security headers.
// Every call ends with a status that is not a server fault (never INTERNAL
// or UNKNOWN but gRPC's own answer to undecodable bytes), and the agent keeps serving a well-formed request after the run.
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { protobufTypes } from '../../src/common/grpc/protos.ts';
import { ME, isCleanEnd, rawClient, rawServerStream, rawUnary, startFuzzAgent, workloadMetadata, type CallEnd, type FuzzAgent } from './agent-fixture.ts';
import { fuzzParams, mutatedBytes } from './fuzz-params.ts';

const types = protobufTypes('spiffe');
const encode = (type: string, value: object): Buffer => {
  const t = types.lookupType(type);
  return Buffer.from(t.encode(t.fromObject(value)).finish());
};

const METHODS = {
  FetchX509SVID: { request: 'X509SVIDRequest', streaming: true },
  FetchX509Bundles: { request: 'X509BundlesRequest', streaming: true },
  FetchJWTBundles: { request: 'JWTBundlesRequest', streaming: true },
  FetchJWTSVID: { request: 'JWTSVIDRequest', streaming: false },
  ValidateJWTSVID: { request: 'ValidateJWTSVIDRequest', streaming: false },
} as const;
type Method = keyof typeof METHODS;

const text = fc.oneof(fc.constantFrom('', 'db', ME, `${ME}/x`, 'spiffe://other.org/x', 'spiffe://example.org', 'eyJhbGciOiJub25lIn0.e30.', 'a.b.c'), fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 20 }));
const fields: Record<Method, fc.Arbitrary<object>> = {
  FetchX509SVID: fc.constant({}),
  FetchX509Bundles: fc.constant({}),
  FetchJWTBundles: fc.constant({}),
  FetchJWTSVID: fc.record({ audience: fc.array(text, { maxLength: 4 }), spiffe_id: text }, { requiredKeys: [] }),
  ValidateJWTSVID: fc.record({ audience: text, svid: text }, { requiredKeys: [] }),
};

const header = fc.oneof(
  fc.constant<[string, string] | undefined>(['workload.spiffe.io', 'true']),
  fc.constant<[string, string] | undefined>(undefined),
  fc.tuple(fc.constant('workload.spiffe.io'), fc.constantFrom('false', 'TRUE', '', ' true', '1')).map((h): [string, string] => h),
);

describe('fuzz: Workload API requests (real agent)', () => {
  let f: FuzzAgent;
  let client: grpc.Client;

  beforeAll(async () => {
    f = await startFuzzAgent('herald-fuzz-wl-');
    client = rawClient(f.agent.socketPath);
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await f?.stop();
  });

  const call = (method: Method, body: Buffer, md: grpc.Metadata): Promise<CallEnd> => {
    const path = `/SpiffeWorkloadAPI/${method}`;
    return METHODS[method].streaming ? rawServerStream(client, path, body, md) : rawUnary(client, path, body, md);
  };

  it('fuzzed fields, raw bytes and headers end with a clean status', async () => {
    const seeds = [encode('JWTSVIDRequest', { audience: ['db'], spiffe_id: ME }), encode('ValidateJWTSVIDRequest', { audience: 'db', svid: 'a.b.c' })];
    const statuses = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...(Object.keys(METHODS) as Method[])).chain((m) =>
          fc.tuple(fc.constant(m), fc.oneof(fields[m].map((v) => encode(METHODS[m].request, v)), mutatedBytes(seeds), fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)))),
        ),
        header,
        async ([method, body], h) => {
          const md = new grpc.Metadata();
          if (h) md.set(h[0], h[1]);
          const end = await call(method, body, md);
          const key = `${method} ${grpc.status[end.code]}`;
          statuses.set(key, (statuses.get(key) ?? 0) + 1);
          expect(isCleanEnd(end), `${method} ended with ${grpc.status[end.code]} (${end.details}) for ${body.toString('hex')}`).toBe(true);
        },
      ),
      fuzzParams(300),
    );
    // The run reached past the header check and attestation, and some calls succeeded.
    expect([...statuses.keys()].some((k) => k.endsWith(' OK'))).toBe(true);
    expect([...statuses.keys()].some((k) => k.endsWith(' INVALID_ARGUMENT'))).toBe(true);
  }, 300_000);

  it('still serves a well-formed request afterwards', async () => {
    expect((await call('FetchX509SVID', Buffer.alloc(0), workloadMetadata())).code).toBe(grpc.status.OK);
    expect((await call('FetchJWTSVID', encode('JWTSVIDRequest', { audience: ['db'] }), workloadMetadata())).code).toBe(grpc.status.OK);
  });
});
