// Loads Herald's vendored protos once and hands out service definitions and
// client constructors. keepCase keeps field names as in the .proto files
// (snake_case), so what the code reads matches what SPIRE's docs say.
// The .proto files are parsed ahead of time into JSON descriptors
// (proto/descriptors/, `node scripts/gen-proto-descriptors.ts`; a test
// checks they are current): parsing them at start-up cost 10–40 ms per group.
// Service definitions are built here rather than by @grpc/proto-loader, which
// also encodes reflection descriptors of every file and message (~100 ms of a
// server's start) that grpc-js never reads; a test checks both agree.
import * as grpc from '@grpc/grpc-js';
import type * as protoLoader from '@grpc/proto-loader';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import type { WireClient, WireClientConstructor } from '../wire/types.ts';

const protoRoot = join(import.meta.dirname, '../../../proto');
export const DESCRIPTOR_DIR = 'proto/descriptors';

const includeDirs = [join(protoRoot, 'spiffe'), join(protoRoot, 'envoy'), protoRoot];

// Loaded in groups, on first use: the Envoy APIs cost ~15 MB each in
// memory, and the server never needs them.
export const groups = {
  // Alone, so that a `healthcheck` CLI call loads nothing else.
  health: ['grpc/health/v1/health.proto'],
  spiffe: [
    'workload.proto',
    'spire/api/server/agent/v1/agent.proto',
    'spire/api/server/svid/v1/svid.proto',
    'spire/api/server/entry/v1/entry.proto',
    'spire/api/server/bundle/v1/bundle.proto',
    'spire/api/server/trustdomain/v1/trustdomain.proto',
    'spire/api/server/localauthority/v1/localauthority.proto',
  ],
  sds: [
    'envoy/service/secret/v3/sds.proto',
    'envoy/extensions/transport_sockets/tls/v3/secret.proto',
    'envoy/extensions/transport_sockets/tls/v3/tls_spiffe_validator_config.proto',
  ],
  authz: ['envoy/service/auth/v3/external_auth.proto'],
} as const;
export type Group = keyof typeof groups;

/**
 * Message types the code looks up by name (encodeAny) beyond those of the
 * group's services. A group's descriptor holds only the types these and the
 * services reach (scripts/gen-proto-descriptors.ts): Envoy's files define
 * ~200 types where SDS uses ~50, and building them all cost an agent's start
 * ~20 ms.
 */
export const lookedUpTypes: { readonly [G in Group]?: readonly string[] } = {
  sds: ['envoy.extensions.transport_sockets.tls.v3.Secret', 'envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig'],
};
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  // uint64/int64 as strings: bundle sequence numbers exceed 2^53.
  longs: String,
  enums: String,
  bytes: Buffer,
  defaults: true,
  arrays: true,
  objects: true,
  oneofs: true,
  includeDirs,
};

const loaded = new Map<Group, grpc.GrpcObject>();

function grpcObject(group: Group): grpc.GrpcObject {
  let obj = loaded.get(group);
  if (!obj) {
    obj = grpc.loadPackageDefinition(serviceDefinitions(typesOf(group)));
    loaded.set(group, obj);
  }
  return obj;
}

function groupOf(service: string): Group {
  if (service.startsWith('envoy.service.secret.')) return 'sds';
  if (service.startsWith('envoy.service.auth.')) return 'authz';
  if (service.startsWith('grpc.health.')) return 'health';
  return 'spiffe';
}

function lookup(path: string): grpc.ServiceClientConstructor {
  let node: unknown = grpcObject(groupOf(path));
  for (const part of path.split('.')) node = (node as Record<string, unknown>)[part];
  if (typeof node !== 'function' || !('service' in node)) throw new Error(`protos: no service ${path}`);
  return node as grpc.ServiceClientConstructor;
}

/** Fully-qualified service names Herald serves. */
export const Services = {
  workload: 'SpiffeWorkloadAPI',
  agent: 'spire.api.server.agent.v1.Agent',
  svid: 'spire.api.server.svid.v1.SVID',
  entry: 'spire.api.server.entry.v1.Entry',
  bundle: 'spire.api.server.bundle.v1.Bundle',
  trustDomain: 'spire.api.server.trustdomain.v1.TrustDomain',
  localAuthority: 'spire.api.server.localauthority.v1.LocalAuthority',
  sds: 'envoy.service.secret.v3.SecretDiscoveryService',
  authorization: 'envoy.service.auth.v3.Authorization',
  health: 'grpc.health.v1.Health',
} as const;
export type ServiceName = (typeof Services)[keyof typeof Services];

export function serviceDefinition(name: ServiceName): grpc.ServiceDefinition {
  return lookup(name).service;
}

/**
 * `name`'s definition, whose handlers may also send a response already
 * serialized (a Buffer, from `responseSerializer`): a message that goes to
 * many streams is then encoded once, not once per stream.
 */
export function serviceDefinitionAcceptingBytes(name: ServiceName): grpc.ServiceDefinition {
  return Object.fromEntries(
    Object.entries(serviceDefinition(name)).map(([method, d]) => [
      method,
      { ...d, responseSerialize: (v: unknown) => (Buffer.isBuffer(v) ? v : d.responseSerialize(v)) },
    ]),
  );
}

