// Real filesystems that run out of room or turn read-only, for storage
// failure tests (needs root: mount). A tmpfs of a few MiB is filled to the
// last block; an ext4 image on a loop device mounted errors=remount-ro is
// made to fail the way a dying disk does (the kernel remounts it read-only
// under open files — `mount -o remount,ro` is refused with EBUSY while a
// database file is open for writing, so it cannot be used on a running
// server).
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from './process.ts';

async function sh(cmd: string, args: string[]): Promise<string> {
  const r = await runCommand(cmd, args, { timeoutMs: 30_000 });
  if (r.code !== 0) throw new Error(`test/helpers/small-fs: ${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()} — these tests need root (mount)`);
  return r.stdout;
}

async function unmount(path: string): Promise<void> {
  const r = await runCommand('umount', [path], { timeoutMs: 30_000 });
  // Something still holds a file open (a process that failed to stop): detach lazily rather than leave the mount.
  if (r.code !== 0) await runCommand('umount', ['-l', path], { timeoutMs: 30_000 });
}

export interface FullableFs {
  readonly path: string;
  /** Writes a filler file until the filesystem has no block left (ENOSPC). */
  fill(): Promise<void>;
  /** Removes the filler. */
  free(): Promise<void>;
  unmount(): Promise<void>;
}

/** A tmpfs of `sizeMiB` mounted at `path` (created). */
export async function mountTmpfs(path: string, sizeMiB: number): Promise<FullableFs> {
  await mkdir(path, { recursive: true });
  await sh('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0700`, 'tmpfs', path]);
  const filler = join(path, 'filler');
  return {
    path,
    async fill() {
      const fd = openSync(filler, 'a');
      try {
        for (const size of [64 * 1024, 4096, 512, 1]) {
          const chunk = Buffer.alloc(size, 0x55);
          for (;;) {
            try {
              if (writeSync(fd, chunk) < size) break;
            } catch (err) {
              if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
              throw err;
            }
          }
        }
      } finally {
        closeSync(fd);
      }
    },
    free: () => rm(filler, { force: true }),
    unmount: () => unmount(path),
  };
}

export interface FailingDisk {
  readonly path: string;
  /** Makes the filesystem fail as a disk error does: ext4 aborts its journal and remounts read-only (EROFS from then on). */
  turnReadOnly(): Promise<void>;
  unmount(): Promise<void>;
}

/** An ext4 filesystem of `sizeMiB` in `image` (a file), loop-mounted at `path` with errors=remount-ro. */
export async function mountExt4(image: string, path: string, sizeMiB: number): Promise<FailingDisk> {
  await mkdir(path, { recursive: true });
  await rm(image, { force: true });
  await sh('truncate', ['-s', `${sizeMiB}M`, image]);
  await sh('mkfs.ext4', ['-q', '-F', '-E', 'root_owner=0:0', image]);
  await sh('mount', ['-o', 'loop,errors=remount-ro', image, path]);
  const device = (await sh('findmnt', ['-no', 'SOURCE', path])).trim();
  const name = device.split('/').pop()!;
  return {
    path,
    async turnReadOnly() {
      await writeFile(`/sys/fs/ext4/${name}/trigger_fs_error`, 'herald test: simulated disk error\n');
    },
    async unmount() {
      await unmount(path);
      await rm(image, { force: true });
    },
  };
}
