// Lets HTTP/2 clients that send their Unix socket's path as `:authority`
// talk to a grpc-js server on a Unix socket.
//
// grpc-java (java-spiffe, any Netty channel built with forAddress(new
// DomainSocketAddress(path))) sends the socket path, e.g. `/run/api.sock`, as
// the `:authority` of every request. RFC 9113 §8.3.1 lets a server reject an
// authority that is not a URI authority, and nghttp2 (Node's HTTP/2, under
// grpc-js) does exactly that: '/' is not an authority character, so every
// such request is reset with PROTOCOL_ERROR before Node or grpc-js see it.
// grpc-go (SPIRE's agent) ignores `:authority` on a Unix socket. Node has no
// option to relax the check (nghttp2's no_http_messaging is not exposed and
// would switch off every other request check too), and the value is HPACK
// compressed, usually by reference to the connection's dynamic table, so it
// cannot be patched in place.
//
// So each accepted connection is read by `pathAuthorityInjector` up to the
// client's first header block before grpc-js gets it. We write the server
// connection preface (an empty SETTINGS frame) at once, since grpc-go,
// grpc-js and gRPC C-core clients send no request before they have it.
//   - If that request's `:authority` does not start with '/' (go-spiffe,
//     py-spiffe, Envoy, grpc-js...), or anything in it is unexpected, the
//     original net.Socket goes to grpc-js, with what we read put back in
//     front of its buffer (socket.unshift; Node's Http2Session reads it
//     first): nghttp2 reads the socket natively from then on, as if we had
//     never been there, and judges everything as before. The one thing
//     taken out is the client's ACK of our SETTINGS frame: nghttp2 sends its
//     own and would take a second ACK for a protocol error. So a connection
//     is handed over once it has sent both its first header block and that
//     ACK (clients that wait for our SETTINGS send the ACK first; others
//     right after).
//   - If it is a path, the connection goes to grpc-js through a JS Duplex,
//     its transcoder: its header blocks are decoded (HPACK, RFC 7541, with
//     the client's dynamic table) and handed on re-encoded as plain
//     literals, the path authority replaced by "localhost" (what grpc-go and
//     Kubernetes use on Unix sockets). Every other field reaches nghttp2 as
//     sent and is checked by it as before; undecodable input ends the
//     connection.
// Only `:authority` values that start with '/' change, and only on Unix
// sockets; nothing in Herald reads `:authority`. A client that ends its side
// before its first request, or sends more than MAX_SNIFF_BYTES before it, is
// disconnected.

import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { HpackDecoder, HpackError, encodeLiterals, type HeaderField } from './hpack.ts';
import { ServerCredentials } from '@grpc/grpc-js';
import { type Clock, systemClock } from '../clock.ts';

/** What a path `:authority` becomes. */
export const UDS_AUTHORITY = 'localhost';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FRAME_HEADER = 9;
// SETTINGS_MAX_FRAME_SIZE: Node never raises its default, so no valid frame
// from the client is larger. (Frames we emit stay within it as well.)
const MAX_FRAME = 16_384;
const HEADERS = 0x1;
const SETTINGS = 0x4;
const CONTINUATION = 0x9;
const END_STREAM = 0x1;
const ACK = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;
// Bound on what one header block may make us hold.
const MAX_BLOCK_BYTES = 64 * 1024;

function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(FRAME_HEADER);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId, 5);
  return Buffer.concat([header, payload]);
}

interface PendingBlock {
  readonly streamId: number;
  readonly flags: number;
  readonly priority: Buffer | undefined;
  readonly fragments: Buffer[];
  readonly frames: Buffer[];
  bytes: number;
}

type Mode = 'preface' | 'undecided' | 'rewrite' | 'native-ack' | 'passthrough';

export interface AuthorityFilterOptions {
  /**
   * SERVER_PREFACE was written to the client before any HTTP/2 server had the
   * connection: the client's first SETTINGS ACK answers it and is removed
   * (the HTTP/2 server never sent those settings; an ACK too many is a
   * connection error to nghttp2). Default false.
   */
  readonly serverPrefaceSent?: boolean;
}

/**
 * The client-to-server byte stream of one connection, as described at the
 * top of this file. `push` returns what to hand to the HTTP/2 server; it
 * throws HpackError when a rewritten connection sends what cannot be decoded.
 */
