// Flags and helpers every admin-socket command shares: -socketPath and
// -output (SPIRE's `pretty` or `json`).
import { HeraldError } from '../../common/errors.ts';
import type { ServiceName } from '../../common/grpc/protos.ts';
import type { CliIo } from '../command.ts';
import { checkAdminSocket, grpcCodeName, udsClient, type Client } from '../grpc-client.ts';

export const DEFAULT_ADMIN_SOCKET = '/tmp/herald-server/private/api.sock';

export const adminFlags = {
  socketPath: { type: 'string', usage: 'Path to the Herald server admin API socket', default: DEFAULT_ADMIN_SOCKET },
  output: { type: 'string', usage: "Desired output format (pretty, json); default: pretty.", default: 'pretty' },
} as const;

export type OutputFormat = 'pretty' | 'json';

export function outputFormat(value: string): OutputFormat {
  if (value === 'pretty' || value === 'json') return value;
  throw new HeraldError('ERR_INVALID_ARGUMENT_OUTPUT', `invalid output format "${value}": want pretty or json`);
}

/** Opens clients for `services` on the admin socket; `close` ends them all. */
export function adminClients<const N extends readonly ServiceName[]>(socketPath: string, ...services: N): { clients: Client[]; close(): void } {
  checkAdminSocket(socketPath, 'server');
  const clients = services.map((s) => udsClient(s, socketPath));
  return { clients, close: () => clients.forEach((c) => c.close()) };
}

/** JSON output: the wire response, Buffers as base64 (protojson's bytes). */
export function printJson(io: CliIo, value: unknown): void {
  io.stdout.write(JSON.stringify(value, (_k, v) => (v && v.type === 'Buffer' && Array.isArray(v.data) ? Buffer.from(v.data).toString('base64') : v), 2) + '\n');
}

export function requireFlag(value: string | undefined, name: string): string {
  if (!value) throw new HeraldError('ERR_INVALID_ARGUMENT_FLAG', `${name} must be set`);
  return value;
}

/** Prints a batch result's failure as SPIRE does and turns it into exit code 1. */
export function batchFailed(io: CliIo, what: string, status: { code: number; message: string }): boolean {
  if (status.code === 0) return false;
  io.stderr.write(`Failed to ${what}: ${status.message} (code: ${grpcCodeName(status.code)})\n`);
  return true;
}
