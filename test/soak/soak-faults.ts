// The soak's fault injector: one fault at a time, chosen and timed by a
// seeded generator (the same seed gives the same sequence of kinds, targets
// and durations). Each fault records a window from its start to its end;
// calls that fail within a window (or FAULT_GRACE_MS after it) are
// attributed to it.
import { writeFile } from 'node:fs/promises';
import { TrustDomain } from '../../src/spiffe/trust-domain.ts';
import { SpiffeBundle } from '../../src/spiffe/bundle/spiffe-bundle.ts';
import { runCommand } from '../helpers/process.ts';
import { seededRandom } from '../helpers/seeded-random.ts';
import { authoritiesKey, GARBAGE_MODES, PEER_TD } from './soak-federation.ts';
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
  'postgres-restart',
  'database-disk-full',
  'agent-clock-jump',
  'federation-endpoint-garbage',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultWindow {
  kind: FaultKind;
  /** What was hit: a process, an authority, a garbage mode, a clock offset. */
  target: string;
  start: number;
  end: number;
  skipped?: string;
}


const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** How long the servers get to fetch the federation peer's next good bundle after a garbage window. */
const FEDERATION_RECOVERY_MS = 30_000;

export class FaultInjector {
  readonly windows: FaultWindow[] = [];
  /** What a fault showed to be wrong (the soak fails on any): a federated bundle replaced by garbage, or not refreshed after it. */
  readonly problems: string[] = [];
  readonly #topo: Topology;
  readonly #driver: WorkloadDriver;
  readonly #rand: () => number;
  readonly #log: (line: string) => void;

  readonly #kinds: readonly FaultKind[];

