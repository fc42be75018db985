// grpc.health.v1.Health/Check for the CLIs' `healthcheck`, over uds-unary.ts:
// without grpc-js or protobufjs, the two messages are encoded here (the
// request's one string, the response's one enum; proto/grpc/health/v1/health.proto).
import { udsUnary } from './uds-unary.ts';

/** HealthCheckResponse.ServingStatus names, as the loader's `enums: String` gives them. */
const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;

/** HealthCheckRequest { string service = 1; } */
export function encodeHealthCheckRequest(service: string): Uint8Array {
  if (service === '') return new Uint8Array(0);
  const s = Buffer.from(service, 'utf8');
  return Buffer.concat([Buffer.from([0x0a]), varint(s.length), s]);
}

/** HealthCheckResponse { ServingStatus status = 1; }: the status name, or its number for one this table does not know. */
export function decodeHealthCheckResponse(buf: Uint8Array): string {
  let status = 0;
  let i = 0;
  const read = (): number => {
    let v = 0;
    for (let shift = 0; ; shift += 7) {
      if (i >= buf.length || shift > 63) throw new Error('health: truncated varint in HealthCheckResponse');
      const b = buf[i++]!;
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
    }
  };
  while (i < buf.length) {
    const tag = read();
    const field = Math.floor(tag / 8);
    switch (tag & 7) {
      case 0: {
        const v = read();
        if (field === 1) status = v;
        break;
      }
      case 1:
        i += 8;
        break;
      case 2: {
        // Not `i += read()`: that adds to i as it was before the length was read.
        const len = read();
        i += len;
        break;
      }
      case 5:
        i += 4;
        break;
      default:
        throw new Error(`health: wire type ${tag & 7} in HealthCheckResponse`);
    }
    if (i > buf.length) throw new Error('health: truncated HealthCheckResponse');
  }
  return SERVING_STATUS[status] ?? String(status);
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

/** The serving status of `service` ('' = the whole server) of the gRPC server on `socketPath`. */
export async function checkHealth(socketPath: string, deadlineMs: number, service = ''): Promise<string> {
  return decodeHealthCheckResponse(await udsUnary(socketPath, '/grpc.health.v1.Health/Check', encodeHealthCheckRequest(service), deadlineMs));
}
