// The CLI's grpc-js-free unary client (uds-unary.ts) and its health codec,
// against the daemons' own gRPC server (startUdsServer, grpc-js) on a real
// Unix socket: responses, statuses with their messages, deadlines, and
// sockets that cannot be reached.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkHealth, decodeHealthCheckResponse, encodeHealthCheckRequest } from '../../src/cli/health-check.ts';
import { UdsCallError, udsUnary } from '../../src/cli/uds-unary.ts';
import { serviceDefinition, Services } from '../../src/common/grpc/protos.ts';
import { startUdsServer, type UdsServer } from '../../src/common/grpc/uds-server.ts';
import { makeTempDir } from '../helpers/tmp.ts';

type Handler = (call: grpc.ServerUnaryCall<{ service: string }, unknown>, cb: grpc.sendUnaryData<{ status: string }>) => void;

describe('udsUnary and checkHealth against a grpc-js server', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let server: UdsServer;
  let socketPath: string;
  // Each test sets what Check does.
  let check: Handler = (_call, cb) => cb(null, { status: 'SERVING' });

  beforeAll(async () => {
    tmp = await makeTempDir('herald-udsu-');
    socketPath = join(tmp.path, 'api.sock');
    server = await startUdsServer({
      socketPath,
      mode: 0o600,
      services: [{ definition: serviceDefinition(Services.health), implementation: { Check: (call: Parameters<Handler>[0], cb: Parameters<Handler>[1]) => check(call, cb) } }],
    });
  });

  afterAll(async () => {
    await server?.forceClose();
    await tmp?.cleanup();
  });

  /** The rejection of `p`, which must reject with a UdsCallError. */
  const failure = async (p: Promise<unknown>): Promise<UdsCallError> => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UdsCallError);
    return err as UdsCallError;
  };

  it.each(['SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN', 'UNKNOWN'])('reads the status %s', async (status) => {
    check = (_call, cb) => cb(null, { status });
    expect(await checkHealth(socketPath, 5000)).toBe(status);
  });

  it('sends the service name', async () => {
    let asked: string | undefined;
    check = (call, cb) => {
      asked = call.request.service;
      cb(null, { status: 'SERVING' });
    };
    await checkHealth(socketPath, 5000, 'spire.api.server.agent.v1.Agent');
    expect(asked).toBe('spire.api.server.agent.v1.Agent');
  });

  it('rejects with the status code and the message as the server set them (percent-encoded on the wire)', async () => {
    check = (_call, cb) => cb({ code: grpc.status.FAILED_PRECONDITION, details: 'not ready: 100% "données" ✓' });
    const err = await failure(checkHealth(socketPath, 5000));
    expect({ code: err.code, details: err.details, connectErrno: err.connectErrno }).toEqual({ code: grpc.status.FAILED_PRECONDITION, details: 'not ready: 100% "données" ✓', connectErrno: undefined });
  });

  it('a server that sends more than 4 MiB is cut off with RESOURCE_EXHAUSTED, not buffered', async () => {
    const { createServer } = await import('node:http2');
    const rogue = createServer();
    rogue.on('stream', (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      const chunk = Buffer.alloc(1024 * 1024);
      let sent = 0;
      const more = () => {
        while (sent < 64 && !stream.destroyed) {
          sent++;
          if (!stream.write(chunk)) return void stream.once('drain', more);
        }
      };
      stream.on('error', () => {});
      more();
    });
    const rogueSocket = join(tmp.path, 'rogue.sock');
    await new Promise<void>((r) => rogue.listen(rogueSocket, r));
    try {
      const err = await failure(udsUnary(rogueSocket, '/grpc.health.v1.Health/Check', new Uint8Array(), 10_000));
      expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    } finally {
      await new Promise((r) => rogue.close(r));
    }
  });

  it('a method the server does not have is UNIMPLEMENTED', async () => {
    const err = await failure(udsUnary(socketPath, '/grpc.health.v1.Health/Nope', new Uint8Array(0), 5000));
    expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
  });

  it('a server that does not answer in time is DEADLINE_EXCEEDED, after the deadline', async () => {
    check = () => undefined;
    const t0 = performance.now();
    const err = await failure(checkHealth(socketPath, 300));
    expect({ code: err.code, details: err.details }).toEqual({ code: grpc.status.DEADLINE_EXCEEDED, details: 'Deadline exceeded' });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
  });

  it('a missing socket is UNAVAILABLE, in the words of SPIRE (Go) CLI', async () => {
    const path = join(tmp.path, 'missing.sock');
    const err = await failure(checkHealth(path, 5000));
    expect({ code: err.code, details: err.details, connectErrno: err.connectErrno }).toEqual({
      code: grpc.status.UNAVAILABLE,
      details: `connection error: desc = "transport: Error while dialing: dial unix ${path}: connect: no such file or directory"`,
      connectErrno: 'ENOENT',
    });
  });

  it('a socket nobody listens on is UNAVAILABLE, connection refused', async () => {
    const path = join(tmp.path, 'stale.sock');
    execFileSync('python3', ['-c', `import socket; s=socket.socket(socket.AF_UNIX); s.bind(${JSON.stringify(path)})`]);
    const err = await failure(checkHealth(path, 5000));
    expect({ code: err.code, connectErrno: err.connectErrno }).toEqual({ code: grpc.status.UNAVAILABLE, connectErrno: 'ECONNREFUSED' });
    expect(err.details).toContain(`dial unix ${path}: connect: connection refused`);
  });
});

describe('health messages', () => {
  it('encodes the service name as field 1 (empty: no bytes, as proto3 omits a default)', () => {
    expect(Buffer.from(encodeHealthCheckRequest(''))).toEqual(Buffer.alloc(0));
    expect(Buffer.from(encodeHealthCheckRequest('ab'))).toEqual(Buffer.from([0x0a, 2, 0x61, 0x62]));
    expect(Buffer.from(encodeHealthCheckRequest('x'.repeat(200))).subarray(0, 3)).toEqual(Buffer.from([0x0a, 0xc8, 0x01]));
  });

  it.each([
    ['an empty message: the default, UNKNOWN', [], 'UNKNOWN'],
    ['SERVING', [0x08, 1], 'SERVING'],
    ['a value this table does not know, as its number', [0x08, 9], '9'],
    ['unknown fields skipped (varint, 64-bit, bytes, 32-bit)', [0x10, 0x96, 0x01, 0x19, 1, 2, 3, 4, 5, 6, 7, 8, 0x22, 2, 0x61, 0x62, 0x2d, 1, 2, 3, 4, 0x08, 2], 'NOT_SERVING'],
  ])('decodes %s', (_name, bytes, status) => {
    expect(decodeHealthCheckResponse(Uint8Array.from(bytes as number[]))).toBe(status);
  });

  it.each([
    ['a truncated varint', [0x08, 0x80]],
    ['a truncated length-delimited field', [0x12, 5, 1]],
    ['a group wire type', [0x0b]],
  ])('refuses %s', (_name, bytes) => {
    expect(() => decodeHealthCheckResponse(Uint8Array.from(bytes))).toThrow(/health: /);
  });
});
