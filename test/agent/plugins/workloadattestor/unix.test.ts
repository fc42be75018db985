import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { copyFile, mkdir, readlink, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GrpcCode, grpcStatusFor } from '../../../../src/common/errors.ts';
import type { PeerCredentials } from '../../../../src/common/grpc/peer.ts';
import { processStartTime } from '../../../../src/common/grpc/process-start-time.ts';
import type { Selector } from '../../../../src/common/selector.ts';
import {
  WorkloadAttestationError,
  type WorkloadAttestor,
} from '../../../../src/agent/plugins/workloadattestor/types.ts';
import {
  parseIdNames,
  parseProcStatus,
  UnixWorkloadAttestor,
  type UnixWorkloadAttestorOptions,
} from '../../../../src/agent/plugins/workloadattestor/unix/unix.ts';
import { startProcess, type RunningProcess } from '../../../helpers/process.ts';
import { makeTempDir } from '../../../helpers/tmp.ts';
import { waitFor } from '../../../helpers/wait.ts';

const SLEEP = realpathSync('/usr/bin/sleep');
const SLEEP_SHA256 = sha256Of(SLEEP);
const IS_ROOT = process.getuid?.() === 0;

let tmp: { path: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  tmp = await makeTempDir('herald-unix-');
});
afterAll(async () => {
  await tmp.cleanup();
});

function sha256Of(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

function unix(...values: string[]): Selector[] {
  return values.map((value) => ({ type: 'unix', value }));
}

async function peerOf(pid: number): Promise<PeerCredentials> {
  const startTime = await processStartTime(pid);
  expect(startTime).toBeTypeOf('number');
  return { pid, uid: process.getuid!(), gid: process.getgid!(), startTime };
}

/** Name of a group through NSS (not our parser); undefined when it has none. */
function groupName(gid: number): string | undefined {
  try {
    return execFileSync('getent', ['group', String(gid)], { encoding: 'utf8' }).split(':')[0];
  } catch {
    return undefined; // getent exits 2 for an unknown group
  }
}

/** The id selectors of this test process (and of the children it starts unchanged). */
function ownIdSelectors(): Selector[] {
  const gid = process.getegid!();
  const groupsLine = /^Groups:(.*)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]!.trim();
  const values = [`uid:${process.geteuid!()}`, `user:${userInfo().username}`, `gid:${gid}`];
  const group = groupName(gid);
  if (group !== undefined) values.push(`group:${group}`);
  for (const sg of groupsLine === '' ? [] : groupsLine.split(/\s+/)) {
    values.push(`supplementary_gid:${sg}`);
    const name = groupName(Number(sg));
    if (name !== undefined) values.push(`supplementary_group:${name}`);
  }
  return unix(...values);
}

async function withChild<T>(cmd: string, args: string[], fn: (child: RunningProcess) => Promise<T>): Promise<T> {
  const child = startProcess(cmd, args);
  try {
    return await fn(child);
  } finally {
    await child.stop('SIGKILL');
  }
}

/** Waits until `pid` runs `exe` (wrappers such as unshare and setpriv exec it later). */
function waitForExe(pid: number, exe: string): Promise<true> {
  return waitFor(`process ${pid} to exec ${exe}`, async () => (await readlink(`/proc/${pid}/exe`)) === exe, {
    timeoutMs: 10_000,
    intervalMs: 10,
  });
}

async function expectAttestationError(
  attestor: WorkloadAttestor,
  peer: PeerCredentials,
  code: string,
  message: string,
): Promise<void> {
  const err = await attestor.attest(peer).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WorkloadAttestationError);
  expect(err).toMatchObject({ code, message });
  expect(grpcStatusFor(err)).toBe(code === 'ERR_UNAVAILABLE_WORKLOAD_ATTESTATION' ? GrpcCode.UNAVAILABLE : GrpcCode.INTERNAL);
}

const UNAVAILABLE = 'ERR_UNAVAILABLE_WORKLOAD_ATTESTATION';