  /** `kinds`: the kinds to choose from (default all; fewer to replay or try one kind). */
  constructor(topo: Topology, driver: WorkloadDriver, seed: number, log: (line: string) => void, kinds: readonly FaultKind[] = FAULT_KINDS) {
    this.#kinds = kinds;
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

  /**
   * Injects faults one at a time, a seeded 2–6 s apart, until `until` (ms
   * since epoch). (4–12 s gave ~3.4 faults a minute with 8 kinds; the new
   * kinds last longer, and a 30-minute run must reach 100 faults.)
   */
  async run(until: number): Promise<void> {
    while (Date.now() < until) {
      await sleep(this.#between(2_000, 6_000));
      if (Date.now() >= until) break;
      const kind = this.#pick(this.#kinds);
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
    const si = Math.floor(this.#rand() * t.servers.length);
    const server = t.servers[si]!;
    switch (w.kind) {
      case 'server-sigkill': {
        w.target = `server-${si}`;
        await server.proc.stop('SIGKILL');
        this.#keepOutput(`server-${si}`, server.proc.output());
        await sleep(this.#between(1_000, 4_000));
        await server.restart();
        return;
      }
      case 'server-sigstop': {
        // Longer than a sync interval (1 s) and than the agents' call deadlines.
        w.target = `server-${si}`;
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
        this.#keepOutput(`agent-${i}`, agent.proc.output());
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
        w.target = `server-${si} x509+jwt`;
        for (const kind of ['x509', 'jwt']) {
          const active = async (): Promise<string | undefined> =>
            (JSON.parse(await cli(t, si, 'localauthority', kind, 'show', '-output', 'json')) as { active?: { authority_id?: string } }).active?.authority_id;
          const before = await active();
          const prepared = JSON.parse(await cli(t, si, 'localauthority', kind, 'prepare', '-output', 'json')).prepared_authority.authority_id as string;
          try {
            await cli(t, si, 'localauthority', kind, 'activate', '-authorityID', prepared, '-output', 'json');
          } catch (err) {
            // The server's scheduled rotation (CA TTL 4 min) activated between prepare and activate: rotated all the same (SPIRE answers the same FailedPrecondition).
            if (!/no prepared authority found/.test((err as Error).message) || (await active()) === before) throw err;
            w.target += ` (${kind}: activated by the scheduled rotation)`;
          }
        }
        return;
      }
      case 'taint-and-revoke-old-authority': {
        // Each server has authorities of its own: the old X.509 authority and the old JWT key of one server.
        const old = async (kind: 'x509' | 'jwt'): Promise<string | undefined> => {
          const shown = JSON.parse(await cli(t, si, 'localauthority', kind, 'show', '-output', 'json')) as { old?: { authority_id?: string; expires_at?: string } };
          const id = shown.old?.authority_id;
          // An old authority that expires before the revocation (within 30 s) leaves the bundle by itself: nothing to taint.
          if (Number(shown.old?.expires_at ?? 0) * 1000 < Date.now() + 30_000) return undefined;
          // Still shown as the old authority after its revocation, until the next rotation.
          return id && !this.#driver.revoked.some((r) => r.authorityId === id.toLowerCase()) ? id : undefined;
        };
        const x509 = await old('x509');
        const jwt = await old('jwt');
        if (!x509 && !jwt) {
          w.skipped = `server-${si} has no old authority that is neither revoked nor about to expire`;
          return;
        }
        w.target = `server-${si} ${[x509 && `x509 ${x509.slice(0, 12)}`, jwt && `jwt ${jwt.slice(0, 12)}`].filter(Boolean).join(', ')}`;
        const taintedAt = Date.now();
        if (x509) await cli(t, si, 'localauthority', 'x509', 'taint', '-authorityID', x509, '-output', 'json');
        if (jwt) {
          await cli(t, si, 'localauthority', 'jwt', 'taint', '-authorityID', jwt, '-output', 'json');
          // Agents drop cached JWT-SVIDs of a tainted key at their next sync.
          this.#driver.taintedJwt.push({ authorityId: jwt.toLowerCase(), at: taintedAt });
        }
        // Agents replace SVIDs of a tainted authority at once; the revocation comes once they have.
        await sleep(15_000);
        if (x509) {
          await cli(t, si, 'localauthority', 'x509', 'revoke', '-authorityID', x509, '-output', 'json');
          this.#driver.revoked.push({ authorityId: x509.toLowerCase(), at: Date.now() });
        }
        if (jwt) {
          await cli(t, si, 'localauthority', 'jwt', 'revoke', '-authorityID', jwt, '-output', 'json');
          this.#driver.revoked.push({ authorityId: jwt.toLowerCase(), at: Date.now() });
        }
        return;
      }
      case 'network-loss-agent-server': {
        w.target = 'proxy';
        await t.proxy.cut(this.#between(3_000, 15_000));
        return;
      }
      case 'postgres-restart': {
        // A fast shutdown (SIGINT: sessions ended), down for a while, then up on the same port and data.
        w.target = 'postgres';
        await t.postgres.pause();
        await sleep(this.#between(1_000, 8_000));
        await t.postgres.resume();
        return;
      }
      case 'database-disk-full': {
        // Relation files cannot grow (inserts needing a new page fail); reads and WAL go on.
        w.target = 'postgres base/';
        await t.pgDisk.fill();
        try {
          await sleep(this.#between(5_000, 20_000));
        } finally {
          await t.pgDisk.free();
        }
        return;
      }
      case 'agent-clock-jump': {
        // libfaketime re-reads the agent's timestamp file every second: the wall clock jumps by the offset and back.
        const i = Math.floor(this.#rand() * t.agents.length);
        const seconds = (this.#rand() < 0.5 ? -1 : 1) * this.#between(30, 240);
        w.target = `agent-${i} ${seconds > 0 ? '+' : ''}${seconds} s`;
        await writeFile(t.agentClocks[i]!, `${seconds > 0 ? '+' : ''}${seconds}s\n`);
        try {
          await sleep(this.#between(5_000, 20_000));
        } finally {
          await writeFile(t.agentClocks[i]!, '+0\n');
        }
        return;
      }
      case 'federation-endpoint-garbage': {
        const mode = this.#pick(GARBAGE_MODES);
        w.target = mode;
        const good = authoritiesKey(t.federation.goodBundle());
        const before = await this.#federatedBundle(si);
        t.federation.serveGarbage(mode);
        // Longer than the refresher's 10 s fetch timeout, so a stalled response times out within the window.
        await sleep(this.#between(5_000, 15_000));
        const during = await this.#federatedBundle(si);
        await t.federation.serveGood();
        if (during !== before || during !== good) this.problems.push(`federated bundle of ${PEER_TD} changed while its endpoint served garbage (${mode}): ${before} → ${during}, last good ${good}`);
        const next = authoritiesKey(t.federation.goodBundle());
        const deadline = Date.now() + FEDERATION_RECOVERY_MS;
        while ((await this.#federatedBundle(si)) !== next) {
          if (Date.now() > deadline) {
            this.problems.push(`server-${si} did not fetch ${PEER_TD}'s next good bundle within ${FEDERATION_RECOVERY_MS / 1000} s after garbage (${mode})`);
            break;
          }
          await sleep(500);
        }
        return;
      }
    }
  }

  /** A killed process's output, kept: its restart starts a new one. */
  #keepOutput(name: string, output: string): void {
    const past = this.#topo.pastOutput;
    past.set(name, `${past.get(name) ?? ''}${output}\n--- killed by the soak at ${new Date().toISOString()}; restarted ---\n`);
  }

  /** A server's stored bundle of the federation peer, as authoritiesKey. */
  async #federatedBundle(si: number): Promise<string> {
    const json = await cli(this.#topo, si, 'bundle', 'list', '-id', `spiffe://${PEER_TD}`, '-format', 'spiffe');
    return authoritiesKey(SpiffeBundle.parse(TrustDomain.fromString(PEER_TD), json));
  }
}

async function must(cmd: string, args: string[]): Promise<void> {
  const r = await runCommand(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr.trim()}`);
}

async function cli(t: Topology, server: number, ...args: string[]): Promise<string> {
  const r = await t.servers[server]!.cli(...args);
  if (r.code !== 0) throw new Error(`herald-server ${args.join(' ')}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}
