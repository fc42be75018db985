// xDS requests against a real herald-agent's SDS (StreamSecrets,
// FetchSecrets, DeltaSecrets): fuzzed resource names, type URLs, nonces,
// versions, node metadata and NACK details, sequences of them on one stream,
// and raw bytes. Every call ends with a clean status (never a handler's
// INTERNAL or UNKNOWN), and the agent serves Envoy's first request after the run.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECRET_TYPE_URL } from '../../src/agent/endpoints/sds/secrets.ts';
import { protobufTypes } from '../../src/common/grpc/protos.ts';
import { ME, TD, isCleanEnd, rawBidi, rawClient, rawUnary, startFuzzAgent, type FuzzAgent } from './agent-fixture.ts';
import { fuzzParams, mutatedBytes } from './fuzz-params.ts';

const SERVICE = '/envoy.service.secret.v3.SecretDiscoveryService';
const types = protobufTypes('sds');
const encode = (type: string, value: object): Buffer => {
  const t = types.lookupType(type);
  return Buffer.from(t.encode(t.fromObject(value)).finish());
};
const ENVOY_REQUEST = JSON.parse(readFileSync(join(import.meta.dirname, 'corpus/envoy-sds-request.json'), 'utf8')) as Record<string, unknown>;

const resourceName = fc.oneof(
  fc.constantFrom('default', 'ROOTCA', 'ALL', ME, `spiffe://${TD}`, TD, 'spiffe://other.org', 'spiffe://example.org/someone-else', 'file-cert:/etc/passwd~/etc/shadow', 'file-root:/etc/ssl', '', '*', 'spiffe://', 'spiffe://EXAMPLE.org'),
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 10 }),
);
const typeUrl = fc.oneof(fc.constantFrom(SECRET_TYPE_URL, '', 'type.googleapis.com/envoy.config.cluster.v3.Cluster', `${SECRET_TYPE_URL}x`), fc.string({ maxLength: 20 }));
const nonce = fc.oneof(fc.constantFrom('', '1', 'abc'), fc.string({ maxLength: 12 }));
const structValue = fc.oneof(fc.record({ bool_value: fc.boolean() }), fc.record({ string_value: fc.string({ maxLength: 8 }) }), fc.record({ number_value: fc.double({ noNaN: true }) }));
const node = fc.option(
  fc.record(
    {
      id: fc.string({ maxLength: 10 }),
      cluster: fc.string({ maxLength: 10 }),
      metadata: fc.record({ fields: fc.dictionary(fc.oneof(fc.constant('disable_spiffe_cert_validation'), fc.string({ maxLength: 8 })), structValue, { maxKeys: 3 }) }),
      user_agent_name: fc.string({ maxLength: 8 }),
    },
    { requiredKeys: [] },
  ),
  { nil: undefined },
);
const errorDetail = fc.option(fc.record({ code: fc.integer({ min: -5, max: 20 }), message: fc.string({ maxLength: 20 }) }), { nil: undefined });
const discoveryRequest = fc
  .record({ version_info: nonce, node, resource_names: fc.array(resourceName, { maxLength: 4 }), type_url: typeUrl, response_nonce: nonce, error_detail: errorDetail })
  .map((r) => encode('envoy.service.discovery.v3.DiscoveryRequest', r));
const deltaRequest = fc
  .record({
    node,
    type_url: typeUrl,
    resource_names_subscribe: fc.array(resourceName, { maxLength: 4 }),
    resource_names_unsubscribe: fc.array(resourceName, { maxLength: 2 }),
    initial_resource_versions: fc.dictionary(resourceName, nonce, { maxKeys: 2 }),
    response_nonce: nonce,
    error_detail: errorDetail,
  })
  .map((r) => encode('envoy.service.discovery.v3.DeltaDiscoveryRequest', r));

describe('fuzz: xDS requests to SDS (real agent)', () => {
  let f: FuzzAgent;
  let client: grpc.Client;
  let seed: Buffer;

  beforeAll(async () => {
    f = await startFuzzAgent('herald-fuzz-sds-');
    client = rawClient(f.agent.socketPath);
    seed = encode('envoy.service.discovery.v3.DiscoveryRequest', { ...ENVOY_REQUEST, resource_names: [ME, 'ROOTCA'] });
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await f?.stop();
  });

  const message = (fuzzed: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> =>
    fc.oneof({ weight: 4, arbitrary: fuzzed }, { weight: 1, arbitrary: fc.constant(Buffer.alloc(0)).chain(() => mutatedBytes([seed])) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 48 }).map((a) => Buffer.from(a)) });

  it('StreamSecrets, FetchSecrets and DeltaSecrets end cleanly for any request sequence', async () => {
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.tuple(fc.constant('StreamSecrets'), fc.array(message(discoveryRequest), { minLength: 1, maxLength: 3 })),
          fc.tuple(fc.constant('DeltaSecrets'), fc.array(message(deltaRequest), { minLength: 1, maxLength: 3 })),
          fc.tuple(fc.constant('FetchSecrets'), message(discoveryRequest).map((m) => [m])),
        ),
        async ([method, messages]) => {
          const path = `${SERVICE}/${method}`;
          const end = method === 'FetchSecrets' ? await rawUnary(client, path, messages[0]!, new grpc.Metadata()) : await rawBidi(client, path, messages, new grpc.Metadata());
          const key = `${method} ${grpc.status[end.code]}`;
          seen.set(key, (seen.get(key) ?? 0) + 1);
          expect(isCleanEnd(end), `${method} ended with ${grpc.status[end.code]} (${end.details}) for ${messages.map((m) => m.toString('hex')).join(', ')}`).toBe(true);
        },
      ),
      fuzzParams(300),
    );
    expect([...seen.keys()].some((k) => k.endsWith(' INVALID_ARGUMENT'))).toBe(true);
    console.log(`SDS fuzz: ${JSON.stringify(Object.fromEntries(seen))}`);
    expect(seen.get('FetchSecrets OK') ?? 0).toBeGreaterThan(0);
  }, 300_000);

  it("serves Envoy's first request after the run", async () => {
    const end = await rawUnary(client, `${SERVICE}/FetchSecrets`, seed, new grpc.Metadata());
    expect(end.code, end.details).toBe(grpc.status.OK);
  });
});
