// The soak's fault injector: one fault at a time, chosen and timed by a
// seeded generator (the same seed gives the same sequence of kinds, targets
// and durations). Each fault records a window from its start to its end;
// calls that fail within a window (or FAULT_GRACE_MS after it) are
// attributed to it.
import { runCommand } from '../helpers/process.ts';
import { seededRandom } from '../helpers/seeded-random.ts';
import type { Topology } from './soak-topology.ts';
import type { WorkloadDriver } from './soak-workloads.ts';

/** How long after a fault ends failures are still its doing (restart, reconnect, SDS push, sync). */
export const FAULT_GRACE_MS = 20_000;

export const FAULT_KINDS = [
  'server-sigkill',
  'server-sigstop',
  'agent-sigkill',
  'envoy-sigkill',
  'agent-data-dir-read-only',
  'ca-rotation',
  'taint-and-revoke-old-authority',
  'network-loss-agent-server',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultWindow {
  kind: FaultKind;
  target: string;
  start: number;
  end: number;
  skipped?: string;
}


const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class FaultInjector {
  readonly windows: FaultWindow[] = [];
  readonly #topo: Topology;
  readonly #driver: WorkloadDriver;
  readonly #rand: () => number;
  readonly #log: (line: string) => void;

  constructor(topo: Topology, driver: WorkloadDriver, seed: number, log: (line: string) => void) {
    this.#topo = topo;
    this.#driver = driver;
    this.#rand = seededRandom(seed);
    this.#log = log;
  }

  #between(min: number, max: number): number {
    return Math.round(min + this.#rand() * (max - min));
  }

  #pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.#rand() * items.length)]!;
  }

  /** Injects faults one at a time, a seeded 4–12 s apart, until `until` (ms since epoch). */
  async run(until: number): Promise<void> {
    while (Date.now() < until) {
      await sleep(this.#between(4_000, 12_000));
      if (Date.now() >= until) break;
      const kind = this.#pick(FAULT_KINDS);
      const w: FaultWindow = { kind, target: '', start: Date.now(), end: 0 };
      this.windows.push(w);
      try {
        await this.#inject(w);
      } catch (err) {
        // A fault that could not be injected is a soak failure: the run would prove nothing about it.
        w.end = Date.now();
        throw new Error(`fault ${kind} ${w.target}: ${(err as Error).message}`);
      }
      w.end = Date.now();
      this.#log(`fault ${kind}${w.target ? ` ${w.target}` : ''}${w.skipped ? ` (skipped: ${w.skipped})` : ''}: ${((w.end - w.start) / 1000).toFixed(1)} s`);
    }
  }

  async #inject(w: FaultWindow): Promise<void> {
    const t = this.#topo;
    const server = t.servers[0]!;
    switch (w.kind) {
      case 'server-sigkill': {
        w.target = 'server-0';
        await server.proc.stop('SIGKILL');
        await sleep(this.#between(1_000, 4_000));
        await server.restart();
        return;
      }
      case 'server-sigstop': {
        // Longer than a sync interval (1 s) and than the agents' call deadlines.
        w.target = 'server-0';
        process.kill(server.proc.pid, 'SIGSTOP');
        await sleep(this.#between(3_000, 10_000));
        process.kill(server.proc.pid, 'SIGCONT');
        return;
      }
      case 'agent-sigkill': {
        const i = Math.floor(this.#rand() * t.agents.length);
        w.target = `agent-${i}`;
        const agent = t.agents[i]!;
        await agent.proc.stop('SIGKILL');
        await sleep(this.#between(500, 3_000));
        await agent.restart();
        return;
      }
      case 'envoy-sigkill': {
        const k = this.#pick(['a', 'b'] as const);
        w.target = `envoy-${k}`;
        await t.envoys[k].proc.stop('SIGKILL');
        await sleep(this.#between(500, 2_000));
        await t.restartEnvoy(k);
        return;
      }
      case 'agent-data-dir-read-only': {
        // A read-only bind mount over the data_dir (root ignores file modes, not a read-only mount).
        const i = Math.floor(this.#rand() * t.agents.length);
        w.target = `agent-${i}`;
        const dir = t.agents[i]!.dataDir;
        await must('mount', ['--bind', dir, dir]);
        try {
          await must('mount', ['-o', 'remount,bind,ro', dir]);
          await sleep(this.#between(10_000, 30_000));
        } finally {
          const r = await runCommand('umount', [dir]);
          if (r.code !== 0) await must('umount', ['-l', dir]);
        }
        return;
      }
      case 'ca-rotation': {
        w.target = 'x509+jwt';
        for (const kind of ['x509', 'jwt']) {
          const prepared = JSON.parse(await cli(t, 'localauthority', kind, 'prepare', '-output', 'json')).prepared_authority.authority_id as string;
          await cli(t, 'localauthority', kind, 'activate', '-authorityID', prepared, '-output', 'json');
        }
        return;
      }
      case 'taint-and-revoke-old-authority': {
        const shown = JSON.parse(await cli(t, 'localauthority', 'x509', 'show', '-output', 'json')) as { old?: { authority_id?: string } };
        const old = shown.old?.authority_id;
        if (!old) {
          w.skipped = 'no old X.509 authority yet';
          return;
        }
        // Still shown as the old authority after its revocation, until the next rotation.
        if (this.#driver.revoked.some((r) => r.authorityId === old.toLowerCase())) {
          w.skipped = 'the old X.509 authority is already revoked';
          return;
        }
        w.target = old.slice(0, 12);
        await cli(t, 'localauthority', 'x509', 'taint', '-authorityID', old, '-output', 'json');
        // Agents replace SVIDs of a tainted authority at once; the revocation comes once they have.
        await sleep(15_000);
        await cli(t, 'localauthority', 'x509', 'revoke', '-authorityID', old, '-output', 'json');
        this.#driver.revoked.push({ authorityId: old.toLowerCase(), at: Date.now() });
        return;
      }
      case 'network-loss-agent-server': {
        w.target = 'proxy';
        await t.proxy.cut(this.#between(3_000, 15_000));
        return;
      }
    }
  }
}

async function must(cmd: string, args: string[]): Promise<void> {
  const r = await runCommand(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr.trim()}`);
}

async function cli(t: Topology, ...args: string[]): Promise<string> {
  const r = await t.servers[0]!.cli(...args);
  if (r.code !== 0) throw new Error(`herald-server ${args.join(' ')}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}
