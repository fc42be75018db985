// The ext_authz Check decoder against the generic one (the grpc loader's
// protobufjs decoder it replaces): on generated CheckRequests, with every
// field Envoy sends (addresses, labels, time, metadata, TLS, raw body …),
// the fields Check reads come out the same; malformed bytes are refused
// with a CheckRequest error, never another exception.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCheckRequest, type CheckRequest } from '../../../../src/agent/endpoints/authz/check-request.ts';
import { Services, protobufTypes, serviceDefinition } from '../../../../src/common/grpc/protos.ts';
import { fuzzParams } from '../../../fuzz/fuzz-params.ts';

const type = protobufTypes('authz').lookupType('envoy.service.auth.v3.CheckRequest');
const encode = (req: object): Buffer => Buffer.from(type.encode(type.fromObject(req)).finish());
const generic = serviceDefinition(Services.authorization).Check!.requestDeserialize as (b: Buffer) => CheckRequest;

/** What Check reads, with the generic decoder's defaults for absent fields. */
function used(r: CheckRequest) {
  const a = r.attributes;
  const http = a?.request?.http;
  return {
    principal: a?.source?.principal ?? '',
    method: http?.method ?? '',
    path: http?.path ?? '',
    host: http?.host ?? '',
    headers: { ...(http?.headers ?? {}) },
    ext: { ...(a?.context_extensions ?? {}) },
  };
}

const text = fc.string({ unit: 'grapheme', maxLength: 40 });
const map = fc.dictionary(fc.string({ minLength: 0, maxLength: 12 }), text, { maxKeys: 6 });
const peer = fc.record(
  {
    address: fc.record({ socket_address: fc.record({ address: fc.constantFrom('127.0.0.1', '::1'), port_value: fc.nat(65535) }) }),
    service: text,
    labels: map,
    principal: text,
    certificate: text,
  },
  { requiredKeys: [] },
);
const httpRequest = fc.record(
  {
    id: text,
    method: fc.constantFrom('GET', 'POST', 'DELETE', ''),
    headers: map,
    path: text,
    host: text,
    scheme: fc.constantFrom('http', 'https'),
    query: text,
    size: fc.nat(),
    protocol: fc.constantFrom('HTTP/1.1', 'HTTP/2'),
    body: text,
    raw_body: fc.uint8Array({ maxLength: 32 }),
  },
  { requiredKeys: [] },
);
const checkRequest = fc.record(
  {
    attributes: fc.record(
      {
        source: peer,
        destination: peer,
        request: fc.record({ time: fc.record({ seconds: fc.nat(), nanos: fc.nat(999_999_999) }), http: httpRequest }, { requiredKeys: [] }),
        context_extensions: map,
        metadata_context: fc.record({ filter_metadata: fc.dictionary(fc.string({ maxLength: 8 }), fc.record({ fields: fc.dictionary(fc.string({ maxLength: 8 }), fc.record({ string_value: text }), { maxKeys: 3 }) }), { maxKeys: 2 }) }),
        tls_session: fc.record({ sni: text }),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
);

describe('ext_authz CheckRequest decoder', () => {
  it('reads what Check uses exactly as the generic decoder does, skipping every other field', () => {
    fc.assert(
      fc.property(checkRequest, (req) => {
        const bytes = encode(req);
        expect(used(decodeCheckRequest(bytes))).toEqual(used(generic(bytes)));
      }),
      fuzzParams(300),
    );
  });

  it('an Envoy-shaped request: principal, method, path, host, headers and extensions', () => {
    const bytes = encode({
      attributes: {
        source: { address: { socket_address: { address: '127.0.0.1', port_value: 4242 } }, principal: 'spiffe://web.example/frontend' },
        request: { time: { seconds: 1 }, http: { id: '7', method: 'GET', path: '/x?y', host: 'echo', headers: { authorization: 'Bearer a.b.c', ':authority': 'echo', 'x-dup': '1' } } },
        context_extensions: { herald_mode: 'validate', audience: 'echo' },
      },
    });
    expect(decodeCheckRequest(bytes)).toEqual({
      attributes: {
        source: { principal: 'spiffe://web.example/frontend' },
        request: { http: { method: 'GET', path: '/x?y', host: 'echo', headers: { authorization: 'Bearer a.b.c', ':authority': 'echo', 'x-dup': '1' } } },
        context_extensions: { herald_mode: 'validate', audience: 'echo' },
      },
    });
    expect(decodeCheckRequest(Buffer.alloc(0))).toEqual({});
    // Map keys are own entries, whatever their name.
    const odd = decodeCheckRequest(encode({ attributes: { request: { http: { headers: { ['__proto__']: 'p', constructor: 'c' } } } } }));
    expect(Object.entries(odd.attributes!.request!.http!.headers!)).toEqual([['__proto__', 'p'], ['constructor', 'c']]);
  });

  it('refuses truncated and random bytes with a CheckRequest error, nothing else', () => {
    const refusedOrDecoded = (bytes: Buffer): void => {
      try {
        decodeCheckRequest(bytes);
      } catch (err) {
        expect(err).toBeInstanceOf(Error);
        expect((err as Error).message).toMatch(/^CheckRequest: /);
      }
    };
    fc.assert(
      fc.property(checkRequest, fc.nat(), (req, cut) => {
        const bytes = encode(req);
        if (bytes.length > 0) refusedOrDecoded(bytes.subarray(0, cut % bytes.length));
      }),
      fuzzParams(300),
    );
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (b) => refusedOrDecoded(Buffer.from(b))), fuzzParams(300));
    // A length that runs past the end; a group wire type.
    expect(() => decodeCheckRequest(Buffer.from([0x0a, 0x05, 0x0a]))).toThrow('CheckRequest: length beyond the end of the message');
    expect(() => decodeCheckRequest(Buffer.from([0x0b]))).toThrow('CheckRequest: unexpected wire type 3');
  });
});
