// Flags and helpers every admin-socket command shares: -socketPath and
// -output (SPIRE's `pretty` or `json`).
import { readFile } from 'node:fs/promises';
import { GrpcCode, HeraldError, errorMessage } from '../../common/errors.ts';
import { SpiffeId } from '../../spiffe/id.ts';
import { SpireCliError } from './spire-output.ts';
import type { ServiceName } from '../../common/grpc/protos.ts';
import type { WireClient } from '../../common/wire/types.ts';
import type { CliIo } from '../command.ts';
import { checkAdminSocket, grpcCodeName, udsClient, type Client } from '../grpc-client.ts';
import { socketFlag } from './socket-flag.ts';

export { DEFAULT_ADMIN_SOCKET, socketFlag } from './socket-flag.ts';

export const adminFlags = {
  ...socketFlag,
  // SPIRE's cliprinter flag: a flag.Var, so usage shows "value" and no default.
  output: { type: 'string', usage: 'Desired output format (pretty, json); default: pretty.', default: 'pretty', goVar: true },
} as const;

export type OutputFormat = 'pretty' | 'json';

export function outputFormat(value: string): OutputFormat {
  // cliprinter: case-insensitive, "prettyprint" is pretty.
  const v = value.toLowerCase();
  if (v === 'pretty' || v === 'prettyprint') return 'pretty';
  if (v === 'json') return 'json';
  throw new HeraldError('ERR_INVALID_ARGUMENT_OUTPUT', `invalid output format "${value}": want pretty or json`);
}

/** SPIRE's spiffeid.FromString, its error text without Herald's "spiffeid: " prefix. */
export function parseSpiffeId(s: string): { trust_domain: string; path: string } {
  try {
    const id = SpiffeId.fromString(s);
    return { trust_domain: id.trustDomain.name, path: id.path };
  } catch (err) {
    throw new SpireCliError(errorMessage(err).replace(/^spiffeid: /, ''), { cause: err });
  }
}

/** serverutil.ParseSelector: everything after the first ":" is the value. */
export function parseCliSelector(s: string): { type: string; value: string } {
  const i = s.indexOf(':');
  if (i < 0) throw new SpireCliError(`selector "${s}" must be formatted as type:value`);
  return { type: s.slice(0, i), value: s.slice(i + 1) };
}

/** SPIRE's -matchSelectorsOn / -matchFederatesWithOn values. */
export function matchBehavior(v: string, unknown: (v: string) => string): string {
  const m = ({ exact: 'MATCH_EXACT', any: 'MATCH_ANY', superset: 'MATCH_SUPERSET', subset: 'MATCH_SUBSET' } as Record<string, string>)[v];
  if (!m) throw new SpireCliError(unknown(v));
  return m;
}

/** Reads a file, or stdin for "-". */
export async function readInput(path: string): Promise<string> {
  if (path !== '-') return readFile(path, 'utf8');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Opens clients for `services` on the admin socket; `close` ends them all. */
export function adminClients<const N extends readonly ServiceName[]>(socketPath: string, ...services: N): { clients: { [K in keyof N]: WireClient<N[K]> }; close(): void } {
  checkAdminSocket(socketPath, 'server');
  const clients: Client[] = services.map((s) => udsClient(s, socketPath));
  return { clients: clients as { [K in keyof N]: WireClient<N[K]> }, close: () => clients.forEach((c) => c.close()) };
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
  if (status.code === GrpcCode.OK) return false;
  io.stderr.write(`Failed to ${what}: ${status.message} (code: ${grpcCodeName(status.code)})\n`);
  return true;
}