export class AuthorityFilter {
  #mode: Mode = 'preface';
  #buf: Buffer = Buffer.alloc(0);
  #pending: PendingBlock | undefined;
  #decoder: HpackDecoder | undefined = new HpackDecoder();
  #ackPending: boolean;

  constructor(options: AuthorityFilterOptions = {}) {
    this.#ackPending = options.serverPrefaceSent === true;
  }

  /** True once the connection's header blocks are being rewritten. */
  get rewriting(): boolean {
    return this.#mode === 'rewrite';
  }

  /**
   * True once the rest of the connection needs no filtering: the client's
   * first request has no path authority (or the input is not ours to judge)
   * and the preface's ACK, if one was due, has been removed. `push` has then
   * returned everything it was given, minus that ACK, and returns later
   * chunks as they are.
   */
  get passingThrough(): boolean {
    return this.#mode === 'passthrough';
  }

  /** Bytes received and not yet returned by `push` (part of a frame or header block). */
  get bufferedBytes(): number {
    return this.#buf.length + (this.#pending?.frames.reduce((n, f) => n + f.length, 0) ?? 0);
  }

  push(chunk: Buffer): Buffer[] {
    if (this.#mode === 'passthrough') return [chunk];
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    const out: Buffer[] = [];
    if (this.#mode === 'preface') {
      const n = Math.min(this.#buf.length, PREFACE.length);
      if (!this.#buf.subarray(0, n).equals(PREFACE.subarray(0, n))) return this.#passThrough(out);
      if (this.#buf.length < PREFACE.length) return out;
      out.push(this.#buf.subarray(0, PREFACE.length));
      this.#buf = this.#buf.subarray(PREFACE.length);
      this.#mode = 'undecided';
    }
    while (this.#buf.length >= FRAME_HEADER) {
      const length = this.#buf.readUIntBE(0, 3);
      if (length > MAX_FRAME) return this.#unexpected(out, 'frame larger than SETTINGS_MAX_FRAME_SIZE');
      if (this.#buf.length < FRAME_HEADER + length) break;
      const raw = this.#buf.subarray(0, FRAME_HEADER + length);
      this.#buf = this.#buf.subarray(FRAME_HEADER + length);
      const type = raw[3]!;
      const flags = raw[4]!;
      const streamId = raw.readUInt32BE(5) & 0x7fff_ffff;
      const payload = raw.subarray(FRAME_HEADER);
      const pending = this.#pending;
      if (pending !== undefined) {
        // Only CONTINUATIONs of the same stream may follow an open header block.
        if (type !== CONTINUATION || streamId !== pending.streamId) {
          this.#buf = Buffer.concat([raw, this.#buf]);
          return this.#unexpected(out, 'header block interrupted');
        }
        pending.fragments.push(payload);
        pending.frames.push(raw);
        pending.bytes += payload.length;
        if (pending.bytes > MAX_BLOCK_BYTES) return this.#unexpected(out, 'header block too large');
        if (flags & END_HEADERS) {
          this.#pending = undefined;
          const done = this.#afterBlock(pending, out);
          if (done) return done;
        }
        continue;
      }
      if (type === SETTINGS && flags & ACK && this.#ackPending) {
        if (length !== 0 || streamId !== 0) {
          this.#buf = Buffer.concat([raw, this.#buf]);
          return this.#unexpected(out, 'malformed SETTINGS ACK');
        }
        // The answer to our preface: dropped.
        this.#ackPending = false;
        if (this.#mode === 'native-ack') return this.#passThrough(out);
        continue;
      }
      if (type !== HEADERS || this.#mode === 'native-ack') {
        out.push(raw);
        continue;
      }
      let start = 0;
      let end = payload.length;
      if (flags & PADDED) {
        const pad = payload[0] ?? 0;
        start = 1;
        end -= pad;
      }
      const priority = flags & PRIORITY ? payload.subarray(start, start + 5) : undefined;
      if (priority) start += 5;
      if (end < start) {
        this.#buf = Buffer.concat([raw, this.#buf]);
        return this.#unexpected(out, 'bad HEADERS padding');
      }
      const block: PendingBlock = { streamId, flags, priority, fragments: [payload.subarray(start, end)], frames: [raw], bytes: end - start };
      if (flags & END_HEADERS) {
        const done = this.#afterBlock(block, out);
        if (done) return done;
      } else {
        this.#pending = block;
      }
    }
    return out;
  }

  /** Handles a whole header block; returns what `push` returns when the connection was just decided "not ours". */
  #afterBlock(block: PendingBlock, out: Buffer[]): Buffer[] | undefined {
    const result = this.#complete(block, out);
    if (result === 'rewritten') return undefined;
    if (result === 'native' && this.#ackPending) {
      // Nothing more to rewrite, but the preface's ACK is still to come.
      this.#mode = 'native-ack';
      this.#decoder = undefined;
      return undefined;
    }
    return this.#passThrough(out);
  }

  /**
   * Rewritten: the block went to `out`. Otherwise its frames are back at the
   * front of the buffer: "native" (no path authority), "malformed" (nghttp2
   * judges it).
   */
  #complete(block: PendingBlock, out: Buffer[]): 'rewritten' | 'native' | 'malformed' {
    let fields: HeaderField[];
    try {
      fields = this.#decoder!.decode(Buffer.concat(block.fragments));
    } catch (err) {
      if (this.#mode === 'rewrite') throw err;
      // Not ours to judge: nghttp2 sees the original bytes and answers them.
      this.#buf = Buffer.concat([...block.frames, this.#buf]);
      return 'malformed';
    }
    if (this.#mode === 'undecided') {
      const authority = fields.find((f) => f.name === ':authority');
      if (authority === undefined || !authority.value.startsWith('/')) {
        this.#buf = Buffer.concat([...block.frames, this.#buf]);
        return 'native';
      }
      this.#mode = 'rewrite';
    }
    const rewritten = fields.map((f) =>
      f.name === ':authority' && f.value.startsWith('/') ? { ...f, value: UDS_AUTHORITY } : f,
    );
    let encoded = encodeLiterals(rewritten);
    const prefix = block.priority ?? Buffer.alloc(0);
    // First frame: HEADERS (priority fields kept, padding dropped); the rest CONTINUATIONs.
    let room = MAX_FRAME - prefix.length;
    let type = HEADERS;
    let flags = (block.flags & (END_STREAM | PRIORITY));
    let head = prefix;
    for (;;) {
      const part = encoded.subarray(0, room);
      encoded = encoded.subarray(part.length);
      const last = encoded.length === 0;
      out.push(frame(type, flags | (last ? END_HEADERS : 0), block.streamId, Buffer.concat([head, part])));
      if (last) return 'rewritten';
      type = CONTINUATION;
      flags = 0;
      head = Buffer.alloc(0);
      room = MAX_FRAME;
    }
  }

  #unexpected(out: Buffer[], why: string): Buffer[] {
    if (this.#mode === 'rewrite') throw new HpackError(why);
    if (this.#pending) this.#buf = Buffer.concat([...this.#pending.frames, this.#buf]);
    return this.#passThrough(out);
  }

  #passThrough(out: Buffer[]): Buffer[] {
    this.#mode = 'passthrough';
    this.#pending = undefined;
    this.#decoder = undefined;
    if (this.#buf.length > 0) out.push(this.#buf);
    this.#buf = Buffer.alloc(0);
    return out;
  }
}

/**
 * What the server writes first on every connection, before any HTTP/2 server
 * has it: the server connection preface, an empty SETTINGS frame (RFC 9113
 * §3.4). Clients that wait for it before their first request (grpc-go,
 * grpc-js, gRPC C-core) would otherwise never send the request we wait for.
 */
export const SERVER_PREFACE = frame(SETTINGS, 0, 0, Buffer.alloc(0));

/**
 * What a connection may send before it is decided and handed over. A client
 * can send at most one flow-control window of DATA (65,535 bytes: our
 * preface leaves the defaults) before the HTTP/2 server answers, plus header
 * blocks, and it acknowledges our preface as soon as it reads it.
 */
const MAX_SNIFF_BYTES = 1024 * 1024;

/**
 * The transcoder for a connection whose first request had a path authority:
 * a Duplex for a grpc-js connection injector, `first` and then what the
 * client sends (through `filter`, which has decided "rewrite") on the read
 * side; what the server writes goes to the socket as is. Ending, errors and
 * destruction follow the socket.
 */
function transcode(socket: Socket, filter: AuthorityFilter, first: readonly Buffer[]): Duplex {
  const wrapper: Duplex = new Duplex({
    allowHalfOpen: true,
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      socket.write(chunk, callback);
    },
    final(callback) {
      socket.end(callback);
    },
    destroy(err, callback) {
      socket.destroy();
      callback(err);
    },
  });
  for (const b of first) wrapper.push(b);
  socket.on('data', (chunk: Buffer) => {
    let out: Buffer[];
    try {
      out = filter.push(chunk);
    } catch (err) {
      socket.destroy(err as Error);
      return;
    }
    let more = true;
    for (const b of out) more = wrapper.push(b);
    if (!more) socket.pause();
  });
  socket.on('end', () => wrapper.push(null));
  socket.on('close', () => wrapper.destroy());
  return wrapper;
}

/** The subset of a pino logger the injector uses. */
export interface PathAuthorityLogger {
  debug(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
}

export interface PathAuthorityInjector {
  /**
   * Takes an accepted Unix socket whose `remoteAddress` was stamped with
   * `peerAddress` (see peer.ts), and hands it to grpc-js once its first
   * request has been seen: the socket itself, or its transcoder.
   */
  inject(socket: Socket, peerAddress: string): void;
  /** Destroys the connections not yet handed to grpc-js, now and from now on. */
  close(): void;
}

/** A grpc-js server: what pathAuthorityInjector needs of it. */
export interface InjectableServer {
  createConnectionInjector(credentials: ServerCredentials): { injectConnection(connection: Duplex): void };
}

/**
 * Clients that read one response of a stream and cancel it (go-spiffe's
 * FetchX509SVID, FetchX509Bundles, FetchJWTBundles) send one RST_STREAM per
 * call. Node's HTTP/2 server answers more than 1,000 resets in a burst (then
 * 33/s) with GOAWAY, its guard against the "rapid reset" attack, so a
 * workload polling in a loop would lose its connection and in-flight calls;
 * SPIRE's Go server has no such limit. A stream's handler costs the agent
 * far more than a reset, so an honest client cannot reach these bounds;
 * a client resetting streams without waiting for them still can.
 */
const STREAM_RESET_BURST = 10_000;
const STREAM_RESET_RATE = 5_000;

/** Raises nghttp2's reset limit of the sessions `h2` creates (grpc-js does not pass these options through). */
function relaxStreamResetLimit(h2: object): void {
  // Node reads a server's options object when it creates each session.
  const key = Object.getOwnPropertySymbols(h2).find((s) => s.description === 'options');
  const opts = key === undefined ? undefined : (h2 as Record<symbol, unknown>)[key];
  if (opts !== null && typeof opts === 'object') Object.assign(opts, { streamResetBurst: STREAM_RESET_BURST, streamResetRate: STREAM_RESET_RATE });
}

/**
 * Connections go into `grpcServer` through a connection injector, as
 * described at the top of this file.
 *
 * Caller identity: grpc-js reports `session.socket.remoteAddress` as a
 * call's peer. A socket handed over as it is reports the address
 * uds-server stamped on it (SO_PEERCRED, see peer.ts). A transcoder's
 * session sits on Node's own JSStreamSocket, whose peer name is unset; it
 * is set when the injector's HTTP/2 server announces the session (found in
 * grpc-js's http2Servers). Either way a session that does not then report
 * the connection's peer address, or that we did not hand over, is
 * destroyed: calls never run with an unknown or wrong peer. If grpc-js no
 * longer shows its HTTP/2 server, path-authority clients are refused (with
 * a warning) and every other client is served as before.
 */
export function pathAuthorityInjector(
  grpcServer: InjectableServer,
  options: {
    logger?: PathAuthorityLogger;
    onRewrite?: (peerAddress: string) => void;
    /** A connection that has not sent its first request (and our preface's ACK) within this is closed. */
    firstRequestTimeoutMs?: number;
    clock?: Clock;
  } = {},
): PathAuthorityInjector {
  const { logger, onRewrite, firstRequestTimeoutMs } = options;
  const clock = options.clock ?? systemClock;
  // grpc-js keeps its HTTP/2 servers in http2Servers; the injector's is the one it adds.
  const serversOf = (): unknown[] => {
    const servers = (grpcServer as { http2Servers?: unknown }).http2Servers;
    return servers instanceof Map ? [...servers.keys()] : [];
  };
  const before = new Set(serversOf());
  const injector = grpcServer.createConnectionInjector(ServerCredentials.createInsecure());
  const added = serversOf().filter((s) => !before.has(s));
  const h2 = added.length === 1 && added[0] instanceof EventEmitter ? added[0] : undefined;
  if (h2 === undefined) {
    logger?.warn({}, 'Cannot find the grpc-js HTTP/2 server of the connection injector; clients that send the socket path as :authority (grpc-java) will be refused');
  } else {
    relaxStreamResetLimit(h2);
  }

  // The connection being handed to grpc-js: its HTTP/2 session is created,
  // and announced, synchronously within injectConnection.
  let handing: { peer: string; native: boolean } | undefined;
  h2?.prependListener('session', (session: { socket: { remoteAddress?: string; _peername?: unknown }; destroy(): void }) => {
    const expected = handing;
    handing = undefined;
    if (expected === undefined) {
      session.destroy();
      return;
    }
    const socket = session.socket;
    if (!expected.native) socket._peername = { address: expected.peer };
    if (socket.remoteAddress !== expected.peer) session.destroy();
  });
  const handOver = (socket: Socket, connection: Socket | Duplex, peer: string, native: boolean): void => {
    handing = { peer, native };
    try {
      injector.injectConnection(connection);
    } catch (err) {
      logger?.warn({ err, peer }, 'Failed to hand a connection to grpc-js; closing it');
      socket.destroy();
    } finally {
      handing = undefined;
    }
  };

  const sniffing = new Set<Socket>();
  let closed = false;

  const inject = (socket: Socket, peerAddress: string): void => {
    if (closed) {
      socket.destroy();
      return;
    }
    const filter = new AuthorityFilter({ serverPrefaceSent: true });
    const held: Buffer[] = [];
    let heldBytes = 0;
    // A connection that never sends a request would hold a socket (and a file descriptor) forever.
    const deadline =
      firstRequestTimeoutMs === undefined
        ? undefined
        : clock.setTimeout(() => {
            stop();
            logger?.debug({ peer: peerAddress }, 'Client sent no request in time; closing connection');
            socket.destroy();
          }, firstRequestTimeoutMs);
    const stop = (): void => {
      deadline?.cancel();
      sniffing.delete(socket);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', stop);
    };
    const onData = (chunk: Buffer): void => {
      let out: Buffer[];
      try {
        out = filter.push(chunk);
      } catch (err) {
        stop();
        socket.destroy(err as Error);
        return;
      }
      for (const b of out) {
        held.push(b);
        heldBytes += b.length;
      }
      if (filter.passingThrough) {
        // The native path: nghttp2 gets the socket itself, and reads what
        // we read (all of it, minus our preface's ACK) back from its buffer
        // first (Node's Http2Session does, for data already buffered).
        stop();
        socket.pause();
        if (heldBytes > 0) socket.unshift(held.length === 1 ? held[0]! : Buffer.concat(held));
        handOver(socket, socket, peerAddress, true);
      } else if (filter.rewriting) {
        stop();
        onRewrite?.(peerAddress);
        if (h2 === undefined) {
          socket.destroy();
          return;
        }
        handOver(socket, transcode(socket, filter, held), peerAddress, false);
      } else if (heldBytes + filter.bufferedBytes > MAX_SNIFF_BYTES) {
        stop();
        logger?.debug({ peer: peerAddress }, 'Client sent too much before its first request and our preface\'s ACK; closing connection');
        socket.destroy();
      }
    };
    // A client that ends before its first request gets nothing: there is nothing to answer.
    const onEnd = (): void => {
      stop();
      socket.destroy();
    };
    sniffing.add(socket);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', stop);
    socket.write(SERVER_PREFACE);
  };

  return {
    inject,
    close() {
      closed = true;
      for (const socket of sniffing) socket.destroy();
      sniffing.clear();
    },
  };
}
