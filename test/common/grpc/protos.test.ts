import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import { describe, expect, it } from 'vitest';
import { renderProtoDescriptors } from '../../../scripts/gen-proto-descriptors.ts';
import { DESCRIPTOR_DIR, groups, LOADER_OPTIONS, protobufTypes, serviceDefinition, Services, type Group } from '../../../src/common/grpc/protos.ts';

const root = join(import.meta.dirname, '../../..');

/**
 * What grpc-js needs: services' methods (paths, streaming, message types) and
 * every message type. Not google.protobuf.*Options, whose extension fields
 * (Envoy's annotations, never on the wire) come in either order.
 */
function shape(def: protoLoader.PackageDefinition) {
  return Object.fromEntries(
    Object.entries(def).filter(([name]) => !/^google\.protobuf\.\w+Options$/.test(name)).map(([name, d]) => [
      name,
      'format' in d
        ? { type: d.type }
        : Object.fromEntries(Object.entries(d).map(([m, md]) => [m, { path: md.path, req: md.requestStream, res: md.responseStream, in: md.requestType.type, out: md.responseType.type }])),
    ]),
  );
}

describe(DESCRIPTOR_DIR, () => {
  it('is generated from the .proto files and up to date (node scripts/gen-proto-descriptors.ts)', () => {
    const expected = renderProtoDescriptors();
    expect(Object.keys(expected).sort()).toEqual(Object.keys(groups).map((g) => `${DESCRIPTOR_DIR}/${g}.json`).sort());
    for (const [rel, content] of Object.entries(expected)) expect(readFileSync(join(root, rel), 'utf8'), rel).toBe(content);
  });

  it.each(Object.keys(groups) as Group[])('gives grpc-js the same definitions as parsing the .proto files: %s', (group) => {
    const parsed = protoLoader.loadSync([...groups[group]], LOADER_OPTIONS);
    const fromJson = protoLoader.fromJSON(JSON.parse(readFileSync(join(root, DESCRIPTOR_DIR, `${group}.json`), 'utf8')), LOADER_OPTIONS);
    expect(shape(fromJson)).toEqual(shape(parsed));
  });

  it('serves the services and message types the code looks up', () => {
    expect(Object.keys(serviceDefinition(Services.health))).toEqual(['Check', 'Watch']);
    expect(serviceDefinition(Services.entry).BatchCreateEntry!.path).toBe('/spire.api.server.entry.v1.Entry/BatchCreateEntry');
    expect(protobufTypes('sds').lookupType('envoy.extensions.transport_sockets.tls.v3.Secret').fields).toHaveProperty('tls_certificate');
  });
});
