// Clients that send their Unix socket's path as :authority (grpc-java, so
// java-spiffe) against a real uds-server: a raw node:http2 client controls
// the request headers exactly; grpc-js with grpc.default_authority is a real
// gRPC client doing the same. Plus the HPACK pieces against RFC 7541's
// examples. And that every other client's connection reaches nghttp2 as the
// accepted socket itself, its bytes intact (the native path).
import { EventEmitter, once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { getPeerCred } from '@herald/peercred';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeLiterals, type HeaderField, HpackDecoder, HpackError } from '../../../src/common/grpc/hpack.ts';
import { AuthorityFilter, SERVER_PREFACE } from '../../../src/common/grpc/uds-authority.ts';
import { startUdsServer, type UdsServer } from '../../../src/common/grpc/uds-server.ts';
import { makeTempDir } from '../../helpers/tmp.ts';
import { waitFor } from '../../helpers/wait.ts';
import {
  newPeerClient,
  PeerClient,
  type PeerClientApi,
  peerServiceDefinition,
  peerServiceImplementation,
  whoAmI,
} from './fixtures/peer-service.ts';

let tmp: { path: string; cleanup: () => Promise<void> };
let server: UdsServer;
let socketPath: string;
const sessions: http2.ClientHttp2Session[] = [];

beforeEach(async () => {
  tmp = await makeTempDir('herald-uds-authority-');
  socketPath = join(tmp.path, 'api.sock');
  server = await startUdsServer({
    socketPath,
    mode: 0o777,
    services: [{ definition: peerServiceDefinition, implementation: peerServiceImplementation }],
  });
});

afterEach(async () => {
  for (const s of sessions.splice(0)) s.destroy();
  await server.forceClose();
  await tmp.cleanup();
});

function connect(): http2.ClientHttp2Session {
  const session = http2.connect('http://localhost', { createConnection: () => net.connect(socketPath) });
  session.on('error', () => undefined);
  sessions.push(session);
  return session;
}

interface RawReply {
  rstCode: number;
  grpcStatus?: string;
  body?: { creds: { pid: number; uid: number } | null; peer: string };
}

/** One gRPC WhoAmI call written by hand, with `authority` as :authority and optional extra headers. */
function rawWhoAmI(session: http2.ClientHttp2Session, authority: string, extra: Record<string, string> = {}): Promise<RawReply> {
  return new Promise((resolve) => {
    const req = session.request({
      ':method': 'POST',
      ':path': '/herald.test.Peer/WhoAmI',
      ':authority': authority,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...extra,
    });
    const message = Buffer.from('{}');
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(message.length, 1);
    req.end(Buffer.concat([prefix, message]));
    const chunks: Buffer[] = [];
    let grpcStatus: string | undefined;
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('trailers', (t) => (grpcStatus = String(t['grpc-status'])));
    req.on('error', () => undefined);
    req.on('close', () => {
      const data = Buffer.concat(chunks);
      resolve({
        rstCode: req.rstCode ?? 0,
        ...(grpcStatus === undefined ? {} : { grpcStatus }),
        ...(data.length > 5 ? { body: JSON.parse(data.subarray(5).toString()) } : {}),
      });
    });
  });
}

