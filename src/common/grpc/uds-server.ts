// A grpc-js server on a Unix domain socket whose handlers know who called.
// We listen with net ourselves so that each accepted connection can be asked
// for SO_PEERCRED before it is handed to grpc-js through a connection
// injector; handlers then read the caller with `peerCredentials(call)`.
//
// The socket file is made safely: a stale file left by a dead process is
// removed, a live server is never displaced, and the socket only appears at
// socket_path once it has its final mode (bound in a private directory,
// chmod'ed, then hard-linked into place).

import { mkdir } from 'node:fs/promises';
import net from 'node:net';
import { dirname, isAbsolute } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { type Clock, systemClock } from '../clock.ts';
import { formatPeerAddress, type PeerCredentials, readPeerCredentials, stampPeerAddress } from './peer.ts';
import { pathAuthorityInjector } from './uds-authority.ts';
import {
  bindSocket,
  checkSocketDirectory,
  type FileIdentity,
  MAX_SOCKET_PATH_BYTES,
  removeStaleSocket,
  UdsServerError,
  UdsServerErrorCode,
  unlinkIfOurs,
} from './uds-socket-file.ts';

export { MAX_SOCKET_PATH_BYTES, UdsServerError, UdsServerErrorCode } from './uds-socket-file.ts';

/** A service to serve: a grpc-js service definition and its handlers. */
export interface UdsService {
  readonly definition: grpc.ServiceDefinition;
  readonly implementation: grpc.UntypedServiceImplementation;
}

/** The subset of a pino logger the server uses. */
export interface UdsServerLogger {
  debug(fields: object, msg: string): void;
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
}

export interface UdsServerOptions {
  /** Absolute path of the socket file; its directory is created if missing. */
  readonly socketPath: string;
  /**
   * Permission bits of the socket file. Connecting needs write permission:
   * 0o777 lets every local user connect (Workload API), 0o600 only the owner,
   * 0o660/0o770 the owner and group (admin socket).
   */
  readonly mode: number;
  /**
   * An admin socket: its directory (and the ones above) must be safe from
   * other local users (see checkSocketDirectory), unless the operator set
   * HERALD_ALLOW_INSECURE_SOCKET_DIR=1. Not for the Workload API socket,
   * which every local user may reach by design.
   */
  readonly privateDirectory?: boolean;
  readonly services: readonly UdsService[];
  /** grpc-js server options (interceptors, message size limits, ...). */
  readonly grpcOptions?: grpc.ServerOptions;
  readonly logger?: UdsServerLogger;
  /** Clock for close() grace timers. Default: the system clock. */
  readonly clock?: Clock;
  /** Bound on the "is a live server on this path?" probe. Default 1000 ms. */
  readonly probeTimeoutMs?: number;
  /** Bounds on connections (none by default). */
  readonly limits?: UdsConnectionLimits;
}

/**
 * Bounds on the connections a socket holds. A connection over a bound is
 * closed as soon as it is accepted (its client sees the connection reset);
 * refusals are counted and logged at most once a minute.
 */
export interface UdsConnectionLimits {
  /** Connections open at once. */
  readonly maxConnections?: number;
  /** Connections open at once from one uid (SO_PEERCRED). */
  readonly maxConnectionsPerUid?: number;
  /** A connection that has not sent its first request within this is closed. */
  readonly firstRequestTimeoutMs?: number;
}

export interface UdsServer {
  readonly socketPath: string;
  /** The grpc-js server (for channelz, or registering services late). */
  readonly grpcServer: grpc.Server;
  /** Accepted connections not yet closed. */
  readonly connectionCount: number;
  /** Connections closed at accept because a limit was reached, since the start. */
  readonly refusedConnections: number;
  /**
   * Stops accepting connections, removes the socket file and lets in-flight
   * calls finish. With `graceMs`, whatever is still open after that long is
   * force-closed (long-lived streams otherwise hold close() open forever).
   */
  close(graceMs?: number): Promise<void>;
  /** Stops accepting, removes the socket file and drops every connection now. */
  forceClose(): Promise<void>;
}

