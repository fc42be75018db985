// The agent's manager against a real gRPC server on a Unix socket, its
// schedule driven by a manual clock: one sync per sync_interval, a failed
// sync keeps the cache and retries, the agent SVID is renewed by the sync
// that finds it due, and a ban stops the agent and removes its SVID. Each
// step waits on an event (the synchronizer's `synced`, the rotator's
// `rotated`, whenFatal) after moving the clock, never on a sleep.
import { once } from 'node:events';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PermissionDeniedReason, permissionDeniedTrailer } from '../../src/common/grpc/permission-denied.ts';
import { retryCapMs } from '../../src/agent/manager.ts';
import { AgentStorage } from '../../src/agent/storage.ts';
import { runCommand } from '../helpers/process.ts';
import { managerFixture, settled, SYNC_MS, type ManagerFixture } from './manager-fixture.ts';

describe('agent manager', () => {
  let fx: ManagerFixture;
  let tmp: ManagerFixture['tmp'];
  let clock: ManagerFixture['clock'];
  let server: ManagerFixture['server'];
  let manager: ManagerFixture['manager'];

  beforeEach(async () => {
    fx = await managerFixture('herald-manager-');
    ({ tmp, clock, server, manager } = fx);
  });

  afterEach(() => fx.stop());

  /** Moves the clock to the next scheduled sync and waits for it to finish (or fail). */
  const nextSync = async (ms = SYNC_MS): Promise<void> => {
    const syncs = server.callsOf('GetBundle').length;
    clock.advance(ms);
    // The sync starts at once on the timer; it has called GetBundle by the time it settles.
    await manager.syncNow().catch(() => undefined);
    await settled();
    expect(server.callsOf('GetBundle').length).toBe(syncs + 1);
  };

  it('attests, syncs once at start, then once per sync interval and not before', async () => {
    await manager.start();
    await manager.whenReady();
    expect(server.callsOf('AttestAgent')).toHaveLength(1);
    expect(server.callsOf('GetBundle')).toHaveLength(1);
    expect(manager.cache.svid('e1')?.id.toString()).toBe('spiffe://example.org/web');
    expect(manager.lastSyncAt).toBe(clock.now());

    // Just before the interval: no timer fires, so no sync is under way.
    clock.advance(SYNC_MS - 1);
    const synced = once(manager.synchronizer, 'synced');
    expect(server.callsOf('GetBundle')).toHaveLength(1);
    clock.advance(1);
    await synced;
    expect(server.callsOf('GetBundle')).toHaveLength(2);
    expect(manager.lastSyncAt).toBe(clock.now());
  });

  it('a failed sync keeps the SVIDs and the next one, later, succeeds', async () => {
    await manager.start();
    const svid = manager.cache.svid('e1');
    server.failNext.set('GetBundle', { code: 14, details: 'the server is restarting' });
    await nextSync();
    expect(manager.cache.svid('e1')).toBe(svid);
    const lastGood = manager.lastSyncAt;
    expect(lastGood).toBeLessThan(clock.now());
    // The retry after a failure waits at most the retry cap (± 10 %): advance past it and wait for the sync.
    const synced = once(manager.synchronizer, 'synced');
    clock.advance(retryCapMs(SYNC_MS) * 1.1);
    await synced;
    expect(manager.lastSyncAt).toBe(clock.now());
  });

  it('stops serving an X509-SVID at its expiry when it could not be renewed (soak finding)', async () => {
    await manager.start();
    const svid = manager.cache.svid('e1')!;
    const notAfter = svid.notAfter;
    // The server is gone for good: every sync fails from now on.
    await server.stop();
    clock.advance(notAfter - clock.now() - 1);
    expect(manager.cache.svid('e1')).toBe(svid);
    clock.advance(1);
    expect(manager.cache.svid('e1')).toBeUndefined();
  });

  it('a read-only data_dir does not fail the sync: a new bundle is used, SVIDs renewed, and the bundle stored once writable (soak finding)', async () => {
    await manager.start();
    const before = manager.cache.svid('e1');
    const dir = join(tmp.path, 'data');
    const storage = await AgentStorage.open(dir);
    const mount = async (...args: string[]) => expect((await runCommand('mount', args)).code).toBe(0);
    await mount('--bind', dir, dir);
    try {
      await mount('-o', 'remount,bind,ro', dir);
      // A new CA: the bundle changes, and the SVIDs signed by the now tainted one are renewed at once.
      await server.rotateAndTaint();
      await nextSync();
      expect(manager.lastSyncAt, 'the sync failed').toBe(clock.now());
      expect(manager.cache.svid('e1')).not.toBe(before);
      expect(manager.cache.bundle().x509Authorities).toHaveLength(2);
      expect(await storage.loadBundle()).toHaveLength(1);
    } finally {
      expect((await runCommand('umount', [dir])).code).toBe(0);
    }
    await nextSync();
    expect(await storage.loadBundle()).toHaveLength(2);
  });

  it('renews the agent SVID in the sync that finds it due, with RenewAgent', async () => {
    server.agentTtlMs = 60_000;
    await manager.start();
    const first = manager.rotator.svid!;
    const rotated = once(manager.rotator, 'rotated');
    // 30 s SVID half-life: a few sync intervals on, the sync renews it first thing.
    while (clock.now() < first.renewAt) {
      const synced = once(manager.synchronizer, 'synced');
      clock.advance(SYNC_MS);
      await synced;
      await settled();
    }
    const [{ how, svid }] = (await rotated) as [{ how: string; svid: { chain: { serialNumber: string }[] } }];
    expect(how).toBe('renewed');
    expect(server.callsOf('RenewAgent')).toHaveLength(1);
    expect(svid.chain[0]!.serialNumber).not.toBe(first.chain[0]!.serialNumber);
    // Later calls present the renewed SVID.
    expect(server.calls.at(-1)!.peerSerial).toBe(svid.chain[0]!.serialNumber);
  });

  it('a ban stops the agent: the cache is emptied and the stored SVID removed', async () => {
    await manager.start();
    expect(manager.cache.svid('e1')).toBeDefined();
    server.failNext.set('GetBundle', { code: 7, details: 'agent is banned', metadata: permissionDeniedTrailer(7, 'agent is banned', PermissionDeniedReason.AGENT_BANNED) });
    clock.advance(SYNC_MS);
    const fatal = await manager.whenFatal();
    expect(fatal.code).toBe('ERR_AGENT_BANNED');
    expect(manager.cache.entries()).toHaveLength(0);
    await expect(access(join(tmp.path, 'data', 'agent_svid.der'))).rejects.toThrow();
  });
});
