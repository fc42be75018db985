// A real herald-server and herald-agent for the fuzz suites that talk to the
// agent's sockets (Workload API, SDS): the caller's uid has an identity, so
// well-formed requests succeed and malformed ones reach past attestation.
import * as grpc from '@grpc/grpc-js';
import { expect } from 'vitest';
import { generateToken, startAgent, startServer, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { makeTempDir } from '../helpers/tmp.ts';

export const TD = 'example.org';
export const ME = `spiffe://${TD}/fuzzer`;

export interface FuzzAgent {
  server: ServerHandle;
  agent: AgentHandle;
  stop(): Promise<void>;
}

export async function startFuzzAgent(prefix: string): Promise<FuzzAgent> {
  const tmp = await makeTempDir(prefix);
  const server = await startServer({ dir: tmp.path, trustDomain: TD });
  const token = await generateToken(server, `spiffe://${TD}/node`);
  const r = await server.cli('entry', 'create', '-parentID', `spiffe://${TD}/node`, '-spiffeID', ME, '-selector', `unix:uid:${process.getuid!()}`);
  expect(r.code, r.stderr).toBe(0);
  const agent = await startAgent({ dir: tmp.path, server, joinToken: token, syncInterval: '500ms', logLevel: 'INFO' });
  return {
    server,
    agent,
    async stop() {
      await agent.stop();
      await server.stop();
      await tmp.cleanup();
    },
  };
}

export interface CallEnd {
  code: grpc.status;
  details: string;
}

/**
 * Whether a hostile request ended cleanly: anything but a server fault.
 * INTERNAL is clean only as gRPC's own answer to bytes that are not the
 * method's message ("Error deserializing request", as grpc-go answers
 * "error unmarshalling request"), never from a handler.
 */
export function isCleanEnd(end: CallEnd): boolean {
  if (end.code === grpc.status.INTERNAL) return end.details.startsWith('Error deserializing request');
  return end.code !== grpc.status.UNKNOWN && end.code !== grpc.status.DATA_LOSS;
}

/** A client that sends and receives raw bytes on any method path (requests the generated stubs could not encode). */
export function rawClient(socketPath: string): grpc.Client {
  return new grpc.Client(`unix:${socketPath}`, grpc.credentials.createInsecure());
}

/** One unary call with raw bytes; resolves to how it ended (OK when a response came). */
export function rawUnary(client: grpc.Client, path: string, body: Buffer, metadata: grpc.Metadata, timeoutMs = 10_000): Promise<CallEnd> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, body, metadata, { deadline: Date.now() + timeoutMs }, (err) =>
      resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '' }),
    );
  });
}

/**
 * One server-streaming call with raw bytes, cancelled at its first message:
 * how it ended (OK when a message came).
 */
export function rawServerStream(client: grpc.Client, path: string, body: Buffer, metadata: grpc.Metadata, timeoutMs = 10_000): Promise<CallEnd> {
  return new Promise((resolve) => {
    let served = false;
    const call = client.makeServerStreamRequest(path, (b: Buffer) => b, (b: Buffer) => b, body, metadata, { deadline: Date.now() + timeoutMs });
    call.on('data', () => {
      served = true;
      call.cancel();
    });
    call.on('error', () => {});
    call.on('status', (s: grpc.StatusObject) => resolve(served ? { code: grpc.status.OK, details: '' } : { code: s.code, details: s.details }));
  });
}

/** The Workload API's security header. */
export function workloadMetadata(): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('workload.spiffe.io', 'true');
  return md;
}

/**
 * One bidirectional stream with raw messages: writes them, half-closes, and
 * resolves to how it ended and how many messages came back.
 */
export function rawBidi(client: grpc.Client, path: string, messages: readonly Buffer[], metadata: grpc.Metadata, timeoutMs = 10_000): Promise<CallEnd & { received: number }> {
  return new Promise((resolve) => {
    let received = 0;
    const call = client.makeBidiStreamRequest(path, (b: Buffer) => b, (b: Buffer) => b, metadata, { deadline: Date.now() + timeoutMs });
    call.on('data', () => received++);
    call.on('error', () => {});
    call.on('status', (s: grpc.StatusObject) => resolve({ code: s.code, details: s.details, received }));
    for (const m of messages) call.write(m);
    call.end();
  });
}
