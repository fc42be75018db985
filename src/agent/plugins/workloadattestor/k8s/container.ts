// Which pod and container a process runs in, from what the kernel says about
// its cgroups: SPIRE's container locators (pkg/common/containerinfo, the
// default "new" locator, and the legacy regex matcher of
// pkg/agent/plugin/workloadattestor/k8s/k8s_posix.go behind
// use_new_container_locator = false), with the same results on the same input.
//
// The kubelet names a container's cgroup after the pod UID and the 64-hex
// container ID, in every layout it produces:
//   cgroupfs driver:  /kubepods/burstable/pod<uid>/<cid>
//   systemd driver:   /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_with_underscores>.slice/cri-containerd-<cid>.scope
//                     (docker-<cid>.scope, crio-<cid>.scope)
//   cgroup v1: one line per hierarchy in /proc/PID/cgroup; v2: one `0::` line.
// Inside a cgroup namespace the path is relative (/../../pod<uid>/<cid>), so
// neither locator insists on a kubepods prefix.

import { readFileSync } from 'node:fs';

export interface PodContainer {
  /** Empty when the cgroup names no pod (CRI-O under KubeEdge). */
  readonly podUid: string;
  /** Empty: not in a container, so not a Kubernetes workload. */
  readonly containerId: string;
}

export const NOT_IN_CONTAINER: PodContainer = Object.freeze({ podUid: '', containerId: '' });

/** Two cgroups of one process disagree: the safe answer is none (SPIRE: FailedPrecondition). */
export class ContainerConflictError extends Error {}

/** One line of /proc/PID/cgroup, `hierarchy-ID:controller-list:cgroup-path`. */
export interface Cgroup {
  readonly hierarchyId: string;
  readonly controllers: string;
  readonly path: string;
}

/** SPIRE's cgroups.GetCgroups: every line must have at least three colon-separated fields. */
export function parseCgroupFile(text: string): Cgroup[] {
  const out: Cgroup[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const a = line.indexOf(':');
    const b = a < 0 ? -1 : line.indexOf(':', a + 1);
    if (b < 0) {
      const fields = a < 0 ? 1 : 2;
      throw new Error(`invalid cgroup entry, contains ${fields} colon separated fields but expected at least 3: ${JSON.stringify(line)}`);
    }
    out.push({ hierarchyId: line.slice(0, a), controllers: line.slice(a + 1, b), path: line.slice(b + 1) });
  }
  return out;
}

