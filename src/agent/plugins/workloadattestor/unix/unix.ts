// The `unix` workload attestor (SPIRE's pkg/agent/plugin/workloadattestor/unix):
// selectors from what Linux says about the caller in /proc — effective uid and
// gid, supplementary groups, and the executable's path and SHA-256. The
// caller's start time is checked last, so a pid reused mid-attestation fails.

import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { readFileSync, readlinkSync, statSync } from 'node:fs';
import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import type { PeerCredentials } from '../../../../common/grpc/peer.ts';
import { parseProcStatStartTime } from '../../../../common/grpc/process-start-time.ts';
import type { Selector } from '../../../../common/selector.ts';
import {
  WorkloadAttestationError,
  WorkloadAttestationErrorCode,
  type WorkloadAttestor,
} from '../types.ts';

export interface UnixWorkloadAttestorOptions {
  /**
   * Add `path:` and `sha256:` selectors for the executable (SPIRE's
   * discover_workload_path). Default true. They are left out, without
   * failing, when the agent cannot see the executable as the workload does.
   */
  discoverWorkloadPath?: boolean;
  /**
   * Largest executable, in bytes, to hash for `sha256:` (SPIRE's
   * workload_size_limit): 0 = no limit, negative = never hash. A larger
   * executable gets no `sha256:` selector. Default 128 MiB.
   */
  workloadSizeLimit?: number;
  /** Where procfs is mounted. Default `/proc`. */
  procRoot?: string;
  /** User database for `user:`. Default `/etc/passwd`. */
  passwdPath?: string;
  /** Group database for `group:` and `supplementary_group:`. Default `/etc/group`. */
  groupPath?: string;
}

export const DEFAULT_WORKLOAD_SIZE_LIMIT = 128 * 1024 * 1024;

const PLUGIN_NAME = 'unix';
const HASH_CHUNK = 1024 * 1024;
/** Executables whose hash is remembered. */
const HASH_CACHE_SIZE = 256;

export class UnixWorkloadAttestor implements WorkloadAttestor {
  readonly name = PLUGIN_NAME;
  readonly #discoverWorkloadPath: boolean;
  readonly #workloadSizeLimit: number;
  readonly #procRoot: string;
  readonly #hashes: Map<string, Promise<string>>;
  readonly #users: IdNameCache;
  readonly #groups: IdNameCache;

  constructor(options: UnixWorkloadAttestorOptions = {}) {
    const { discoverWorkloadPath = true, workloadSizeLimit = DEFAULT_WORKLOAD_SIZE_LIMIT } = options;
    if (typeof discoverWorkloadPath !== 'boolean') {
      throw new TypeError('unix: discoverWorkloadPath must be a boolean');
    }
    if (!Number.isSafeInteger(workloadSizeLimit)) {
      throw new TypeError('unix: workloadSizeLimit must be an integer number of bytes');
    }
    this.#discoverWorkloadPath = discoverWorkloadPath;
    this.#workloadSizeLimit = workloadSizeLimit;
    this.#procRoot = absolutePath('procRoot', options.procRoot ?? '/proc');
    this.#hashes = new Map();
    this.#users = new IdNameCache(absolutePath('passwdPath', options.passwdPath ?? '/etc/passwd'));
    this.#groups = new IdNameCache(absolutePath('groupPath', options.groupPath ?? '/etc/group'));
  }

  async attest(peer: PeerCredentials): Promise<Selector[]> {
    const { pid, startTime } = peer;
    if (!Number.isInteger(pid) || pid < 0) {
      throw new TypeError(`unix: pid must be a non-negative integer, got ${String(pid)}`);
    }
    if (pid === 0) {
      throw unavailable(`the caller is outside the agent's pid namespace (pid 0)`);
    }
    // Without the start time seen at accept there is nothing to tie this pid
    // to the caller: it was already gone then, and the pid may be reused.
    if (startTime === undefined) {
      throw unavailable(`process ${pid} had exited before its connection was accepted`);
    }

    const [status, users, groups] = await Promise.all([
      this.#readStatus(pid),
      this.#users.get(),
      this.#groups.get(),
    ]);
    const ids = parseProcStatus(status, pid);

    // Same names and order as SPIRE.
    const selectors: Selector[] = [selector('uid', ids.uid)];
    const user = users.get(ids.uid);
    if (user !== undefined) selectors.push(selector('user', user));
    selectors.push(selector('gid', ids.gid));
    const group = groups.get(ids.gid);
    if (group !== undefined) selectors.push(selector('group', group));
    for (const gid of ids.supplementaryGids) {
      selectors.push(selector('supplementary_gid', gid));
      const name = groups.get(gid);
      if (name !== undefined) selectors.push(selector('supplementary_group', name));
    }
    if (this.#discoverWorkloadPath) selectors.push(...(await this.#executableSelectors(pid)));

    // Everything above was read by pid; it described the caller only if the
    // pid still names the process that connected.
    if ((await this.#startTime(pid)) !== startTime) {
      throw unavailable(`process ${pid} exited or its pid was reused during attestation`);
    }
    return selectors;
  }

  async #readStatus(pid: number): Promise<string> {
    try {
      // procfs reads are in-memory and tiny: synchronous calls skip a thread-pool round trip each.
      return readFileSync(`${this.#procRoot}/${pid}/status`, 'utf8');
    } catch (err) {
      if (isGone(err)) throw unavailable(`process ${pid} no longer exists`, err);
      throw internal(`cannot read ${this.#procRoot}/${pid}/status`, err);
    }
  }

  async #startTime(pid: number): Promise<number | undefined> {
    // process-start-time.ts reads /proc only; this honours procRoot.
    let stat: string;
    try {
      stat = readFileSync(`${this.#procRoot}/${pid}/stat`, 'utf8');
    } catch (err) {
      if (isGone(err)) return undefined;
      throw internal(`cannot read ${this.#procRoot}/${pid}/stat`, err);
    }
    return parseProcStatStartTime(stat, pid);
  }

