// The wire types shared by server, agent and CLI, named once: aliases of the
// types proto-loader-gen-types generates from the vendored protos into
// proto/gen/, next to them (scripts/gen-wire-types.ts; a test checks they are
// current). Messages are as the loader decodes them (protos.ts: keepCase,
// 64-bit integers as strings, Buffers, defaults filled in).
import type * as grpc from '@grpc/grpc-js';
import type { HealthClient } from '../../../proto/gen/grpc/health/v1/Health.ts';
import type { SpiffeWorkloadAPIClient } from '../../../proto/gen/SpiffeWorkloadAPI.ts';
import type { AgentClient } from '../../../proto/gen/spire/api/server/agent/v1/Agent.ts';
import type { BundleClient } from '../../../proto/gen/spire/api/server/bundle/v1/Bundle.ts';
import type { EntryClient } from '../../../proto/gen/spire/api/server/entry/v1/Entry.ts';
import type { LocalAuthorityClient } from '../../../proto/gen/spire/api/server/localauthority/v1/LocalAuthority.ts';
import type { SVIDClient } from '../../../proto/gen/spire/api/server/svid/v1/SVID.ts';
import type { TrustDomainClient } from '../../../proto/gen/spire/api/server/trustdomain/v1/TrustDomain.ts';

export type { SPIFFEID__Output as WireSpiffeId } from '../../../proto/gen/spire/api/types/SPIFFEID.ts';
export type { Selector__Output as WireSelector } from '../../../proto/gen/spire/api/types/Selector.ts';
export type { Entry__Output as WireEntry } from '../../../proto/gen/spire/api/types/Entry.ts';
export type { Agent__Output as WireAgent } from '../../../proto/gen/spire/api/types/Agent.ts';
export type { Bundle__Output as WireBundle } from '../../../proto/gen/spire/api/types/Bundle.ts';
export type { X509SVID__Output as WireX509Svid } from '../../../proto/gen/spire/api/types/X509SVID.ts';
export type { JWTSVID__Output as WireJwtSvid } from '../../../proto/gen/spire/api/types/JWTSVID.ts';
export type { Status__Output as WireStatus } from '../../../proto/gen/spire/api/types/Status.ts';
export type { FederationRelationship__Output as WireFederationRelationship } from '../../../proto/gen/spire/api/types/FederationRelationship.ts';

/** The generated client of each service Herald's clients call, by fully-qualified name (protos.ts Services). */
export interface WireClients {
  SpiffeWorkloadAPI: SpiffeWorkloadAPIClient;
  'spire.api.server.agent.v1.Agent': AgentClient;
  'spire.api.server.svid.v1.SVID': SVIDClient;
  'spire.api.server.entry.v1.Entry': EntryClient;
  'spire.api.server.bundle.v1.Bundle': BundleClient;
  'spire.api.server.trustdomain.v1.TrustDomain': TrustDomainClient;
  'spire.api.server.localauthority.v1.LocalAuthority': LocalAuthorityClient;
  'grpc.health.v1.Health': HealthClient;
}

/** The client of `service`: generated for the SPIFFE/SPIRE APIs and health, plain grpc.Client for Envoy's. */
export type WireClient<S extends string> = S extends keyof WireClients ? WireClients[S] : grpc.Client;

/** A typed client constructor (what grpc.loadPackageDefinition builds for a service). */
export type WireClientConstructor<C> = new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ClientOptions) => C;

/** The unary methods of a generated client. */
export type UnaryMethod<C> = {
  [K in keyof C]: // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any response: only the shape of the method matters here
  C[K] extends (argument: never, callback: grpc.requestCallback<any>) => grpc.ClientUnaryCall ? K : never;
}[keyof C] &
  string;
/** The request a unary method takes (the loader's permissive input type). */
export type UnaryRequest<C, M extends keyof C> = C[M] extends (argument: infer Req, callback: grpc.requestCallback<infer _Res>) => grpc.ClientUnaryCall ? Req : never;
/** The response a unary method resolves to (the decoded output type). */
export type UnaryResponse<C, M extends keyof C> = C[M] extends (argument: infer _Req, callback: grpc.requestCallback<infer Res>) => grpc.ClientUnaryCall ? Res : never;
/** The server-stream methods of a generated client. */
export type StreamMethod<C> = {
  [K in keyof C]: C[K] extends (argument: never, options?: grpc.CallOptions) => grpc.ClientReadableStream<unknown> ? K : never;
}[keyof C] &
  string;
/** The messages a server-stream method yields. */
export type StreamMessage<C, M extends keyof C> = C[M] extends (argument: infer _Req, options?: grpc.CallOptions) => grpc.ClientReadableStream<infer Msg> ? Msg : never;
/** The request a server-stream method takes. */
export type StreamRequest<C, M extends keyof C> = C[M] extends (argument: infer Req, options?: grpc.CallOptions) => grpc.ClientReadableStream<unknown> ? Req : never;