/** The encoder of `method`'s response message. */
export function responseSerializer(name: ServiceName, method: string): (value: object) => Buffer {
  const d = serviceDefinition(name)[method];
  if (!d) throw new Error(`protos: no method ${name}/${method}`);
  return (v) => d.responseSerialize(v);
}

/** The client constructor of `name`, typed with the generated client (wire/types.ts). */
export function serviceClient<N extends ServiceName>(name: N): WireClientConstructor<WireClient<N>> {
  // The loader builds the constructor at run time; the generated types say what its clients are.
  return lookup(name) as WireClientConstructor<grpc.Client> as WireClientConstructor<WireClient<N>>;
}

const roots = new Map<Group, protobuf.Root>();
const resolved = new Set<Group>();

/**
 * A group's types, resolved only as far as they are used: a message type
 * resolves its fields on its first encode or decode. Resolving all of them
 * up front (the Envoy groups hold hundreds) cost an agent's start ~50 ms.
 */
function typesOf(group: Group): protobuf.Root {
  let r = roots.get(group);
  if (!r) {
    r = protobuf.Root.fromJSON(descriptor(group));
    roots.set(group, r);
  }
  return r;
}

/**
 * protobufjs types of a group (keepCase), every field resolved, for what
 * grpc's loader does not do: protojson as SPIRE's CLI prints it.
 */
export function protobufTypes(group: Group): protobuf.Root {
  const r = typesOf(group);
  if (!resolved.has(group)) {
    r.resolveAll();
    resolved.add(group);
  }
  return r;
}

/** Every service of `root` by full name, as proto-loader defines them with LOADER_OPTIONS (less its reflection data). */
export function serviceDefinitions(root: protobuf.Root): Record<string, grpc.ServiceDefinition> {
  const defs: Record<string, grpc.ServiceDefinition> = {};
  const walk = (ns: protobuf.NamespaceBase, prefix: string): void => {
    for (const obj of ns.nestedArray) {
      const name = prefix + obj.name;
      if (obj instanceof protobuf.Service) {
        obj.resolveAll(); // its methods' message types, not theirs
        defs[name] = serviceDefinitionOf(obj, name);
      }
      else if (obj instanceof protobuf.Namespace) walk(obj, `${name}.`);
    }
  };
  walk(root, '');
  return defs;
}

function serviceDefinitionOf(service: protobuf.Service, name: string): grpc.ServiceDefinition {
  // protobufjs's writer makes Buffers under Node: no copy.
  const serialize = (type: protobuf.Type) => (value: object) => type.encode(type.fromObject(value)).finish() as Buffer;
  const deserialize = (type: protobuf.Type) => (bytes: Buffer) => type.toObject(type.decode(bytes), LOADER_OPTIONS);
  return Object.fromEntries(
    service.methodsArray.map((m) => [
      m.name,
      {
        path: `/${name}/${m.name}`,
        requestStream: !!m.requestStream,
        responseStream: !!m.responseStream,
        requestSerialize: serialize(m.resolvedRequestType!),
        requestDeserialize: deserialize(m.resolvedRequestType!),
        responseSerialize: serialize(m.resolvedResponseType!),
        responseDeserialize: deserialize(m.resolvedResponseType!),
        originalName: lowerCamelCase(m.name),
      },
    ]),
  );
}

/** lodash's camelCase, as proto-loader names methods: FetchJWTSVID → fetchJwtsvid, FetchX509SVID → fetchX509Svid. */
function lowerCamelCase(name: string): string {
  const words = name.match(/[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+/g) ?? [name];
  return words.map((w, i) => (i === 0 ? w.toLowerCase() : w[0]!.toUpperCase() + w.slice(1).toLowerCase())).join('');
}

/** A group's pre-parsed descriptor (protobufjs JSON), as the generator wrote it. */
function descriptor(group: Group): protobuf.INamespace {
  return JSON.parse(readFileSync(join(protoRoot, '..', DESCRIPTOR_DIR, `${group}.json`), 'utf8')) as protobuf.INamespace;
}

/** Parses a group's .proto files (keepCase): what the descriptors are generated from. */
export function parseProtoGroup(group: Group): protobuf.Root {
  const r = new protobuf.Root();
  r.resolvePath = (_origin, target) => {
    for (const dir of includeDirs) {
      const candidate = join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return target;
  };
  r.loadSync([...groups[group]], { keepCase: true });
  r.resolveAll();
  return r;
}

/** Encodes `value` (keepCase object) as google.protobuf.Any of message type `typeName`. */
export function encodeAny(typeName: string, value: object): { type_url: string; value: Buffer } {
  const type = typesOf('sds').lookupType(typeName);
  // fromObject first: it turns enum names into numbers, which verify() wants.
  const message = type.fromObject(value);
  const problem = type.verify(message);
  if (problem) throw new Error(`protos: ${typeName}: ${problem}`);
  return { type_url: `type.googleapis.com/${typeName}`, value: Buffer.from(type.encode(message).finish()) };
}

/** Decodes google.protobuf.Any bytes of `typeName` into a keepCase object. */
export function decodeMessage(typeName: string, bytes: Uint8Array): Record<string, unknown> {
  const type = typesOf('sds').lookupType(typeName);
  return type.toObject(type.decode(bytes), { longs: String, enums: String, bytes: Buffer, defaults: false, oneofs: true }) as Record<string, unknown>;
}
