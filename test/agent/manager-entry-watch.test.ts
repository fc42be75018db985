// The agent manager and a server's entry watch, against a real gRPC server
// on a Unix socket (test/helpers/spire-api-server.ts, serving WatchEntries)
// with a manual clock, so every sync here comes from a nudge, never from
// sync_interval: a nudge syncs at once; nudges during a sync are followed by
// one more; nudged syncs are rate limited (NUDGE_BURST); a stream that
// ended is reopened at the next sync, on the new channel after the agent SVID
// is renewed; stop closes it.
import { once } from 'node:events';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FAILOVER_RETRY_MS, NUDGE_BURST, NUDGE_MIN_GAP_MS } from '../../src/agent/manager.ts';
import { valueOf } from '../../src/common/telemetry/metrics.ts';
import { waitFor } from '../helpers/wait.ts';
import { managerFixture, settled, SYNC_MS, type ManagerFixture } from './manager-fixture.ts';

describe('agent manager: entry watch', () => {
  let fx: ManagerFixture;
  let clock: ManagerFixture['clock'];
  let server: ManagerFixture['server'];
  let manager: ManagerFixture['manager'];
  let metrics: ManagerFixture['metrics'];

  beforeEach(async () => {
    fx = await managerFixture('herald-manager-watch-', { entryWatch: true });
    ({ clock, server, manager, metrics } = fx);
  });

  afterEach(() => fx.stop());

  /** Resolves once `method` has been called `n` times in all. */
  const called = async (method: string, n: number): Promise<void> => {
    while (server.callsOf(method).length < n) await server.nextCall(method);
  };
  const syncs = () => server.callsOf('GetBundle').length;
  /**
   * A negative check: no further call of `method` arrives within a bounded
   * time. A call the agent starts by mistake reaches this local server in
   * milliseconds; one event-loop turn would not be enough to see it.
   */
  const noMoreCalls = async (method: string, n: number, ms = 300): Promise<void> => {
    await new Promise((r) => setTimeout(r, ms));
    expect(server.callsOf(method)).toHaveLength(n);
  };

  it('opens the watch after the first sync and syncs at once on each nudge', async () => {
    await manager.start();
    await called('WatchEntries', 1);
    expect(syncs()).toBe(1);
    server.entries.push({ id: 'e2', spiffeId: 'spiffe://example.org/api' });
    const synced = once(manager.synchronizer, 'synced');
    server.nudge();
    await synced;
    expect(syncs()).toBe(2);
    expect(manager.cache.svid('e2')?.id.toString()).toBe('spiffe://example.org/api');
    expect(await valueOf(metrics.entryNudges)).toBe(1);
    // The watch stays open: no second stream.
    await noMoreCalls('WatchEntries', 1);
  });

  it('nudges during a sync are followed by one more sync, which reads what they announced', async () => {
    await manager.start();
    await called('WatchEntries', 1);
    const release1 = server.holdGetBundle();
    server.nudge();
    await called('GetBundle', 2);
    // The sync is under way (held at its first call); the entry lands after it began.
    server.entries.push({ id: 'e2', spiffeId: 'spiffe://example.org/api' });
    server.nudge();
    server.nudge();
    await waitFor('the nudges received', async () => (await valueOf(metrics.entryNudges)) === 3);
    const release2 = server.holdGetBundle();
    release1();
    // The one follow-up sync, held in turn: the three nudges gave one.
    await called('GetBundle', 3);
    const synced = once(manager.synchronizer, 'synced');
    release2();
    await synced;
    expect(manager.cache.svid('e2')?.id.toString()).toBe('spiffe://example.org/api');
    await noMoreCalls('GetBundle', 3);
  });

  it('nudged syncs beyond NUDGE_BURST wait NUDGE_MIN_GAP_MS each; a sync in between covers a held-back nudge', async () => {
    await manager.start();
    await called('WatchEntries', 1);
    let nudges = 0;
    const nudge = async (): Promise<void> => {
      server.nudge();
      nudges++;
      await waitFor('the nudge received', async () => (await valueOf(metrics.entryNudges)) === nudges);
    };
    // A burst syncs at once, nudge by nudge.
    for (let i = 1; i <= NUDGE_BURST; i++) {
      const synced = once(manager.synchronizer, 'synced');
      await nudge();
      await synced;
      expect(syncs()).toBe(1 + i);
    }
    // The next waits for the bucket to refill.
    await nudge();
    await noMoreCalls('GetBundle', 1 + NUDGE_BURST);
    let synced = once(manager.synchronizer, 'synced');
    clock.advance(NUDGE_MIN_GAP_MS);
    await synced;
    expect(syncs()).toBe(2 + NUDGE_BURST);
    // Held back again, and then a periodic sync comes first: the held-back nudge is dropped.
    await nudge();
    synced = once(manager.synchronizer, 'synced');
    await manager.syncNow();
    await synced;
    expect(syncs()).toBe(3 + NUDGE_BURST);
    clock.advance(NUDGE_MIN_GAP_MS);
    await noMoreCalls('GetBundle', 3 + NUDGE_BURST);
  });

  it('reopens a watch the server ended at the next sync, not before', async () => {
    await manager.start();
    await called('WatchEntries', 1);
    for (const w of server.watches) w.end();
    await waitFor('the stream gone', () => server.watches.size === 0);
    await noMoreCalls('WatchEntries', 1);
    clock.advance(SYNC_MS);
    await called('WatchEntries', 2);
    expect(syncs()).toBe(2);
  });

  it('after the agent SVID is renewed, the watch is opened on the new channel with the new SVID', async () => {
    server.agentTtlMs = 60_000;
    await manager.start();
    await called('WatchEntries', 1);
    const { renewAt, chain } = manager.rotator.svid!;
    const first = chain[0]!.serialNumber;
    expect(server.callsOf('WatchEntries')[0]!.peerSerial).toBe(first);
    const rotated = once(manager.rotator, 'rotated');
    while (clock.now() < renewAt) {
      const synced = once(manager.synchronizer, 'synced');
      clock.advance(SYNC_MS);
      await synced;
      await settled();
    }
    await rotated;
    const renewed = manager.rotator.svid!.chain[0]!.serialNumber;
    expect(renewed).not.toBe(first);
    await called('WatchEntries', 2);
    expect(server.callsOf('WatchEntries')[1]!.peerSerial).toBe(renewed);
    // And nudges arrive on it.
    const synced = once(manager.synchronizer, 'synced');
    const before = syncs();
    server.nudge();
    await synced;
    expect(syncs()).toBe(before + 1);
  });

  it('a stream that keeps ending is reopened at most once per sync_interval on the same client', async () => {
    await manager.start();
    await called('WatchEntries', 1);
    // The server ends the stream; a nudge before that made the agent sync, but that sync does not reopen it yet.
    server.nudge();
    for (const w of server.watches) w.end();
    await waitFor('the stream gone', () => server.watches.size === 0);
    await manager.syncNow();
    await noMoreCalls('WatchEntries', 1);
    clock.advance(SYNC_MS);
    await called('WatchEntries', 2);
  });

  it('a failed nudged sync is retried on the failure schedule, not at the next sync_interval', async () => {
    await manager.start();
    await called('WatchEntries', 1);
    server.failNext.set('GetBundle', { code: 14, details: 'the server is restarting' });
    const failed = waitFor('the nudged sync failed', () => server.callsOf('GetBundle').length === 2);
    server.nudge();
    await failed;
    // The first retry after an unreachable server comes within 0.25–0.75 s (FAILOVER_RETRY_MS), not SYNC_MS.
    const synced = once(manager.synchronizer, 'synced');
    clock.advance(FAILOVER_RETRY_MS * 1.5);
    await synced;
    expect(syncs()).toBe(3);
  });

  it('stop closes the watch', async () => {
    await manager.start();
    await called('WatchEntries', 1);
    expect(manager.watchingEntries).toBe(true);
    manager.stop();
    expect(manager.watchingEntries).toBe(false);
    await waitFor('the stream closed at the server', () => server.watches.size === 0);
  });
});