describe('uds-server and a :authority that is the socket path', () => {
  it('answers a request whose :authority is the socket path (grpc-java), with the caller\'s credentials', async () => {
    const reply = await rawWhoAmI(connect(), socketPath);
    expect(reply.rstCode).toBe(0);
    expect(reply.grpcStatus).toBe('0');
    expect(reply.body?.creds).toMatchObject({ pid: process.pid, uid: process.getuid!() });
  });

  it('keeps answering on the same connection (the path then comes from the HPACK dynamic table)', async () => {
    const session = connect();
    for (let i = 0; i < 5; i++) {
      const reply = await rawWhoAmI(session, socketPath, { 'x-call': String(i) });
      expect(reply.grpcStatus, `call ${i}`).toBe('0');
    }
    // Concurrent calls, and a header block too large for one frame (CONTINUATION).
    const replies = await Promise.all([
      rawWhoAmI(session, socketPath),
      rawWhoAmI(session, socketPath, { 'x-large': 'a'.repeat(20_000) }),
      rawWhoAmI(session, socketPath),
    ]);
    expect(replies.map((r) => r.grpcStatus)).toEqual(['0', '0', '0']);
  });

  it('a grpc-js client told to send the socket path as authority gets the right peer', async () => {
    const client = new PeerClient(`unix:${socketPath}`, grpc.credentials.createInsecure(), {
      'grpc.default_authority': socketPath,
    }) as unknown as PeerClientApi;
    try {
      const reply = await whoAmI(client);
      expect(reply.creds).toMatchObject({ pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
    } finally {
      client.close();
    }
  });

  it('still resets requests whose :authority is invalid and not a path', async () => {
    const session = connect();
    const bad = await rawWhoAmI(session, 'bad host');
    expect(bad.rstCode).toBe(http2.constants.NGHTTP2_PROTOCOL_ERROR);
    // The connection itself is fine; a normal authority works on it.
    expect((await rawWhoAmI(session, 'localhost')).grpcStatus).toBe('0');
  });

  it('on a rewritten connection, malformed requests are still refused by nghttp2', async () => {
    // Node's own client will not send these, so the frames are written by hand.
    const grpcFields = (authority: string, extra: [string, string][] = []): HeaderField[] =>
      [
        [':method', 'POST'], [':scheme', 'http'], [':path', '/herald.test.Peer/WhoAmI'], [':authority', authority],
        ['content-type', 'application/grpc'], ['te', 'trailers'], ...extra,
      ].map(([name, value]) => ({ name: name!, value: value!, sensitive: false }));
    const answers = await rawRequests([
      grpcFields(socketPath), // accepted: the connection is rewritten from here on
      grpcFields(socketPath, [['connection', 'keep-alive']]), // connection-specific field (RFC 9113 §8.2.2)
      grpcFields(socketPath, [['X-Upper', 'x']]), // upper-case field name
      grpcFields(socketPath, [['te', 'gzip']]), // te other than "trailers"
      grpcFields('bad host'), // a non-path authority nghttp2 refuses, as before
      grpcFields(socketPath),
    ]);
    expect(answers).toEqual(['response', 'reset', 'reset', 'reset', 'reset', 'response']);
  });
});

/**
 * The HTTP/2 sessions grpc-js gets from `server` from now on. (grpc-js keeps
 * its HTTP/2 servers in http2Servers; if that changes, these tests fail.)
 */
function sessionsOf(server: UdsServer): http2.ServerHttp2Session[] {
  const sessions: http2.ServerHttp2Session[] = [];
  const servers = (server.grpcServer as unknown as { http2Servers: Map<EventEmitter, unknown> }).http2Servers;
  expect(servers.size).toBeGreaterThan(0);
  for (const h2 of servers.keys()) h2.on('session', (s: http2.ServerHttp2Session) => sessions.push(s));
  return sessions;
}

/** The session reads the accepted net.Socket itself: a plain net.Socket, on a kernel socket whose peer is us. */
function expectNative(session: http2.ServerHttp2Session): void {
  expect(Object.getPrototypeOf(session.socket)).toBe(net.Socket.prototype);
  const fd = (session.socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  expect(fd).toBeTypeOf('number');
  expect(getPeerCred(fd!).pid).toBe(process.pid);
}

describe('uds-server hands every other connection to nghttp2 as it is', () => {
  it('a grpc-js client\'s connection is the accepted net.Socket (the native path), with the caller\'s credentials', async () => {
    const sessions = sessionsOf(server);
    const client = newPeerClient(socketPath);
    try {
      for (let i = 0; i < 3; i++) {
        expect((await whoAmI(client)).creds).toMatchObject({ pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
      }
    } finally {
      client.close();
    }
    expect(sessions).toHaveLength(1);
    expectNative(sessions[0]!);
  });

  it('a node:http2 client (which does not wait for the server\'s SETTINGS) is handed over natively too', async () => {
    const sessions = sessionsOf(server);
    const reply = await rawWhoAmI(connect(), 'localhost');
    expect(reply.grpcStatus).toBe('0');
    expect(reply.body?.creds).toMatchObject({ pid: process.pid });
    expect(sessions).toHaveLength(1);
    expectNative(sessions[0]!);
  });

  it('a path-authority client goes through the transcoder instead, with the caller\'s credentials', async () => {
    const sessions = sessionsOf(server);
    const reply = await rawWhoAmI(connect(), socketPath);
    expect(reply.body?.creds).toMatchObject({ pid: process.pid });
    expect(sessions).toHaveLength(1);
    expect(Object.getPrototypeOf(sessions[0]!.socket)).not.toBe(net.Socket.prototype);
  });

  // The client's bytes, written by hand in one write: whatever follows the
  // first header block in that chunk must reach nghttp2 intact, and our
  // preface's ACK (wherever it is) must not.
  it.each([
    ['before the first request', 2],
    ['after the first request', 2],
    ['in a later write', 2],
    // Its first DATA frames cross read chunks (and Node's 16 kB frame limit).
    ['after the first request', 60_000],
  ] as const)(
    'bytes after the first header block reach nghttp2 intact (ACK of our SETTINGS %s, %i-byte messages)',
    async (ackAt, messageBytes) => {
      const sessions = sessionsOf(server);
      const h2 = await rawH2();
      const first = await h2.nextFrame();
      // The server speaks first: its preface, an empty SETTINGS frame.
      expect(first.raw.equals(SERVER_PREFACE)).toBe(true);
      const ack = rawFrame(0x4, 0x1, 0, Buffer.alloc(0));
      const ping = rawFrame(0x6, 0, 0, Buffer.from('herald!!'));
      const chunk = Buffer.concat([
        Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'),
        rawFrame(0x4, 0, 0, Buffer.alloc(0)),
        ...(ackAt === 'before the first request' ? [ack] : []),
        ...whoAmIFrames(1, messageBytes),
        ...(ackAt === 'after the first request' ? [ack] : []),
        ...whoAmIFrames(3, 2),
        ping,
      ]);
      h2.sock.write(chunk);
      if (ackAt === 'in a later write') {
        await new Promise((r) => setTimeout(r, 100));
        // Nothing reached an HTTP/2 server yet: the connection waits for the ACK.
        expect(sessions).toHaveLength(0);
        h2.sock.write(ack);
      }
      const replies = await Promise.all([h2.reply(1), h2.reply(3)]);
      for (const r of replies) {
        expect(r.grpcStatus).toBe('0');
        expect(r.body.creds).toMatchObject({ pid: process.pid, uid: process.getuid!() });
      }
      const pong = await h2.waitFrame((f) => f.type === 0x6);
      expect(pong.flags).toBe(0x1);
      expect(pong.payload.toString()).toBe('herald!!');
      // nghttp2 saw one ACK only (its own SETTINGS'): a second would be a connection error.
      expect(h2.goaway).toBe(false);
      expect(sessions).toHaveLength(1);
      expectNative(sessions[0]!);
      h2.sock.destroy();
    },
  );
});

function rawFrame(type: number, flags: number, id: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(id, 5);
  return Buffer.concat([h, payload]);
}

/** HEADERS and DATA (END_STREAM; in frames of at most 16 kB) of one WhoAmI call on stream `id`, its JSON message `messageBytes` long. */
function whoAmIFrames(id: number, messageBytes: number): Buffer[] {
  const fields = [
    [':method', 'POST'], [':scheme', 'http'], [':path', '/herald.test.Peer/WhoAmI'], [':authority', 'localhost'],
    ['content-type', 'application/grpc'], ['te', 'trailers'],
  ].map(([name, value]) => ({ name: name!, value: value!, sensitive: false }));
  const message = Buffer.from(messageBytes <= 2 ? '{}' : `{"x":"${'a'.repeat(messageBytes - 8)}"}`);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  const body = Buffer.concat([prefix, message]);
  const frames = [rawFrame(0x1, 0x4, id, encodeLiterals(fields))];
  for (let at = 0; at < body.length; at += 16_384) {
    const part = body.subarray(at, at + 16_384);
    frames.push(rawFrame(0x0, at + part.length === body.length ? 0x1 : 0, id, part));
  }
  return frames;
}

interface RawFrame {
  raw: Buffer;
  type: number;
  flags: number;
  id: number;
  payload: Buffer;
}

/**
 * A hand-driven HTTP/2 client connection: records the server's frames,
 * decodes its header blocks, and ACKs every SETTINGS but the first (the
 * test sends that ACK itself).
 */
async function rawH2() {
  const sock = net.connect(socketPath);
  sock.on('error', () => undefined);
  await once(sock, 'connect');
  const frames: RawFrame[] = [];
  const streams = new Map<number, { fields: HeaderField[]; data: Buffer[]; ended: boolean }>();
  const decoder = new HpackDecoder();
  let settingsSeen = 0;
  let goaway = false;
  let buf = Buffer.alloc(0);
  sock.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 9 && buf.length >= 9 + buf.readUIntBE(0, 3)) {
      const len = buf.readUIntBE(0, 3);
      const f: RawFrame = { raw: buf.subarray(0, 9 + len), type: buf[3]!, flags: buf[4]!, id: buf.readUInt32BE(5) & 0x7fffffff, payload: buf.subarray(9, 9 + len) };
      buf = buf.subarray(9 + len);
      frames.push(f);
      if (f.type === 0x4 && (f.flags & 0x1) === 0 && settingsSeen++ > 0) sock.write(rawFrame(0x4, 0x1, 0, Buffer.alloc(0)));
      if (f.type === 0x7) goaway = true;
      if (f.id === 0) continue;
      const s = streams.get(f.id) ?? { fields: [], data: [], ended: false };
      streams.set(f.id, s);
      // Node's responses: HEADERS without padding or priority, each in one frame.
      if (f.type === 0x1) s.fields.push(...decoder.decode(f.payload));
      if (f.type === 0x0) s.data.push(f.payload);
      if ((f.type === 0x1 || f.type === 0x0) && f.flags & 0x1) s.ended = true;
      if (f.type === 0x3) s.ended = true;
    }
  });
  let read = 0;
  return {
    sock,
    get goaway() {
      return goaway;
    },
    nextFrame: () => waitFor('a frame from the server', () => (frames.length > read ? frames[read++] : undefined), { timeoutMs: 5_000, intervalMs: 5 }),
    waitFrame: (match: (f: RawFrame) => boolean) => waitFor('a frame from the server', () => frames.find(match), { timeoutMs: 5_000, intervalMs: 5 }),
    async reply(id: number): Promise<{ grpcStatus: string | undefined; body: { creds: { pid: number; uid: number } | null } }> {
      const s = await waitFor(`stream ${id} to end`, () => (streams.get(id)?.ended ? streams.get(id) : undefined), { timeoutMs: 5_000, intervalMs: 5 });
      const data = Buffer.concat(s.data);
      return { grpcStatus: s.fields.find((f) => f.name === 'grpc-status')?.value, body: JSON.parse(data.subarray(5).toString()) };
    },
  };
}

/** A raw HTTP/2 connection that sends each header block as a request and reports, per stream, a response or a reset. */
async function rawRequests(blocks: HeaderField[][]): Promise<string[]> {
  const sock = net.connect(socketPath);
  await once(sock, 'connect');
  const frameOf = (type: number, flags: number, id: number, payload: Buffer): Buffer => {
    const h = Buffer.alloc(9);
    h.writeUIntBE(payload.length, 0, 3);
    h[3] = type;
    h[4] = flags;
    h.writeUInt32BE(id, 5);
    return Buffer.concat([h, payload]);
  };
  const answers = new Map<number, string>();
  let buf = Buffer.alloc(0);
  sock.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 9 && buf.length >= 9 + buf.readUIntBE(0, 3)) {
      const len = buf.readUIntBE(0, 3);
      const type = buf[3]!;
      const id = buf.readUInt32BE(5) & 0x7fffffff;
      if (type === 0x4 && (buf[4]! & 0x1) === 0) sock.write(frameOf(0x4, 0x1, 0, Buffer.alloc(0))); // SETTINGS ack
      if (id !== 0 && !answers.has(id)) {
        if (type === 0x1) answers.set(id, 'response');
        if (type === 0x3) answers.set(id, buf.readUInt32BE(9) === http2.constants.NGHTTP2_PROTOCOL_ERROR ? 'reset' : `reset ${buf.readUInt32BE(9)}`);
      }
      buf = buf.subarray(9 + len);
    }
  });
  sock.write(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'));
  sock.write(frameOf(0x4, 0, 0, Buffer.alloc(0)));
  // One at a time, so each answer belongs to its request.
  for (const [i, fields] of blocks.entries()) {
    const id = 2 * i + 1;
    sock.write(frameOf(0x1, 0x4 | 0x1, id, encodeLiterals(fields)));
    await waitFor(`an answer on stream ${id}`, () => answers.has(id), { timeoutMs: 5_000 });
  }
  sock.destroy();
  return blocks.map((_, i) => answers.get(2 * i + 1)!);
}