const DEFAULT_PROBE_TIMEOUT_MS = 1000;

const silentLogger: UdsServerLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
};

/** Starts serving `services` on a Unix socket at `socketPath`. */
export async function startUdsServer(options: UdsServerOptions): Promise<UdsServer> {
  validateOptions(options);
  const { socketPath, mode } = options;
  const logger = options.logger ?? silentLogger;
  const clock = options.clock ?? systemClock;

  // channelz bookkeeping costs a few percent per call and nothing reads it.
  const grpcServer = new grpc.Server({ 'grpc.enable_channelz': 0, ...options.grpcOptions });
  for (const service of options.services) {
    grpcServer.addService(service.definition, service.implementation);
  }
  // Connections go in through pathAuthorityInjector so that clients sending
  // the socket path as :authority (grpc-java: java-spiffe) are not reset by
  // nghttp2; every other connection is handed to grpc-js as the socket it
  // is. See uds-authority.ts.
  const limits = options.limits ?? {};
  const injector = pathAuthorityInjector(grpcServer, {
    logger,
    clock,
    ...(limits.firstRequestTimeoutMs !== undefined ? { firstRequestTimeoutMs: limits.firstRequestTimeoutMs } : {}),
    onRewrite: (peer) => logger.debug({ peer, socket_path: socketPath }, 'Client sends the socket path as :authority; rewriting its headers'),
  });

  const connections = new Set<net.Socket>();
  const perUid = new Map<number, number>();
  let refused = 0;
  let lastRefusalLog = -Infinity;
  /** The limit `creds` would exceed, if any. */
  const overLimit = (creds: PeerCredentials): string | undefined => {
    if (limits.maxConnections !== undefined && connections.size >= limits.maxConnections) return `max_connections (${limits.maxConnections})`;
    if (limits.maxConnectionsPerUid !== undefined && (perUid.get(creds.uid) ?? 0) >= limits.maxConnectionsPerUid) return `max_connections_per_uid (${limits.maxConnectionsPerUid})`;
    return undefined;
  };
  const refuse = (socket: net.Socket, creds: PeerCredentials, limit: string): void => {
    refused++;
    socket.destroy();
    // One line a minute at most: a connection loop would otherwise flood the log.
    const now = clock.now();
    if (now - lastRefusalLog < 60_000) return;
    lastRefusalLog = now;
    logger.warn({ socket_path: socketPath, caller_uid: creds.uid, caller_pid: creds.pid, limit, refused_connections: refused }, 'Connection limit reached; closing new connections');
  };
  const netServer = net.createServer();
  netServer.on('connection', (socket: net.Socket) => {
    let creds: PeerCredentials;
    try {
      creds = readPeerCredentials(socket);
    } catch (err) {
      logger.warn({ err, socket_path: socketPath }, 'Failed to read peer credentials; closing connection');
      socket.destroy();
      return;
    }
    const limit = overLimit(creds);
    if (limit !== undefined) {
      refuse(socket, creds, limit);
      return;
    }
    stampPeerAddress(socket, creds);
    connections.add(socket);
    perUid.set(creds.uid, (perUid.get(creds.uid) ?? 0) + 1);
    socket.once('close', () => {
      connections.delete(socket);
      const n = (perUid.get(creds.uid) ?? 1) - 1;
      if (n === 0) perUid.delete(creds.uid);
      else perUid.set(creds.uid, n);
    });
    // http2 reports session errors itself; this keeps a reset from a peer
    // that vanished from ever being an unhandled 'error' event.
    socket.on('error', (err) => logger.debug({ err, caller_pid: creds.pid }, 'Connection error'));
    injector.inject(socket, formatPeerAddress(creds));
  });
  const netClosed = new Promise<void>((resolve) => netServer.once('close', () => resolve()));

  let identity: FileIdentity;
  try {
    await mkdir(dirname(socketPath), { recursive: true, mode: options.privateDirectory ? 0o750 : 0o777 });
    if (options.privateDirectory) checkSocketDirectory(dirname(socketPath), 'admin socket', logger);
    await removeStaleSocket(socketPath, options.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS, logger);
    identity = await bindSocket(netServer, socketPath, mode);
  } catch (err) {
    grpcServer.forceShutdown();
    throw err;
  }
  netServer.on('error', (err) => logger.warn({ err, socket_path: socketPath }, 'Failed to accept connection'));
  logger.info({ socket_path: socketPath, mode: mode.toString(8) }, 'Listening on Unix socket');

  let stopped: Promise<void> | undefined;
  const stopListening = (): Promise<void> => {
    stopped ??= (async () => {
      netServer.close();
      await unlinkIfOurs(socketPath, identity, logger);
    })();
    return stopped;
  };

  // net's 'close' can come before the last socket's own 'close' event.
  // (Not events.once: it would reject on a socket's 'error'.)
  const drained = async (): Promise<void> => {
    await netClosed;
    await Promise.all(
      [...connections].map((socket) => new Promise<void>((resolve) => socket.once('close', () => resolve()))),
    );
  };

  const forceClose = async (): Promise<void> => {
    await stopListening();
    injector.close();
    grpcServer.forceShutdown();
    for (const socket of connections) socket.destroy();
    await drained();
  };

  let closing: Promise<void> | undefined;
  const close = (graceMs?: number): Promise<void> => {
    if (graceMs !== undefined && (!Number.isFinite(graceMs) || graceMs < 0)) {
      throw new TypeError('grpc: close graceMs must be a non-negative number');
    }
    closing ??= (async () => {
      await stopListening();
      // tryShutdown sends GOAWAY on every session; each session ends its
      // socket once its last call is done (its callback may come earlier, so
      // it is not what we wait for). Node then waits for the peer to hang up
      // too, which a peer that never reads would never do: drop each socket
      // as soon as our side has finished instead.
      grpcServer.tryShutdown(() => undefined);
      // Connections whose first request has not come yet have no session
      // to be told; they are dropped.
      injector.close();
      for (const socket of connections) {
        if (socket.writableFinished) socket.destroy();
        else socket.once('finish', () => socket.destroy());
      }
      await drained();
    })();
    if (graceMs === undefined) return closing;
    const timer = clock.setTimeout(() => void forceClose(), graceMs);
    return closing.finally(() => timer.cancel());
  };

  return {
    socketPath,
    grpcServer,
    get connectionCount() {
      return connections.size;
    },
    get refusedConnections() {
      return refused;
    },
    close,
    forceClose,
  };
}

function validateOptions(options: UdsServerOptions): void {
  if (options === null || typeof options !== 'object') {
    throw new TypeError('grpc: startUdsServer options must be an object');
  }
  const { socketPath, mode, services } = options;
  if (typeof socketPath !== 'string' || socketPath === '' || !isAbsolute(socketPath)) {
    throw new TypeError(`grpc: socketPath must be an absolute path, got ${JSON.stringify(socketPath)}`);
  }
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) {
    throw new TypeError(`grpc: mode must be permission bits between 0 and 0o777, got ${String(mode)}`);
  }
  if (!Array.isArray(services)) {
    throw new TypeError('grpc: services must be an array');
  }
  const length = Buffer.byteLength(socketPath);
  if (length > MAX_SOCKET_PATH_BYTES) {
    throw new UdsServerError(
      UdsServerErrorCode.PATH_TOO_LONG,
      `socket_path ${socketPath} is ${length} bytes; a Unix socket path is at most ${MAX_SOCKET_PATH_BYTES}`,
    );
  }
}