  /**
   * `path:` and `sha256:` of the running executable, or none when the agent
   * cannot see it as the workload does: another mount namespace (the path
   * names a file in another tree), a deleted or replaced binary, a kernel
   * thread, or no ptrace access to the process (agent not root). SPIRE fails
   * the attestation in the last case; leaving selectors out is as safe (an
   * entry matches only if all its selectors are present) and keeps uid-based
   * entries working for an unprivileged agent.
   */
  async #executableSelectors(pid: number): Promise<Selector[]> {
    const dir = `${this.#procRoot}/${pid}`;
    const [ours, theirs] = await Promise.all([
      this.#procLink(`${this.#procRoot}/self/ns/mnt`),
      this.#procLink(`${dir}/ns/mnt`),
    ]);
    if (ours === undefined || theirs === undefined || ours !== theirs) return [];

    // Opening /proc/PID/exe gives the inode being executed even if the file
    // at its path was since deleted or replaced. SPIRE hashes through this
    // link as well (getNamespacedPath), not through the path.
    let exe: FileHandle;
    try {
      exe = await open(`${dir}/exe`, 'r');
    } catch (err) {
      if (isGone(err) || isDenied(err)) return [];
      throw internal(`cannot open ${dir}/exe`, err);
    }
    try {
      const path = await this.#procLink(`${dir}/exe`);
      if (path === undefined) return [];
      // The path is only worth a selector if it names the file being run:
      // this rules out "… (deleted)", a binary replaced on disk, and an
      // exec() between the open and the readlink.
      const [held, named] = await Promise.all([exe.stat({ bigint: true }), statOrUndefined(path)]);
      if (named === undefined || held.dev !== named.dev || held.ino !== named.ino) return [];

      const selectors = [selector('path', path)];
      const limit = this.#workloadSizeLimit;
      if (limit === 0 || (limit > 0 && held.size <= BigInt(limit))) {
        selectors.push(selector('sha256', await this.#hashOf(exe, dir, held)));
      }
      return selectors;
    } finally {
      await exe.close();
    }
  }

  /**
   * sha256 of an executable, computed once per file version: every workload
   * stream of the same binary would otherwise re-read it (node is 120 MB).
   * The key holds the inode and its change times, so a rewritten file is
   * hashed again; concurrent callers share one computation.
   */
  #hashOf(exe: FileHandle, dir: string, st: BigIntStats): Promise<string> {
    const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
    let p = this.#hashes.get(key);
    if (!p) {
      p = sha256(exe, dir);
      this.#hashes.set(key, p);
      p.catch(() => this.#hashes.delete(key));
      while (this.#hashes.size > HASH_CACHE_SIZE) this.#hashes.delete(this.#hashes.keys().next().value!);
    }
    return p;
  }

  /** readlink of a /proc link; undefined when the process is gone or not ours to look at. */
  async #procLink(path: string): Promise<string | undefined> {
    try {
      return readlinkSync(path);
    } catch (err) {
      if (isGone(err) || isDenied(err)) return undefined;
      throw internal(`cannot read link ${path}`, err);
    }
  }
}

/** Effective ids and supplementary groups from /proc/PID/status. */
export interface ProcStatusIds {
  readonly uid: number;
  readonly gid: number;
  readonly supplementaryGids: readonly number[];
}

/**
 * Parses the `Uid:`, `Gid:` and `Groups:` lines of /proc/PID/status. Uid and
 * Gid list real, effective, saved and filesystem ids; the effective one
 * (second) is the one the kernel checks, and the one SPIRE reports.
 */
export function parseProcStatus(status: string, pid: number): ProcStatusIds {
  // A later line wins: only Name (the first) holds text the process chose,
  // and the kernel escapes newlines in it anyway.
  const fields = new Map<string, string>();
  for (const line of status.split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  const ids = (key: string): number[] => {
    const value = fields.get(key);
    if (value === undefined) throw internal(`/proc/${pid}/status has no ${key} line`);
    const parts = value === '' ? [] : value.split(/\s+/);
    if (!parts.every((p) => /^\d{1,10}$/.test(p))) {
      throw internal(`/proc/${pid}/status has an invalid ${key} line: ${JSON.stringify(value)}`);
    }
    return parts.map(Number);
  };
  const effective = (key: string): number => {
    const all = ids(key);
    if (all.length < 2) throw internal(`/proc/${pid}/status has no effective id in its ${key} line`);
    return all[1]!;
  };
  return { uid: effective('Uid'), gid: effective('Gid'), supplementaryGids: ids('Groups') };
}

/**
 * id → name from an /etc/passwd or /etc/group file (`name:x:id:…`). The
 * first line for an id wins, as with getpwuid/getgrgid; comments, NIS
 * `+`/`-` lines and malformed lines are skipped.
 */
export function parseIdNames(text: string): Map<number, string> {
  const names = new Map<number, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) continue;
    const fields = line.split(':');
    const name = fields[0];
    const id = fields[2];
    if (fields.length < 4 || !name || id === undefined || !/^\d{1,10}$/.test(id)) continue;
    if (!names.has(Number(id))) names.set(Number(id), name);
  }
  return names;
}

