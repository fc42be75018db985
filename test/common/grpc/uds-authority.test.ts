// Clients that send their Unix socket's path as :authority (grpc-java, so
// java-spiffe) against a real uds-server: a raw node:http2 client controls
// the request headers exactly; grpc-js with grpc.default_authority is a real
// gRPC client doing the same. Plus the HPACK pieces against RFC 7541's
// examples.
import { once } from 'node:events';
import http2 from 'node:http2';
import net from 'node:net';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuthorityFilter, encodeLiterals, type HeaderField, HpackDecoder, HpackError } from '../../../src/common/grpc/uds-authority.ts';
import { startUdsServer, type UdsServer } from '../../../src/common/grpc/uds-server.ts';
import { makeTempDir } from '../../helpers/tmp.ts';
import { waitFor } from '../../helpers/wait.ts';
import { PeerClient, type PeerClientApi, peerServiceDefinition, peerServiceImplementation, whoAmI } from './fixtures/peer-service.ts';

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