describe('UnixWorkloadAttestor on real processes', () => {
  it('is named unix', () => {
    expect(new UnixWorkloadAttestor().name).toBe('unix');
  });

  it('attests the test process itself: ids, names, path and sha256 of the node binary', async () => {
    const exe = realpathSync(process.execPath);
    const selectors = await new UnixWorkloadAttestor().attest(await peerOf(process.pid));
    expect(selectors).toEqual([...ownIdSelectors(), ...unix(`path:${exe}`, `sha256:${sha256Of(exe)}`)]);
  });

  it('attests a spawned sleep: path and sha256 are those of sleep', async () => {
    await withChild('sleep', ['30'], async (child) => {
      const selectors = await new UnixWorkloadAttestor().attest(await peerOf(child.pid));
      expect(selectors).toEqual([...ownIdSelectors(), ...unix(`path:${SLEEP}`, `sha256:${SLEEP_SHA256}`)]);
    });
  });

  it.each<[string, UnixWorkloadAttestorOptions, string[]]>([
    ['discoverWorkloadPath false: no path, no sha256', { discoverWorkloadPath: false }, []],
    ['size limit below the binary: path only', { workloadSizeLimit: 1024 }, [`path:${SLEEP}`]],
    ['size limit equal to the binary: hashed', { workloadSizeLimit: readFileSync(SLEEP).length }, [`path:${SLEEP}`, `sha256:${SLEEP_SHA256}`]],
    ['size limit 0 (no limit): hashed', { workloadSizeLimit: 0 }, [`path:${SLEEP}`, `sha256:${SLEEP_SHA256}`]],
    ['negative size limit (never hash): path only', { workloadSizeLimit: -1 }, [`path:${SLEEP}`]],
  ])('%s', async (_name, options, exeSelectors) => {
    await withChild('sleep', ['30'], async (child) => {
      const selectors = await new UnixWorkloadAttestor(options).attest(await peerOf(child.pid));
      expect(selectors).toEqual([...ownIdSelectors(), ...unix(...exeSelectors)]);
    });
  });

  it('leaves out path and sha256 when the running binary was deleted', async () => {
    const copy = join(tmp.path, 'sleep-deleted');
    await copyFile(SLEEP, copy);
    await withChild(copy, ['30'], async (child) => {
      await unlink(copy);
      expect(await readlink(`/proc/${child.pid}/exe`)).toBe(`${copy} (deleted)`);
      const selectors = await new UnixWorkloadAttestor().attest(await peerOf(child.pid));
      expect(selectors).toEqual(ownIdSelectors());
    });
  });

  it('is not fooled by a file named like the deleted binary\'s "… (deleted)" link', async () => {
    const copy = join(tmp.path, 'sleep-decoy');
    await copyFile(SLEEP, copy);
    await withChild(copy, ['30'], async (child) => {
      await unlink(copy);
      await copyFile(SLEEP, `${copy} (deleted)`);
      expect(await readlink(`/proc/${child.pid}/exe`)).toBe(`${copy} (deleted)`);
      const selectors = await new UnixWorkloadAttestor().attest(await peerOf(child.pid));
      expect(selectors).toEqual(ownIdSelectors());
    });
  });

  it('leaves out path and sha256 when another file was moved over the running binary', async () => {
    const copy = join(tmp.path, 'sleep-replaced');
    await copyFile(SLEEP, copy);
    await withChild(copy, ['30'], async (child) => {
      await writeFile(`${copy}.new`, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
      await rename(`${copy}.new`, copy);
      const selectors = await new UnixWorkloadAttestor().attest(await peerOf(child.pid));
      expect(selectors).toEqual(ownIdSelectors());
    });
  });

  it.skipIf(!IS_ROOT)('leaves out path and sha256 for a process in another mount namespace', async () => {
    await withChild('unshare', ['--mount', SLEEP, '30'], async (child) => {
      await waitForExe(child.pid, SLEEP);
      expect(await readlink(`/proc/${child.pid}/ns/mnt`)).not.toBe(await readlink('/proc/self/ns/mnt'));
      const selectors = await new UnixWorkloadAttestor().attest(await peerOf(child.pid));
      expect(selectors).toEqual(ownIdSelectors());
    });
  });

  it.skipIf(!IS_ROOT || !existsSync('/usr/bin/setpriv'))(
    'reports the effective uid/gid and every supplementary group of a process with split ids',
    async () => {
      const dir = join(tmp.path, 'split-ids');
      await mkdir(dir);
      await writeFile(join(dir, 'passwd'), 'real:x:1000:1000::/:/bin/sh\nworker:x:65534:65534::/:/bin/sh\n');
      await writeFile(join(dir, 'group'), 'realg:x:1001:\nworkers:x:65533:\nwheel:x:10:\ndocker:x:4242:\n');
      const attestor = new UnixWorkloadAttestor({ passwdPath: join(dir, 'passwd'), groupPath: join(dir, 'group') });
      const args = ['--ruid=1000', '--euid=65534', '--rgid=1001', '--egid=65533', '--groups=10,777,4242', SLEEP, '30'];
      await withChild('setpriv', args, async (child) => {
        await waitForExe(child.pid, SLEEP);
        expect(await attestor.attest(await peerOf(child.pid))).toEqual(
          unix(
            'uid:65534',
            'user:worker',
            'gid:65533',
            'group:workers',
            'supplementary_gid:10',
            'supplementary_group:wheel',
            'supplementary_gid:777',
            'supplementary_gid:4242',
            'supplementary_group:docker',
            `path:${SLEEP}`,
            `sha256:${SLEEP_SHA256}`,
          ),
        );
      });
    },
  );

  it('fails UNAVAILABLE for a process that has exited', async () => {
    const child = startProcess('sleep', ['30']);
    const peer = await peerOf(child.pid);
    await child.stop('SIGKILL');
    expect(existsSync(`/proc/${child.pid}`)).toBe(false);
    await expectAttestationError(
      new UnixWorkloadAttestor(),
      peer,
      UNAVAILABLE,
      `workload attestation failed: process ${child.pid} no longer exists`,
    );
  });

  it('fails UNAVAILABLE when the start time differs (the pid now names another process)', async () => {
    const peer = await peerOf(process.pid);
    await expectAttestationError(
      new UnixWorkloadAttestor(),
      { ...peer, startTime: peer.startTime! + 1 },
      UNAVAILABLE,
      `workload attestation failed: process ${process.pid} exited or its pid was reused during attestation`,
    );
  });

  it('fails UNAVAILABLE when the start time was never known', async () => {
    const peer = await peerOf(process.pid);
    await expectAttestationError(
      new UnixWorkloadAttestor(),
      { ...peer, startTime: undefined },
      UNAVAILABLE,
      `workload attestation failed: process ${process.pid} had exited before its connection was accepted`,
    );
  });

  it('fails UNAVAILABLE for pid 0 (caller outside our pid namespace)', async () => {
    await expectAttestationError(
      new UnixWorkloadAttestor(),
      { pid: 0, uid: 0, gid: 0, startTime: 1 },
      UNAVAILABLE,
      "workload attestation failed: the caller is outside the agent's pid namespace (pid 0)",
    );
  });

  it.each([-1, 1.5, Number.NaN])('throws TypeError for pid %s', async (pid) => {
    await expect(new UnixWorkloadAttestor().attest({ pid, uid: 0, gid: 0, startTime: 1 })).rejects.toThrow(TypeError);
  });
});

describe('UnixWorkloadAttestor on a synthetic /proc', () => {
  const START = 424242;
  let root: string;
  let passwd: string;
  let group: string;

  function status(uid: string, gid: string, groups: string): string {
    return `Name:\tworker\nUmask:\t0022\nState:\tS (sleeping)\nPid:\t7\nUid:\t${uid}\nGid:\t${gid}\nFDSize:\t64\nGroups:\t${groups}\nVmPeak:\t1 kB\n`;
  }

  async function fakeProcess(pid: number, statusText: string | undefined, start: number | undefined): Promise<void> {
    await mkdir(join(root, String(pid)), { recursive: true });
    if (statusText !== undefined) await writeFile(join(root, String(pid), 'status'), statusText);
    if (start !== undefined) {
      const fields = ['S', ...Array.from({ length: 18 }, (_, i) => String(i + 4)), String(start), '23', '24'];
      await writeFile(join(root, String(pid), 'stat'), `${pid} (work er) ${fields.join(' ')}\n`);
    }
  }

  function attestor(): UnixWorkloadAttestor {
    return new UnixWorkloadAttestor({ procRoot: root, passwdPath: passwd, groupPath: group });
  }

  beforeAll(async () => {
    root = join(tmp.path, 'proc');
    passwd = join(tmp.path, 'passwd');
    group = join(tmp.path, 'group');
    await writeFile(
      passwd,
      [
        '# local users',
        'root:x:0:0:root:/root:/bin/bash',
        'alice:x:1001:1001:Alice:/home/alice:/bin/sh',
        'alice-dup:x:1001:1001:second entry, ignored:/:/bin/sh',
        '+nis::::::',
        'broken line',
        '',
      ].join('\n'),
    );
    await writeFile(group, ['root:x:0:', 'staff:x:2001:alice', 'docker:x:3000:alice,bob', ''].join('\n'));
    await fakeProcess(100, status('1000\t1001\t1002\t1003', '2000\t2001\t2002\t2003', '2001 3000 4000 '), START);
    await fakeProcess(101, status('5555\t5555\t5555\t5555', '6666\t6666\t6666\t6666', ''), START);
    await fakeProcess(102, undefined, undefined);
    await fakeProcess(103, status('0\t0\t0\t0', '0\t0\t0\t0', ''), undefined);
    await fakeProcess(104, 'Name:\tx\nGid:\t0\t0\t0\t0\nGroups:\t\n', START);
    await fakeProcess(105, status('0\t0\t0\t0', '0\t0\t0\t0', '12 x'), START);
  });

  it('uses effective ids, resolves names, and lists every supplementary group (no path: no exe)', async () => {
    expect(await attestor().attest({ pid: 100, uid: 1000, gid: 2000, startTime: START })).toEqual(
      unix(
        'uid:1001',
        'user:alice',
        'gid:2001',
        'group:staff',
        'supplementary_gid:2001',
        'supplementary_group:staff',
        'supplementary_gid:3000',
        'supplementary_group:docker',
        'supplementary_gid:4000',
      ),
    );
  });

  it('gives no user: or group: selector for ids with no name', async () => {
    expect(await attestor().attest({ pid: 101, uid: 5555, gid: 6666, startTime: START })).toEqual(
      unix('uid:5555', 'gid:6666'),
    );
  });

  it('rereads passwd and group when they change', async () => {
    const dir = join(tmp.path, 'changing');
    await mkdir(dir);
    const changingPasswd = join(dir, 'passwd');
    const changingGroup = join(dir, 'group');
    await writeFile(changingPasswd, 'svc:x:5555:6666::/:/bin/sh\n');
    await writeFile(changingGroup, 'svcs:x:6666:\n');
    const b = new UnixWorkloadAttestor({ procRoot: root, passwdPath: changingPasswd, groupPath: changingGroup });
    const peer = { pid: 101, uid: 5555, gid: 6666, startTime: START };
    expect(await b.attest(peer)).toEqual(unix('uid:5555', 'user:svc', 'gid:6666', 'group:svcs'));
    await writeFile(changingPasswd, 'renamed-svc:x:5555:6666::/:/bin/sh\n');
    await rm(changingGroup);
    expect(await b.attest(peer)).toEqual(unix('uid:5555', 'user:renamed-svc', 'gid:6666'));
  });

  it('fails UNAVAILABLE when the process has no status (gone before it was read)', async () => {
    await expectAttestationError(attestor(), { pid: 999, uid: 0, gid: 0, startTime: START }, UNAVAILABLE, 'workload attestation failed: process 999 no longer exists');
    await expectAttestationError(attestor(), { pid: 102, uid: 0, gid: 0, startTime: START }, UNAVAILABLE, 'workload attestation failed: process 102 no longer exists');
  });

  it('fails UNAVAILABLE when the process is gone by the final start-time check', async () => {
    await expectAttestationError(
      attestor(),
      { pid: 103, uid: 0, gid: 0, startTime: START },
      UNAVAILABLE,
      'workload attestation failed: process 103 exited or its pid was reused during attestation',
    );
  });

  it('fails UNAVAILABLE when the start time changed', async () => {
    await expectAttestationError(
      attestor(),
      { pid: 100, uid: 0, gid: 0, startTime: START - 1 },
      UNAVAILABLE,
      'workload attestation failed: process 100 exited or its pid was reused during attestation',
    );
  });

  it.each([
    [104, 'workload attestation failed: /proc/104/status has no Uid line'],
    [105, 'workload attestation failed: /proc/105/status has an invalid Groups line: "12 x"'],
  ])('fails INTERNAL for an unparseable status (pid %s)', async (pid, message) => {
    await expectAttestationError(attestor(), { pid, uid: 0, gid: 0, startTime: START }, 'ERR_INTERNAL_WORKLOAD_ATTESTATION', message);
  });
});

describe('parseProcStatus', () => {
  it.each([
    ['four ids each', 'Uid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\nGroups:\t9 10\n', { uid: 2, gid: 6, supplementaryGids: [9, 10] }],
    ['no supplementary groups', 'Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t \n', { uid: 0, gid: 0, supplementaryGids: [] }],
    ['largest id', 'Uid:\t4294967295\t4294967294\t0\t0\nGid:\t0\t1\t0\t0\nGroups:\n', { uid: 4294967294, gid: 1, supplementaryGids: [] }],
  ])('%s', (_name, text, expected) => {
    expect(parseProcStatus(text, 7)).toEqual(expected);
  });

  it.each([
    ['no Gid line', 'Uid:\t1\t2\t3\t4\nGroups:\t\n', 'workload attestation failed: /proc/7/status has no Gid line'],
    ['no Groups line', 'Uid:\t1\t2\t3\t4\nGid:\t1\t2\t3\t4\n', 'workload attestation failed: /proc/7/status has no Groups line'],
    ['a single uid', 'Uid:\t1\nGid:\t1\t2\t3\t4\nGroups:\t\n', 'workload attestation failed: /proc/7/status has no effective id in its Uid line'],
    ['a negative uid', 'Uid:\t1\t-2\t3\t4\nGid:\t1\t2\t3\t4\nGroups:\t\n', 'workload attestation failed: /proc/7/status has an invalid Uid line: "1\\t-2\\t3\\t4"'],
  ])('rejects %s', (_name, text, message) => {
    expect(() => parseProcStatus(text, 7)).toThrow(
      expect.objectContaining({ code: 'ERR_INTERNAL_WORKLOAD_ATTESTATION', message }),
    );
  });
});

describe('parseIdNames', () => {
  it('maps ids to names, first entry wins, skipping comments, NIS and malformed lines', () => {
    const text = [
      '# comment',
      'root:x:0:0:root:/root:/bin/bash',
      'daemon:x:1:1::/:/bin/sh',
      'other-root:x:0:0::/:/bin/sh',
      '+@netgroup::::::',
      '-baduser::::::',
      'noid:x::0::/:/bin/sh',
      ':x:5:5::/:/bin/sh',
      'short:x:6',
      'wheel:x:10:alice,bob',
    ].join('\n');
    expect([...parseIdNames(text)]).toEqual([
      [0, 'root'],
      [1, 'daemon'],
      [10, 'wheel'],
    ]);
  });
});

describe('UnixWorkloadAttestor options', () => {
  it.each<[string, UnixWorkloadAttestorOptions, string]>([
    ['relative procRoot', { procRoot: 'proc' }, 'unix: procRoot must be an absolute path'],
    ['relative passwdPath', { passwdPath: 'etc/passwd' }, 'unix: passwdPath must be an absolute path'],
    ['fractional size limit', { workloadSizeLimit: 1.5 }, 'unix: workloadSizeLimit must be an integer number of bytes'],
    ['non-boolean discoverWorkloadPath', { discoverWorkloadPath: 'yes' as unknown as boolean }, 'unix: discoverWorkloadPath must be a boolean'],
  ])('rejects %s with TypeError', (_name, options, message) => {
    expect(() => new UnixWorkloadAttestor(options)).toThrow(new TypeError(message));
  });
});
