// SPIRE's own spire-server and spire-agent (v1.13.3, built from the Go
// module proxy on first use and kept in ~/.cache/herald), for interop tests
// against Herald.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const SPIRE_VERSION = 'v1.13.3';

export function spireBinaries(): { server: string; agent: string } {
  const root = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'herald', `spire-${SPIRE_VERSION}`);
  const bin = join(root, 'bin');
  const server = join(bin, 'spire-server');
  const agent = join(bin, 'spire-agent');
  if (existsSync(server) && existsSync(agent)) return { server, agent };
  mkdirSync(root, { recursive: true });
  // A throwaway module that names SPIRE's commands as tools: the proxy serves
  // spire as a module, and `go install` then builds from that module graph.
  writeFileSync(join(root, 'go.mod'), 'module heraldspire\n\ngo 1.26\n');
  const env = { ...process.env, GOFLAGS: '-mod=mod', GOBIN: bin };
  const go = (...args: string[]) => execFileSync('go', args, { cwd: root, env, stdio: 'pipe', timeout: 1_500_000 });
  go('get', '-tool', `github.com/spiffe/spire/cmd/spire-server@${SPIRE_VERSION}`);
  go('get', '-tool', `github.com/spiffe/spire/cmd/spire-agent@${SPIRE_VERSION}`);
  go('install', 'github.com/spiffe/spire/cmd/spire-server', 'github.com/spiffe/spire/cmd/spire-agent');
  return { server, agent };
}