/** The cgroup mount roots in /proc/PID/mountinfo (field 4 of cgroup/cgroup2 mounts). */
export function cgroupMountRoots(mountinfo: string): string[] {
  const roots: string[] = [];
  for (const line of mountinfo.split('\n')) {
    if (line === '') continue;
    const sep = line.indexOf(' - ');
    if (sep < 0) throw new Error(`malformed mountinfo line: ${JSON.stringify(line)}`);
    const fields = line.slice(0, sep).split(' ');
    const fsType = line.slice(sep + 3).split(' ')[0];
    if (fields.length < 5) throw new Error(`malformed mountinfo line: ${JSON.stringify(line)}`);
    if (fsType === 'cgroup' || fsType === 'cgroup2') roots.push(unescapeOctal(fields[3]!));
  }
  return roots;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

// --------------------------------------------------------------- new locator

const HEX = '[0-9a-fA-F]';
// \b as in Go's RE2 (ASCII word boundary): `_` is a word character, so
// "…slice:cri-containerd:<cid>" matches but "x_<cid>" does not.
const RE_POD_UID = new RegExp(`\\bpod(${HEX}{8}[-_]${HEX}{4}[-_]${HEX}{4}[-_]${HEX}{4}[-_]${HEX}{12})\\b`);
const RE_CONTAINER_ID = new RegExp(`\\b(${HEX}{64})\\b`);

function splitLast(p: string): [rest: string, segment: string] {
  const i = p.lastIndexOf('/');
  if (i < 0) return ['', p];
  let rest = p.slice(0, i + 1);
  if (rest.endsWith('/')) rest = rest.slice(0, -1);
  return [rest, p.slice(i + 1)];
}

/** SPIRE's extractor.extract: the container ID in the last segment that has one, the pod UID before it. */
export function extractFromPath(cgroupPathOrMountRoot: string, withPodUid = true): PodContainer {
  let [rest, segment] = splitLast(cgroupPathOrMountRoot);
  let containerId = '';
  while (segment !== '') {
    const m = RE_CONTAINER_ID.exec(segment);
    if (m) {
      containerId = m[1]!;
      segment = segment.slice(0, m.index);
      break;
    }
    [rest, segment] = splitLast(rest);
  }
  if (containerId === '') return NOT_IN_CONTAINER;
  if (!withPodUid) return { podUid: '', containerId };
  if (segment === '') [rest, segment] = splitLast(rest);
  let podUid = '';
  while (segment !== '') {
    const m = RE_POD_UID.exec(segment);
    if (m) {
      // The systemd driver escapes the UID's dashes as underscores.
      podUid = m[1]!.replaceAll('_', '-');
      break;
    }
    [rest, segment] = splitLast(rest);
  }
  return { podUid, containerId };
}

/** SPIRE's extractor.Extract over several paths: a path with a pod UID wins over one without; any other disagreement is a conflict. */
export function combine(paths: readonly string[], withPodUid = true): PodContainer {
  let podUid = '';
  let containerId = '';
  for (const p of paths) {
    const found = extractFromPath(p, withPodUid);
    if (podUid !== '' && found.podUid === '') continue;
    if (podUid === '' && found.podUid !== '') {
      podUid = found.podUid;
      containerId = found.containerId;
    }
    if (found.podUid !== '' && podUid !== '' && found.podUid !== podUid) {
      throw new ContainerConflictError(`multiple pod UIDs found (${JSON.stringify(podUid)}, ${JSON.stringify(found.podUid)})`);
    }
    if (containerId !== '' && found.containerId !== containerId) {
      throw new ContainerConflictError(`multiple container IDs found (${JSON.stringify(containerId)}, ${JSON.stringify(found.containerId)})`);
    }
    containerId = found.containerId;
    podUid = found.podUid;
  }
  return { podUid, containerId };
}

// ------------------------------------------------------------ legacy locator

const P = '[!-/:-@[-`{-~]'; // Go's [[:punct:]]
const NP = '[^!-/:-@[-`{-~]';
const UID_RE = `${HEX}{8}${P}?${HEX}{4}${P}?${HEX}{4}${P}?${HEX}{4}${P}?${HEX}{12}`;
const LEGACY_RES = [
  new RegExp(`${P}pod(?<poduid>${UID_RE})${P}(?:${NP}+${P})*(?<containerid>${HEX}{64})$`),
  // CRI-O under KubeEdge: no pod UID in the cgroup name.
  // SPIRE's `(?:[[:^punct:]]*/*)*` is written as the equivalent single class
  // (non-punctuation or '/'): nested stars backtrack exponentially in JS.
  new RegExp(`(?<poduid>)(?<mustnotmatch>pod${UID_RE}${P})?[^!-.:-@[-\`{-~]*crio${P}(?<containerid>${HEX}{64})$`),
];

/** SPIRE's getPodUIDAndContainerIDFromCGroupPath (legacy locator); undefined when the path names no container. */
export function legacyFromPath(cgroupPath: string): PodContainer | undefined {
  const path = cgroupPath.endsWith('.scope') ? cgroupPath.slice(0, -'.scope'.length) : cgroupPath;
  let found: Record<string, string | undefined> | undefined;
  for (const re of LEGACY_RES) {
    const groups = re.exec(path)?.groups;
    if (!groups || groups.mustnotmatch) continue;
    if (found) return undefined; // more than one matches: ambiguous, as SPIRE
    found = groups;
  }
  if (!found) return undefined;
  const podUid = (found.poduid ?? '').replace(new RegExp(P, 'g'), '-');
  return { podUid, containerId: found.containerid ?? '' };
}

/** SPIRE's getPodUIDAndContainerIDFromCGroups (legacy locator). */
export function legacyCombine(paths: readonly string[]): PodContainer {
  let podUid = '';
  let containerId = '';
  for (const p of paths) {
    const c = legacyFromPath(p);
    if (!c) continue;
    if (containerId === '') {
      ({ podUid, containerId } = c);
    } else if (c.containerId !== containerId) {
      throw new ContainerConflictError(`multiple container IDs found in cgroups (${containerId}, ${c.containerId})`);
    } else if (c.podUid !== podUid) {
      throw new ContainerConflictError(`multiple pod UIDs found in cgroups (${podUid}, ${c.podUid})`);
    }
  }
  return { podUid, containerId };
}

// ------------------------------------------------------------------ /proc

function readIfExists(path: string): string | undefined {
  try {
    // procfs files are in-memory and tiny.
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ESRCH') return undefined;
    throw err;
  }
}

/**
 * The pod and container of `pid`, as SPIRE finds them: the new locator reads
 * the cgroup mount roots in /proc/PID/mountinfo (what a containerised agent
 * sees of another container), then /proc/PID/cgroup; the legacy one reads
 * /proc/PID/cgroup only. A vanished process has no container.
 */
export function locateContainer(procRoot: string, pid: number, legacy = false): PodContainer {
  if (!legacy) {
    const mountinfo = readIfExists(`${procRoot}/${pid}/mountinfo`);
    if (mountinfo !== undefined) {
      const found = combine(cgroupMountRoots(mountinfo));
      if (found.containerId !== '') return found;
    }
  }
  const cgroup = readIfExists(`${procRoot}/${pid}/cgroup`);
  if (cgroup === undefined) return NOT_IN_CONTAINER;
  const paths = parseCgroupFile(cgroup).map((c) => c.path);
  return legacy ? legacyCombine(paths) : combine(paths);
}
