// The `console` section: Herald's own (SPIRE has no status console). An
// opt-in HTTP listener on a loopback address; whoever holds the token in
// data_dir/console.token may read it (see console/token.ts for why).
import { isIP } from 'node:net';
import { s, type Infer } from '../../common/config/index.ts';
import { port } from '../../common/config/spiffe-checks.ts';

/** 127.0.0.0/8, ::1 or localhost: the console is plain HTTP and must not leave the host. */
export function loopbackAddressProblem(v: string): string | undefined {
  const a = v.startsWith('[') && v.endsWith(']') ? v.slice(1, -1) : v;
  if (a === 'localhost' || a === '::1' || (isIP(a) === 4 && a.startsWith('127.'))) return undefined;
  return `must be a loopback address (127.0.0.1, ::1 or localhost), found ${JSON.stringify(v)}: the console is plain HTTP; reach it from elsewhere through an SSH tunnel`;
}

export const consoleSchema = s.section(
  {
    address: s.string({ description: 'Loopback address the console listens on (127.0.0.0/8, ::1 or localhost only)', default: '127.0.0.1', validate: loopbackAddressProblem }),
    port: port('Port the console listens on', 8090),
    refresh_interval: s.duration({ description: 'How often the page receives a new view of the trust domain (server-sent events)', default: '2s', min: '200ms' }),
    agent_admin_socket_paths: s.stringList({ description: 'Admin sockets (agent.admin_socket_path) of agents on this host whose Envoy SDS status the console shows; the server must be able to open them (same user)' }),
  },
  { description: "Herald's live status console (not in SPIRE): a web page on a loopback listener, opened with the link `herald-server console url` prints (absent: not served)", optional: true },
);

export interface ConsoleConfig {
  readonly address: string;
  readonly port: number;
  readonly refreshIntervalMs: number;
  /** Absolute. */
  readonly agentAdminSocketPaths: readonly string[];
}

type ConsoleFile = Infer<typeof consoleSchema>;

export function toConsoleConfig(c: ConsoleFile, abs: (p: string) => string): ConsoleConfig | undefined {
  if (c === undefined) return undefined;
  const address = c.address.startsWith('[') && c.address.endsWith(']') ? c.address.slice(1, -1) : c.address;
  return { address, port: c.port, refreshIntervalMs: c.refresh_interval, agentAdminSocketPaths: c.agent_admin_socket_paths.map(abs) };
}
