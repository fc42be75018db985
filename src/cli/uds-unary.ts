// One unary gRPC call over a Unix socket with node:http2 alone, for the CLI
// calls that must start quickly (`healthcheck`: liveness probes run it every
// few seconds). grpc-js and protobufjs cost such a call ~50 ms of CPU to
// load and set up (npm run bench:startup); this is the part of the gRPC
// protocol a unary call on a local socket uses: one request message, the
// response message, the status from the trailers (or a trailers-only
// response), the deadline, and a connection error in Go's words.
// The messages are encoded by the caller (health-check.ts).
import { connect as http2Connect, constants as h2 } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { GrpcCode } from '../common/errors.ts';

const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/** A gRPC status other than OK, shaped as grpc-js's ServiceError (code, details) so that describeError prints it as SPIRE does. */
export class UdsCallError extends Error {
  readonly code: number;
  readonly details: string;
  /** The errno of a failed connect (ENOENT, ECONNREFUSED …), for "is the server running?". */
  readonly connectErrno: string | undefined;

  constructor(code: number, details: string, connectErrno?: string) {
    super(`${code} ${details}`);
    this.name = 'UdsCallError';
    this.code = code;
    this.details = details;
    this.connectErrno = connectErrno;
  }
}

/** What Go's dialer says for a connect errno (SPIRE's CLI prints it). */
export function errnoText(code: string): string {
  switch (code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'EACCES':
      return 'permission denied';
    default:
      return code;
  }
}

/** The status of a response without grpc-status (gRPC's HTTP-to-gRPC status mapping). */
function statusOfHttp(status: number): number {
  switch (status) {
    case 400:
      return GrpcCode.INTERNAL;
    case 401:
      return GrpcCode.UNAUTHENTICATED;
    case 403:
      return GrpcCode.PERMISSION_DENIED;
    case 404:
      return GrpcCode.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcCode.UNAVAILABLE;
    default:
      return GrpcCode.UNKNOWN;
  }
}

/** grpc-message is percent-encoded (gRPC over HTTP/2); a malformed one is kept as sent. */
function decodeMessage(raw: unknown): string {
  if (typeof raw !== 'string') return '';
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/**
 * Calls `path` (`/package.Service/Method`) on the gRPC server listening on
 * `socketPath` with the encoded `request`; resolves with the encoded
 * response, rejects with a UdsCallError (DEADLINE_EXCEEDED after
 * `deadlineMs`, UNAVAILABLE when the socket cannot be reached).
 */
export function udsUnary(socketPath: string, path: string, request: Uint8Array, deadlineMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let done = false;
    // The authority grpc-js sends for unix: targets.
    const session = http2Connect('http://localhost', { createConnection: () => netConnect(socketPath) });
    const finish = (err: UdsCallError | undefined, res?: Buffer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      session.destroy();
      if (err) reject(err);
      else resolve(res!);
    };
    const timer = setTimeout(() => finish(new UdsCallError(GrpcCode.DEADLINE_EXCEEDED, 'Deadline exceeded')), deadlineMs);
    session.on('error', (err: NodeJS.ErrnoException) => {
      const errno = err.syscall === 'connect' ? err.code : undefined;
      const details = errno ? `connection error: desc = "transport: Error while dialing: dial unix ${socketPath}: connect: ${errnoText(errno)}"` : `connection error: ${err.message}`;
      finish(new UdsCallError(GrpcCode.UNAVAILABLE, details, errno));
    });

    const frame = Buffer.alloc(5 + request.length);
    frame.writeUInt32BE(request.length, 1);
    frame.set(request, 5);
    const stream = session.request({
      [h2.HTTP2_HEADER_METHOD]: 'POST',
      [h2.HTTP2_HEADER_PATH]: path,
      [h2.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
      [h2.HTTP2_HEADER_TE]: 'trailers',
      'grpc-timeout': `${Math.max(1, Math.ceil(deadlineMs))}m`,
    });
    const chunks: Buffer[] = [];
    let httpStatus = 0;
    // A trailers-only response carries grpc-status in its headers.
    let status: { code: number; message: string } | undefined;
    const statusOf = (h: Record<string, unknown>) => (h['grpc-status'] === undefined ? undefined : { code: Number(h['grpc-status']), message: decodeMessage(h['grpc-message']) });
    stream.on('response', (headers) => {
      httpStatus = Number(headers[h2.HTTP2_HEADER_STATUS]);
      status = statusOf(headers);
    });
    let received = 0;
    stream.on('data', (d: Buffer) => {
      received += d.length;
      chunks.push(d);
      // grpc-js's default limit on a received message: a server that streams on is cut off, not buffered.
      if (received > MAX_RESPONSE_BYTES + 5) finish(new UdsCallError(GrpcCode.RESOURCE_EXHAUSTED, `Received message larger than max (${received - 5} vs. ${MAX_RESPONSE_BYTES})`));
    });
    stream.on('trailers', (trailers) => {
      status = statusOf(trailers) ?? status;
    });
    stream.on('error', () => {
      // Reported by 'close' (RST_STREAM code) or by the session's 'error'.
    });
    stream.on('close', () => {
      if (done) return;
      if (!status) {
        if (httpStatus !== 0 && httpStatus !== 200) return finish(new UdsCallError(statusOfHttp(httpStatus), `Received HTTP status code ${httpStatus}`));
        // Let a connect error (the session's 'error', emitted after this) name the cause.
        return setImmediate(() => finish(new UdsCallError(GrpcCode.UNAVAILABLE, stream.rstCode ? `Received RST_STREAM with code ${stream.rstCode}` : 'the server closed the stream without a status')));
      }
      if (!Number.isInteger(status.code) || status.code < 0) return finish(new UdsCallError(GrpcCode.UNKNOWN, `invalid grpc-status ${JSON.stringify(status.code)}`));
      if (status.code !== GrpcCode.OK) return finish(new UdsCallError(status.code, status.message));
      const body = Buffer.concat(chunks);
      if (body.length < 5) return finish(new UdsCallError(GrpcCode.INTERNAL, 'the server sent no response message'));
      // We send no grpc-accept-encoding, so the server must not compress.
      if (body[0] !== 0) return finish(new UdsCallError(GrpcCode.INTERNAL, 'the server sent a compressed message that was not asked for'));
      const len = body.readUInt32BE(1);
      if (body.length !== 5 + len) return finish(new UdsCallError(GrpcCode.INTERNAL, `a unary response holds one message: ${body.length - 5} bytes received, ${len} announced`));
      finish(undefined, body.subarray(5));
    });
    stream.end(frame);
  });
}
