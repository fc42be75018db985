// Issue 15 item 6 with the real binaries: herald-server's data_dir on a
// small tmpfs that fills up, and on an ext4 disk the kernel turns read-only.
// The CLI shows the cause instead of "internal error", the server logs it,
// and healthcheck reports unhealthy until the datastore can write again.
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startServer, type ServerHandle } from '../helpers/herald.ts';
import { freePort } from '../helpers/ports.ts';
import { mountExt4, mountTmpfs } from '../helpers/small-fs.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';

let tmp: { path: string; cleanup: () => Promise<void> };
let server: ServerHandle | undefined;
let unmount: (() => Promise<void>) | undefined;

beforeEach(async () => {
  tmp = await makeTempDir('herald-stfs-');
});

afterEach(async () => {
  await server?.stop();
  server = undefined;
  await unmount?.();
  unmount = undefined;
  await tmp.cleanup();
});

const createEntry = (s: ServerHandle, n: number) =>
  s.cli('entry', 'create', '-parentID', 'spiffe://example.org/node', '-spiffeID', `spiffe://example.org/w/${n}`, '-selector', `unix:uid:${1000 + n}`);

describe('herald-server storage failures', { timeout: 90_000 }, () => {
  it('a full data_dir: entry create and token generate name the cause, the server logs it, healthcheck is unhealthy (also after a restart) until space is freed', async () => {
    const fs = await mountTmpfs(join(tmp.path, 'server-data'), 8);
    unmount = () => fs.unmount();
    const healthPort = await freePort();
    server = await startServer({ dir: tmp.path, extraTop: `health_checks: { listener_enabled: true, bind_address: 127.0.0.1, bind_port: ${healthPort} }` });
    const ready = async () => (await fetch(`http://127.0.0.1:${healthPort}/ready`)).status;
    expect((await createEntry(server, 1)).code).toBe(0);
    expect(await ready()).toBe(200);

    await fs.fill();
    const entry = await createEntry(server, 2);
    expect(entry.code).not.toBe(0);
    expect(entry.stderr).toContain('(code: ResourceExhausted, msg: "datastore: create entry: no space left on the datastore disk (SQLITE_FULL, ENOSPC)")');
    const token = await server.cli('token', 'generate');
    expect(token.code).not.toBe(0);
    expect(token.stderr).toContain('datastore: create join token: no space left on the datastore disk (SQLITE_FULL, ENOSPC)');
    expect(token.stderr).not.toContain('internal error');
    expect(server.proc.output()).toContain('Datastore create entry failed: datastore: create entry: no space left on the datastore disk (SQLITE_FULL, ENOSPC)');
    expect(server.proc.output()).toContain('Datastore create join token failed');
    const health = await server.cli('healthcheck');
    expect(health.code).toBe(1);
    expect(health.stderr).toMatch(/server is unhealthy: server returned status "NOT_SERVING"/i);
    expect(await ready()).toBe(500);
    expect((await fetch(`http://127.0.0.1:${healthPort}/live`)).status).toBe(200);

    // A restart on the full disk still serves reads, and is not ready from the start.
    await server.restart();
    expect((await server.cli('healthcheck')).code).toBe(1);
    expect((await server.cli('entry', 'show')).stdout).toContain('spiffe://example.org/w/1');
    expect((await createEntry(server, 2)).stderr).toContain('no space left on the datastore disk (SQLITE_FULL, ENOSPC)');

    await fs.free();
    await waitFor('healthcheck to pass again', async () => (await server!.cli('healthcheck')).code === 0, { timeoutMs: 15_000, intervalMs: 500 });
    expect((await createEntry(server, 2)).code).toBe(0);
    expect(await ready()).toBe(200);
  });

  it('a data_dir whose disk turns read-only: entry create answers Unavailable naming EROFS, healthcheck is unhealthy', async () => {
    const disk = await mountExt4(join(tmp.path, 'disk.img'), join(tmp.path, 'server-data'), 16);
    unmount = () => disk.unmount();
    server = await startServer({ dir: tmp.path });
    expect((await createEntry(server, 1)).code).toBe(0);

    await disk.turnReadOnly();
    const entry = await createEntry(server, 2);
    expect(entry.code).not.toBe(0);
    expect(entry.stderr).toContain('(code: Unavailable, msg: "datastore: create entry: the datastore filesystem is read-only (SQLITE_IOERR_WRITE, EROFS)")');
    expect(server.proc.output()).toContain('Datastore create entry failed: datastore: create entry: the datastore filesystem is read-only (SQLITE_IOERR_WRITE, EROFS)');
    const health = await server.cli('healthcheck');
    expect(health.code).toBe(1);
    expect(health.stderr).toMatch(/server is unhealthy: server returned status "NOT_SERVING"/i);
  });
});
