// Which Workload API socket the agent CLI talks to, as go-spiffe finds it.
// Without grpc-js, for `healthcheck` (healthcheck.ts).
import { HeraldError } from '../../common/errors.ts';

export const DEFAULT_AGENT_SOCKET = '/tmp/herald-agent/public/api.sock';

/** -socketPath, else SPIFFE_ENDPOINT_SOCKET (unix:///path or unix:/path or a path), else the default. */
export function agentSocketPath(flag: string | undefined, env: Readonly<Record<string, string | undefined>>): string {
  if (flag) return flag;
  const e = env.SPIFFE_ENDPOINT_SOCKET;
  if (!e) return DEFAULT_AGENT_SOCKET;
  if (e.startsWith('unix://')) return e.slice('unix://'.length);
  if (e.startsWith('unix:')) return e.slice('unix:'.length);
  if (e.startsWith('/')) return e;
  throw new HeraldError('ERR_INVALID_ARGUMENT_SOCKET', `SPIFFE_ENDPOINT_SOCKET "${e}": only unix sockets are supported by this command`);
}

/** -socketPath of the agent's API commands. */
export const socketPathFlag = { type: 'string', usage: 'Path to the Workload API socket (default: $SPIFFE_ENDPOINT_SOCKET or /tmp/herald-agent/public/api.sock)' } as const;
