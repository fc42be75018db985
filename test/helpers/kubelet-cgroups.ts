// Kubelet-style cgroups for tests: the directories a kubelet (cgroupfs or
// systemd driver) and its container runtime create for one container, in the
// cgroup v1 `pids` hierarchy or the v2 unified one, and real processes started
// inside them. The layout is nested under a per-test directory (as kind nests
// kubepods under a docker container), so tests do not see each other's.
//
// Needs root and writable cgroup mounts (`mount | grep cgroup`); `cgroupSupport()`
// says why not when they are missing.
import { randomBytes, randomUUID } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startProcess, type RunningProcess } from './process.ts';
import { waitFor } from './wait.ts';

const V1 = '/sys/fs/cgroup/pids';
/** Hybrid hosts mount v2 at /sys/fs/cgroup/unified; pure v2 hosts at /sys/fs/cgroup. */
const V2 = existsSync('/sys/fs/cgroup/unified/cgroup.procs') ? '/sys/fs/cgroup/unified' : '/sys/fs/cgroup';

export type CgroupVersion = 'v1' | 'v2';
/** `kubeedge`: CRI-O under KubeEdge, whose cgroup names no pod (`…/crio-<id>.scope`). */
export type CgroupDriver = 'cgroupfs' | 'systemd' | 'kubeedge';
export type ContainerRuntime = 'containerd' | 'cri-o' | 'docker';

/** Why kubelet-style cgroups cannot be made here, or undefined when they can. */
export function cgroupSupport(version: CgroupVersion): string | undefined {
  const root = version === 'v1' ? V1 : V2;
  if (process.getuid?.() !== 0) return 'creating cgroups needs root';
  try {
    if (!statSync(join(root, 'cgroup.procs')).isFile()) return `${root} is not a cgroup hierarchy`;
    accessSync(root, constants.W_OK);
  } catch (err) {
    return `${root}: ${(err as Error).message}`;
  }
  return undefined;
}

export interface KubeletContainer {
  readonly podUid: string;
  /** 64 hex digits; the pod status's containerID is `<runtime>://<containerId>`. */
  readonly containerId: string;
  readonly runtime: ContainerRuntime;
  /** The container's cgroup directory. */
  readonly dir: string;
  /** `containerd://…` / `cri-o://…` / `docker://…` as a kubelet reports it. */
  readonly statusContainerId: string;
  /** Starts `cmd args` inside the container's cgroup (it moves itself in before exec, so it never runs outside). */
  start(cmd: string, args: string[], opts?: { cwd?: string; env?: NodeJS.ProcessEnv }): RunningProcess;
}

export interface KubeletCgroups {
  /** A container cgroup as the kubelet + runtime name it. */
  container(opts: { version: CgroupVersion; driver: CgroupDriver; runtime: ContainerRuntime; podUid?: string; qos?: 'burstable' | 'besteffort' }): KubeletContainer;
  /** Kills what is still running in the cgroups made (only test processes are there), then removes them. */
  cleanup(): Promise<void>;
}

const RUNTIME_SCOPE: Record<ContainerRuntime, string> = { containerd: 'cri-containerd', 'cri-o': 'crio', docker: 'docker' };
const RUNTIME_SCHEME: Record<ContainerRuntime, string> = { containerd: 'containerd', 'cri-o': 'cri-o', docker: 'docker' };

export function kubeletCgroups(): KubeletCgroups {
  // No hex run of 64 here: the nesting directory must not look like a container ID.
  const base = `herald-test-${process.pid}-${randomBytes(3).toString('base64url').replace(/[^A-Za-z]/g, 'x')}`;
  const made: string[] = [];
  return {
    container({ version, driver, runtime, podUid = randomUUID(), qos = 'burstable' }) {
      const containerId = randomBytes(32).toString('hex');
      const root = version === 'v1' ? V1 : V2;
      const segments =
        driver === 'cgroupfs'
          ? ['kubepods', qos, `pod${podUid}`, containerId]
          : driver === 'systemd'
            ? ['kubepods.slice', `kubepods-${qos}.slice`, `kubepods-${qos}-pod${podUid.replaceAll('-', '_')}.slice`, `${RUNTIME_SCOPE[runtime]}-${containerId}.scope`]
            : [`${RUNTIME_SCOPE[runtime]}-${containerId}.scope`];
      const dir = join(root, base, ...segments);
      mkdirSync(dir, { recursive: true });
      made.push(join(root, base));
      return {
        podUid,
        containerId,
        runtime,
        dir,
        statusContainerId: `${RUNTIME_SCHEME[runtime]}://${containerId}`,
        start: (cmd, args, opts = {}) =>
          startProcess('/bin/sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', dir, cmd, ...args], { cwd: opts.cwd, env: opts.env ?? process.env }),
      };
    },
    async cleanup() {
      for (const top of new Set(made)) await removeTree(top);
    },
  };
}

async function removeTree(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) await removeTree(join(dir, e.name));
  const procs = () => readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  for (const pid of procs()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  // A killed process leaves its cgroup when it has been reaped.
  await waitFor(`${dir} to be empty`, () => procs().length === 0, { timeoutMs: 5_000 });
  rmdirSync(dir);
}
