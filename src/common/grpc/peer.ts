// Who is on the other end of a Unix domain socket, and how a gRPC handler
// finds out. The kernel records the connecting process's pid/uid/gid
// (SO_PEERCRED); the uds-server reads them when it accepts a connection and
// stamps them on the socket as its peer address, which grpc-js hands to
// handlers and interceptors through `call.getPeer()`. Nothing is kept in a
// table, so there is nothing to leak or to look up in the wrong server.

import type { Socket } from 'node:net';
import { getPeerCred } from '@herald/peercred';
import { HeraldError } from '../errors.ts';
import { processStartTimeSync } from './process-start-time.ts';

/** Credentials of the process that connected to a Unix domain socket. */
export interface PeerCredentials {
  /** Process id of the caller when it called connect(). */
  readonly pid: number;
  /** Effective user id of the caller when it called connect(). */
  readonly uid: number;
  /** Effective group id of the caller when it called connect(). */
  readonly gid: number;
  /**
   * Start time of `pid` (clock ticks since boot, /proc/PID/stat field 22),
   * read when the connection was accepted; undefined if the process was
   * already gone. Compare with `processStartTime(pid)` after attestation to
   * make sure the pid was not reused by another process in between.
   */
  readonly startTime: number | undefined;
}

/** Anything that exposes grpc-js's `getPeer()`: every server call and interceptor call. */
export interface PeerAddressSource {
  getPeer(): string;
}

export const PeerErrorCode = {
  /** The accepted socket has no readable file descriptor. */
  FD_UNAVAILABLE: 'ERR_PEER_FD_UNAVAILABLE',
  /** getsockopt(SO_PEERCRED) failed. */
  CREDENTIALS_UNAVAILABLE: 'ERR_PEER_CREDENTIALS_UNAVAILABLE',
} as const;
export type PeerErrorCode = (typeof PeerErrorCode)[keyof typeof PeerErrorCode];

export class PeerError extends HeraldError {
  declare readonly code: PeerErrorCode;

  constructor(code: PeerErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, `grpc: ${message}`, options);
  }
}

/** Prefix of the peer address the uds-server gives accepted sockets. */
export const UDS_PEER_PREFIX = 'herald-uds:';

const MAX_ID = 0xffff_ffff;

/**
 * The OS file descriptor of an accepted `net.Socket` (Linux, libuv Pipe or
 * TCP handle: `socket._handle.fd`). Throws PeerError FD_UNAVAILABLE when the
 * socket has no handle (destroyed, or a JS-only stream) or the platform does
 * not expose the descriptor.
 */
export function socketFd(socket: Socket): number {
  if (socket === null || typeof socket !== 'object') {
    throw new TypeError('grpc: socketFd expects a net.Socket');
  }
  const handle: unknown = (socket as unknown as { _handle?: unknown })._handle;
  const fd: unknown =
    handle !== null && typeof handle === 'object' ? (handle as { fd?: unknown }).fd : undefined;
  if (typeof fd !== 'number' || !Number.isInteger(fd) || fd < 0) {
    throw new PeerError(
      PeerErrorCode.FD_UNAVAILABLE,
      `cannot read the file descriptor of the socket (socket._handle.fd is ${describe(fd)}${
        socket.destroyed ? ', socket destroyed' : ''
      })`,
    );
  }
  return fd;
}

/**
 * Reads SO_PEERCRED from an accepted Unix domain socket and the start time of
 * the peer process. Throws PeerError when the credentials cannot be read.
 */
export function readPeerCredentials(socket: Socket): PeerCredentials {
  const fd = socketFd(socket);
  let cred: { pid: number; uid: number; gid: number };
  try {
    cred = getPeerCred(fd);
  } catch (err) {
    throw new PeerError(
      PeerErrorCode.CREDENTIALS_UNAVAILABLE,
      `cannot read peer credentials: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  // pid 0: the peer is outside our pid namespace (or not a process, e.g. a
  // socketpair made by the kernel); there is no process to look at.
  const startTime = cred.pid > 0 ? processStartTimeSync(cred.pid) : undefined;
  return Object.freeze({ pid: cred.pid, uid: cred.uid, gid: cred.gid, startTime });
}

/** The peer address string for a connection with these credentials. */
export function formatPeerAddress(creds: PeerCredentials): string {
  const start = creds.startTime === undefined ? '' : `;start=${creds.startTime}`;
  return `${UDS_PEER_PREFIX}pid=${creds.pid};uid=${creds.uid};gid=${creds.gid}${start}`;
}

const PEER_ADDRESS = /^herald-uds:pid=(\d{1,10});uid=(\d{1,10});gid=(\d{1,10})(?:;start=(\d{1,16}))?$/;

/** Parses a string made by formatPeerAddress; undefined for any other string. */
export function parsePeerAddress(peer: string): PeerCredentials | undefined {
  const m = PEER_ADDRESS.exec(peer);
  if (m === null) return undefined;
  const pid = Number(m[1]);
  const uid = Number(m[2]);
  const gid = Number(m[3]);
  if (pid > MAX_ID || uid > MAX_ID || gid > MAX_ID) return undefined;
  const startTime = m[4] === undefined ? undefined : Number(m[4]);
  return Object.freeze({ pid, uid, gid, startTime });
}

/**
 * The caller's credentials for a call served by a uds-server; undefined for
 * calls that arrived any other way (TCP, a plain grpc-js bound port). Works
 * on server calls in handlers and on interceptor calls alike.
 */
export function peerCredentials(call: PeerAddressSource): PeerCredentials | undefined {
  return parsePeerAddress(call.getPeer());
}

/**
 * Makes grpc-js report `creds` as the peer of every call on `socket`:
 * `call.getPeer()` reads `session.socket.remoteAddress`, which for a Unix
 * socket client is otherwise empty ("unknown").
 */
export function stampPeerAddress(socket: Socket, creds: PeerCredentials): void {
  Object.defineProperty(socket, 'remoteAddress', {
    value: formatPeerAddress(creds),
    enumerable: true,
    configurable: false,
    writable: false,
  });
}

function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'number') return String(value);
  return typeof value;
}
