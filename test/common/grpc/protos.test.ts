import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { renderProtoDescriptors } from '../../../scripts/gen-proto-descriptors.ts';
import { decodeMessage, DESCRIPTOR_DIR, encodeAny, groups, LOADER_OPTIONS, lookedUpTypes, parseProtoGroup, protobufTypes, serviceDefinition, serviceDefinitions, Services, type Group } from '../../../src/common/grpc/protos.ts';

const root = join(import.meta.dirname, '../../..');

/** What grpc-js reads of each service: its methods' paths, streaming and names. */
function shape(def: Record<string, object>) {
  return Object.fromEntries(
    Object.entries(def)
      .filter(([, d]) => !('format' in d))
      .map(([name, d]) => [name, Object.fromEntries(Object.entries(d as grpc.ServiceDefinition).map(([m, md]) => [m, { path: md.path, req: md.requestStream, res: md.responseStream, name: md.originalName }]))]),
  );
}

describe(DESCRIPTOR_DIR, () => {
  it('is generated from the .proto files and up to date (node scripts/gen-proto-descriptors.ts)', () => {
    const expected = renderProtoDescriptors();
    expect(Object.keys(expected).sort()).toEqual(Object.keys(groups).map((g) => `${DESCRIPTOR_DIR}/${g}.json`).sort());
    for (const [rel, content] of Object.entries(expected)) expect(readFileSync(join(root, rel), 'utf8'), rel).toBe(content);
  });

  it.each(Object.keys(groups) as Group[])('gives grpc-js the services proto-loader makes of the .proto files: %s', (group) => {
    const parsed = protoLoader.loadSync([...groups[group]], LOADER_OPTIONS);
    // As the binaries build them: from the descriptor, types left unresolved until used.
    const ours = serviceDefinitions(protobuf.Root.fromJSON(JSON.parse(readFileSync(join(root, DESCRIPTOR_DIR, `${group}.json`), 'utf8')) as protobuf.INamespace));
    expect(Object.keys(ours).length).toBeGreaterThan(0);
    expect(shape(ours)).toEqual(shape(parsed));
  });

  it('encodes and decodes messages as proto-loader does', () => {
    const parsed = protoLoader.loadSync([...groups.spiffe], LOADER_OPTIONS)['spire.api.server.entry.v1.Entry'] as protoLoader.ServiceDefinition;
    const ours = serviceDefinition(Services.entry);
    const req = { entries: [{ spiffe_id: { trust_domain: 'example.org', path: '/w' }, selectors: [{ type: 'unix', value: 'uid:1' }], x509_svid_ttl: 3600, revision_number: '18446744073709551615', hint: 'h' }] };
    const bytes = ours.BatchCreateEntry!.requestSerialize(req);
    expect(bytes).toEqual(parsed.BatchCreateEntry!.requestSerialize(req));
    expect(ours.BatchCreateEntry!.requestDeserialize(bytes)).toEqual(parsed.BatchCreateEntry!.requestDeserialize(bytes));
    const res = { results: [{ status: { code: 6, message: 'similar entry already exists' }, entry: { id: 'x', created_at: '1700000000' } }] };
    const resBytes = parsed.BatchCreateEntry!.responseSerialize(res);
    expect(ours.BatchCreateEntry!.responseDeserialize(resBytes)).toEqual(parsed.BatchCreateEntry!.responseDeserialize(resBytes));
  });

  it('encodes an Envoy secret as google.protobuf.Any, and decodes it back, with types resolved on first use', () => {
    const secret = { name: 'spiffe://example.org/w', tls_certificate: { certificate_chain: { inline_bytes: Buffer.from('chain') }, private_key: { inline_bytes: Buffer.from('key') } } };
    const any = encodeAny('envoy.extensions.transport_sockets.tls.v3.Secret', secret);
    expect(any.type_url).toBe('type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret');
    expect(decodeMessage('envoy.extensions.transport_sockets.tls.v3.Secret', any.value)).toMatchObject(secret);
    const full = protobufTypes('sds').lookupType('envoy.extensions.transport_sockets.tls.v3.Secret');
    expect(Buffer.from(full.encode(full.fromObject(secret)).finish())).toEqual(any.value);
  });

  it.each(Object.keys(groups) as Group[])('holds every type its services and lookedUpTypes reach, all resolvable, and no other: %s', (group) => {
    const r = protobufTypes(group);
    for (const name of lookedUpTypes[group] ?? []) expect(r.lookupType(name).fullName).toBe(`.${name}`);
    // Unreached Envoy types are gone (the sds files define ~220, of which ~50 are used).
    const full = parseProtoGroup(group);
    const count = (ns: protobuf.NamespaceBase): number => ns.nestedArray.reduce((n, o) => n + (o instanceof protobuf.Type || o instanceof protobuf.Enum ? 1 : 0) + (o instanceof protobuf.Namespace ? count(o) : 0), 0);
    expect(count(r)).toBeLessThanOrEqual(count(full));
    if (group === 'sds' || group === 'authz') expect(count(r)).toBeLessThan(count(full) / 2);
  });

  it('encodes the SPIFFE certificate validator config the SDS handler sends', () => {
    const any = encodeAny('envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig', { trust_domains: [{ name: 'example.org', trust_bundle: { inline_bytes: Buffer.from('pem') } }] });
    expect(decodeMessage('envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig', any.value)).toMatchObject({ trust_domains: [{ name: 'example.org' }] });
  });

  it('serves the services and message types the code looks up', () => {
    expect(Object.keys(serviceDefinition(Services.health))).toEqual(['Check', 'Watch']);
    expect(serviceDefinition(Services.entry).BatchCreateEntry!.path).toBe('/spire.api.server.entry.v1.Entry/BatchCreateEntry');
    expect(protobufTypes('sds').lookupType('envoy.extensions.transport_sockets.tls.v3.Secret').fields).toHaveProperty('tls_certificate');
  });
});