describe('HPACK decoding (RFC 7541 Appendix C)', () => {
  const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
  const pairs = (fields: { name: string; value: string }[]): string[][] => fields.map((f) => [f.name, f.value]);

  it('C.4: requests with Huffman coding, sharing one dynamic table', () => {
    const d = new HpackDecoder();
    expect(pairs(d.decode(hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff')))).toEqual([
      [':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'],
    ]);
    expect(pairs(d.decode(hex('8286 84be 5886 a8eb 1064 9cbf')))).toEqual([
      [':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache'],
    ]);
    expect(pairs(d.decode(hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf')))).toEqual([
      [':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value'],
    ]);
  });

  it('refuses bad input', () => {
    expect(() => new HpackDecoder().decode(hex('80'))).toThrow(HpackError); // index 0
    expect(() => new HpackDecoder().decode(hex('be'))).toThrow(HpackError); // empty dynamic table
    expect(() => new HpackDecoder().decode(hex('3fe21f'))).toThrow(HpackError); // table size update to 4097 > SETTINGS_HEADER_TABLE_SIZE
    expect(() => new HpackDecoder().decode(hex('41 8c f1e3c2e5f23a6ba0ab90f4'))).toThrow(HpackError); // truncated string
    expect(() => new HpackDecoder().decode(hex('41 81 00'))).toThrow(HpackError); // Huffman padding not all ones
  });

  it('literals re-encoded without indexing decode to the same fields', () => {
    const fields = [
      { name: ':authority', value: 'localhost', sensitive: false },
      { name: 'x-big', value: 'v'.repeat(300), sensitive: false },
      { name: 'authorization', value: 'secret', sensitive: true },
    ];
    expect(new HpackDecoder().decode(encodeLiterals(fields))).toEqual(fields);
  });

  it('after our preface, the client\'s first SETTINGS ACK is removed and the rest passes through untouched', () => {
    const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
    const settings = Buffer.from('000000040000000000', 'hex');
    const ack = Buffer.from('000000040100000000', 'hex');
    const block = hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff');
    const headers = Buffer.concat([Buffer.from([0, 0, block.length, 1, 0x05, 0, 0, 0, 1]), block]);
    const ping = Buffer.from('0000080600000000006865726c61642121', 'hex');
    for (const [input, expected] of [
      // ACK before the first request (clients that wait for our SETTINGS), and after it.
      [[preface, settings, ack, headers, ping, ack], [preface, settings, headers, ping, ack]],
      [[preface, settings, headers, ping, ack, ack, ping], [preface, settings, headers, ping, ack, ping]],
    ] as const) {
      const f = new AuthorityFilter({ serverPrefaceSent: true });
      const bytes = Buffer.concat(input);
      const out: Buffer[] = [];
      let passingAt = -1;
      for (let i = 0; i < bytes.length; i++) {
        out.push(...f.push(bytes.subarray(i, i + 1)));
        if (passingAt < 0 && f.passingThrough) passingAt = i;
      }
      expect(Buffer.concat(out).equals(Buffer.concat(expected))).toBe(true);
      // Handed over as soon as both the request and the ACK are in, not before.
      const ackEnd = bytes.indexOf(ack, preface.length) + ack.length - 1;
      const headersEnd = bytes.indexOf(headers) + headers.length - 1;
      expect(passingAt).toBe(Math.max(ackEnd, headersEnd));
      expect(f.bufferedBytes).toBe(0);
    }
  });

  it('a rewritten connection loses our preface\'s ACK as well', () => {
    const f = new AuthorityFilter({ serverPrefaceSent: true });
    const fields = [[':method', 'POST'], [':scheme', 'http'], [':path', '/x'], [':authority', '/run/api.sock']]
      .map(([name, value]) => ({ name: name!, value: value!, sensitive: false }));
    const block = encodeLiterals(fields);
    const headers = Buffer.concat([Buffer.from([0, 0, block.length, 1, 0x05, 0, 0, 0, 1]), block]);
    const ack = Buffer.from('000000040100000000', 'hex');
    const out = Buffer.concat(f.push(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'), headers, ack, ack])));
    expect(f.rewriting).toBe(true);
    // One ACK left (nghttp2's), after the rewritten block.
    expect(out.subarray(out.length - 9).equals(ack)).toBe(true);
    expect(out.indexOf(ack)).toBe(out.length - 9);
    expect(new HpackDecoder().decode(out.subarray(24 + 9, out.length - 9)).find((x) => x.name === ':authority')?.value).toBe('localhost');
  });

  it('a connection without a path authority passes through untouched', () => {
    const f = new AuthorityFilter();
    const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
    const settings = Buffer.from('000000040000000000', 'hex');
    const block = hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff');
    const headers = Buffer.concat([Buffer.from([0, 0, block.length, 1, 0x05, 0, 0, 0, 1]), block]);
    const input = Buffer.concat([preface, settings, headers, Buffer.from('0000000100000000', 'hex')]);
    // Byte by byte, to cross every boundary.
    const out = Buffer.concat([...input].flatMap((b) => f.push(Buffer.from([b]))));
    expect(out.equals(input)).toBe(true);
    expect(f.rewriting).toBe(false);
  });
});
