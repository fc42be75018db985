// Storage failures of the SQLite datastore on real filesystems (issue 15
// item 6): a tmpfs filled to the last block and an ext4 disk the kernel
// turns read-only. Each failure names its cause (SQLITE_FULL, ENOSPC, EROFS),
// maps to RESOURCE_EXHAUSTED / UNAVAILABLE, is logged, and makes the
// datastore's readiness false until a write succeeds again.
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from '../../../src/common/clock.ts';
import { GrpcCode, grpcStatusFor } from '../../../src/common/errors.ts';
import { openSqliteDataStore, StorageHealth, type DataStore } from '../../../src/server/datastore/index.ts';
import { SpiffeId } from '../../../src/spiffe/id.ts';
import { mountExt4, mountTmpfs, type FailingDisk, type FullableFs } from '../../helpers/small-fs.ts';
import { makeTempDir } from '../../helpers/tmp.ts';
import { waitFor } from '../../helpers/wait.ts';

const entry = (n: number) => ({
  spiffeId: SpiffeId.fromString(`spiffe://example.org/w/${n}`),
  parentId: SpiffeId.fromString('spiffe://example.org/agent'),
  selectors: [{ type: 'unix', value: `uid:${n}` }],
});

function capturingLogger(): { log: Logger; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void out.push(s) });
  return { log, lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

async function caught(fn: () => Promise<unknown>): Promise<Error & { code: string }> {
  try {
    await fn();
  } catch (err) {
    return err as Error & { code: string };
  }
  throw new Error('expected a rejection');
}

let tmp: { path: string; cleanup: () => Promise<void> };
let ds: DataStore | undefined;
let health: StorageHealth | undefined;

beforeAll(async () => {
  tmp = await makeTempDir('herald-sterr-');
});

afterEach(async () => {
  health?.stop();
  await ds?.close();
  ds = undefined;
  health = undefined;
});

afterAll(async () => {
  await tmp.cleanup();
});

describe('datastore on a full disk (tmpfs)', () => {
  let fs: FullableFs;
  beforeAll(async () => {
    fs = await mountTmpfs(join(tmp.path, 'full'), 4);
  });
  afterAll(async () => {
    await fs?.unmount();
  });

  it('names the cause, answers RESOURCE_EXHAUSTED, logs it, and is not ready until a write succeeds', async () => {
    const { log, lines } = capturingLogger();
    health = new StorageHealth({ log, clock: systemClock, checkIntervalMs: 60_000, recoveryIntervalMs: 50 });
    ds = await openSqliteDataStore({ path: join(fs.path, 'datastore.sqlite3'), storageEvents: health });
    await health.start(() => ds!.checkWritable());
    await ds.createEntry(entry(1));
    expect(health.ready()).toBe(true);

    await fs.fill();
    const err = await caught(() => ds!.createEntry(entry(2)));
    expect(err).toMatchObject({ code: 'ERR_DATASTORE_FULL', message: 'datastore: create entry: no space left on the datastore disk (SQLITE_FULL, ENOSPC)' });
    expect(grpcStatusFor(err)).toBe(GrpcCode.RESOURCE_EXHAUSTED);
    expect(health.ready()).toBe(false);

    // A join token is a secret: the failure names the cause, never the token.
    const tokenErr = await caught(() => ds!.createJoinToken({ token: 'secret-token-value', expiresAt: 2_000_000_000 }));
    expect(tokenErr.message).toBe('datastore: create join token: no space left on the datastore disk (SQLITE_FULL, ENOSPC)');
    const logged = lines().filter((l) => l.level === 50);
    expect(logged.map((l) => l.msg)).toEqual([
      'Datastore create entry failed: datastore: create entry: no space left on the datastore disk (SQLITE_FULL, ENOSPC)',
      'Datastore create join token failed: datastore: create join token: no space left on the datastore disk (SQLITE_FULL, ENOSPC)',
    ]);
    expect(logged[0]).toMatchObject({ op: 'create entry', code: 'ERR_DATASTORE_FULL' });
    expect(JSON.stringify(lines())).not.toContain('secret-token-value');
    // Reads still work on a full disk.
    expect(await ds.countEntries()).toBe(1);

    await fs.free();
    await waitFor('the storage check to see the disk writable again', () => health!.ready());
    await ds.createEntry(entry(2));
    expect(await ds.countEntries()).toBe(2);
    expect(lines().some((l) => l.msg === 'Datastore writes again: ready')).toBe(true);
  });

  it('finds a full disk in the periodic check before any write fails', async () => {
    const { log } = capturingLogger();
    health = new StorageHealth({ log, clock: systemClock, checkIntervalMs: 50, recoveryIntervalMs: 50 });
    ds = await openSqliteDataStore({ path: join(fs.path, 'datastore.sqlite3'), storageEvents: health });
    await health.start(() => ds!.checkWritable());
    expect(health.ready()).toBe(true);
    await fs.fill();
    try {
      await waitFor('the storage check to report the full disk', () => !health!.ready());
      expect(health.problem()).toBe('datastore: storage check: no space left on the datastore disk (ENOSPC)');
    } finally {
      await fs.free();
    }
    await waitFor('ready again', () => health!.ready());
  });
});

describe('datastore on a disk that turns read-only (ext4 errors=remount-ro)', () => {
  let disk: FailingDisk;
  beforeAll(async () => {
    disk = await mountExt4(join(tmp.path, 'ext4.img'), join(tmp.path, 'ro'), 16);
  });
  afterAll(async () => {
    await disk?.unmount();
  });

  it('names EROFS and answers UNAVAILABLE, and is not ready', async () => {
    const { log, lines } = capturingLogger();
    health = new StorageHealth({ log, clock: new ManualClock(), checkIntervalMs: 60_000 });
    ds = await openSqliteDataStore({ path: join(disk.path, 'datastore.sqlite3'), storageEvents: health });
    await health.start(() => ds!.checkWritable());
    await ds.createEntry(entry(1));

    await disk.turnReadOnly();
    const err = await caught(() => ds!.createEntry(entry(2)));
    expect(err).toMatchObject({ code: 'ERR_DATASTORE_READ_ONLY', message: 'datastore: create entry: the datastore filesystem is read-only (SQLITE_IOERR_WRITE, EROFS)' });
    expect(grpcStatusFor(err)).toBe(GrpcCode.UNAVAILABLE);
    expect(health.ready()).toBe(false);
    expect(lines().find((l) => l.level === 50)).toMatchObject({ op: 'create entry', code: 'ERR_DATASTORE_READ_ONLY' });
    await expect(ds.checkWritable()).rejects.toMatchObject({ code: 'ERR_DATASTORE_READ_ONLY' });
  });
});
