// The data_dir lock (issue 15 item 2) with real processes: a second holder is
// refused with the first one's pid, in the same process or another; the
// kernel frees the lock when its holder is SIGKILLed, and a leftover holder
// file never blocks.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lockDataDir, lockHolderFile, type DataDirLock } from '../../src/common/data-dir-lock.ts';
import { ROOT } from '../helpers/herald.ts';
import { runCommand, startProcess } from '../helpers/process.ts';
import { makeTempDir } from '../helpers/tmp.ts';

let tmp: { path: string; cleanup: () => Promise<void> };
const held: DataDirLock[] = [];

beforeEach(async () => {
  tmp = await makeTempDir('herald-lock-');
});

afterEach(async () => {
  for (const l of held.splice(0)) await l.release();
  await tmp.cleanup();
});

async function lock(dir: string, program: string): Promise<DataDirLock> {
  const l = await lockDataDir(dir, program);
  held.push(l);
  return l;
}

describe('lockDataDir', () => {
  it('refuses a second holder of the same kind in the same process, naming the first, until it releases', async () => {
    const dir = join(tmp.path, 'data');
    const first = await lock(dir, 'herald-server');
    const err = await lockDataDir(dir, 'herald-server').then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_FAILED_PRECONDITION_DATA_DIR_LOCKED' });
    expect((err as Error).message).toMatch(
      new RegExp(`^herald-server: data_dir ${dir} is in use by herald-server \\(pid ${process.pid}, running since \\S+\\); two daemons of a kind on one data_dir overwrite each other's keys`),
    );
    await first.release();
    await lock(dir, 'herald-server');
  });

  it('lets a server and an agent share a data_dir (SPIRE\'s quick-start configs both say ./.data)', async () => {
    const dir = join(tmp.path, 'shared');
    await lock(dir, 'herald-server');
    await lock(dir, 'herald-agent');
  });

  it('refuses while another process holds it; SIGKILL of the holder frees it at once', async () => {
    const dir = join(tmp.path, 'data');
    const script = `import { lockDataDir } from ${JSON.stringify(join(ROOT, 'src/common/data-dir-lock.ts'))};
await lockDataDir(${JSON.stringify(dir)}, 'herald-server');
console.log('locked');
setInterval(() => {}, 1000);`;
    const holder = startProcess(join(ROOT, 'node_modules/.bin/node'), ['--input-type=module', '-e', script]);
    try {
      await holder.waitForOutput('locked');
      const err = await lockDataDir(dir, 'herald-server').then(() => undefined, (e: unknown) => e);
      expect((err as Error).message).toContain(`data_dir ${dir} is in use by herald-server (pid ${holder.pid}, running since `);
      await holder.stop('SIGKILL');
      // No stale lock: the holder file is still there, the lock is not.
      await lock(dir, 'herald-server');
    } finally {
      await holder.stop('SIGKILL');
    }
  });

  it('is not blocked by a holder file left behind (only the kernel lock counts)', async () => {
    const dir = join(tmp.path, 'data');
    await mkdir(dir);
    // A live pid (ours) in the file, as a crashed holder whose pid was reused would leave it.
    await writeFile(join(dir, lockHolderFile('herald-server')), JSON.stringify({ pid: process.pid, program: 'herald-server', started_at: '2020-01-01T00:00:00Z' }));
    await lock(dir, 'herald-server');
  });

  it('names a data_dir it cannot lock (read-only filesystem)', async () => {
    const dir = join(tmp.path, 'ro');
    await mkdir(dir);
    const mounted = await runCommand('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', dir]);
    if (mounted.code !== 0) throw new Error(`mount failed (this test needs root): ${mounted.stderr}`);
    try {
      const err = await lockDataDir(dir, 'herald-agent').then(() => undefined, (e: unknown) => e);
      expect(err).toMatchObject({ code: 'ERR_UNAVAILABLE_DATA_DIR_LOCK' });
      expect((err as Error).message).toBe(`herald-agent: cannot create the data_dir lock ${dir}/herald-agent.lock: unable to open database file (EROFS)`);
    } finally {
      await runCommand('umount', [dir]);
    }
  });
});