/**
 * A passwd/group file parsed once and reread only when it changes: one
 * stat() per attestation instead of a read and parse. Only the files are
 * consulted — no NSS (LDAP, sssd), like Go's os/user without cgo.
 */
class IdNameCache {
  readonly #path: string;
  #version: string | undefined;
  #names = new Map<number, string>();

  constructor(path: string) {
    this.#path = path;
  }

  async get(): Promise<ReadonlyMap<number, string>> {
    const version = this.#currentVersion();
    if (version !== this.#version) {
      const text = version === 'missing' ? '' : await this.#read();
      this.#names = parseIdNames(text);
      this.#version = version;
    }
    return this.#names;
  }

  /** Synchronous: a stat of a local file in the page cache costs less than the thread-pool round trip (twice per attestation). */
  #currentVersion(): string {
    let st: BigIntStats;
    try {
      st = statSync(this.#path, { bigint: true });
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return 'missing';
      throw internal(`cannot stat ${this.#path}`, err);
    }
    // Editors and useradd replace the file (new inode) or rewrite it (new mtime/size).
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  }

  async #read(): Promise<string> {
    try {
      return await readFile(this.#path, 'utf8');
    } catch (err) {
      throw internal(`cannot read ${this.#path}`, err);
    }
  }
}

async function sha256(file: FileHandle, dir: string): Promise<string> {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(HASH_CHUNK);
  let position = 0;
  try {
    for (;;) {
      const { bytesRead } = await file.read(buf, 0, buf.length, position);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      position += bytesRead;
    }
  } catch (err) {
    throw internal(`cannot read ${dir}/exe`, err);
  }
  return hash.digest('hex');
}

async function statOrUndefined(path: string): Promise<BigIntStats | undefined> {
  try {
    return await stat(path, { bigint: true });
  } catch (err) {
    // Whatever the reason (ENOENT, ENOTDIR, EACCES, ELOOP…), the path does
    // not lead us to the executable; only non-fs failures are bugs.
    if (errnoCode(err) !== undefined) return undefined;
    throw err;
  }
}

function selector(kind: string, value: string | number): Selector {
  return { type: PLUGIN_NAME, value: `${kind}:${value}` };
}

function absolutePath(option: string, value: unknown): string {
  if (typeof value !== 'string' || !value.startsWith('/')) {
    throw new TypeError(`unix: ${option} must be an absolute path`);
  }
  return value.length > 1 ? value.replace(/\/+$/, '') : value;
}

function errnoCode(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

// ENOENT: no such process (or a kernel thread has no exe). ESRCH: it exited while we read.
function isGone(err: unknown): boolean {
  const code = errnoCode(err);
  return code === 'ENOENT' || code === 'ESRCH';
}

// /proc/PID/{exe,ns/*} need ptrace access: another user's process, for an unprivileged agent.
function isDenied(err: unknown): boolean {
  const code = errnoCode(err);
  return code === 'EACCES' || code === 'EPERM';
}

function unavailable(message: string, cause?: unknown): WorkloadAttestationError {
  return new WorkloadAttestationError(WorkloadAttestationErrorCode.UNAVAILABLE, message, { cause });
}

function internal(message: string, cause?: unknown): WorkloadAttestationError {
  return new WorkloadAttestationError(WorkloadAttestationErrorCode.INTERNAL, message, { cause });
}
