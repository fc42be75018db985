// What the conformance suite needs from a backend: a fresh, migrated
// datastore per test, more connections to the same database (another
// "server"), and raw SQL for poking at the schema.
import { afterEach, beforeEach } from 'vitest';
import { ManualClock } from '../../../../src/common/clock.ts';
import type { DataStore } from '../../../../src/server/datastore/datastore.ts';
import { SpiffeId } from '../../../../src/spiffe/id.ts';
import { TrustDomain } from '../../../../src/spiffe/trust-domain.ts';
import type { StoredBundle } from '../../../../src/server/datastore/types.ts';

export interface Backend {
  readonly name: 'sqlite' | 'postgres';
  /** Opens a datastore on the current test's database (migrating it). */
  open(clock: ManualClock): Promise<DataStore>;
  /** Runs SQL on the current test's database through a separate raw connection. */
  raw(sql: string): Promise<Record<string, unknown>[]>;
  /** Prepares a fresh, empty database for the next test. */
  fresh(): Promise<void>;
  /** Removes the current test's database. */
  dispose(): Promise<void>;
}

export interface Fixture {
  readonly backend: Backend;
  readonly clock: ManualClock;
  readonly ds: DataStore;
  /** Another datastore on the same database, closed after the test. */
  openAnother(): Promise<DataStore>;
}

/** Registers per-test setup/teardown and returns the current fixture. */
export function useFixture(backend: () => Backend): () => Fixture {
  let current: Fixture | undefined;
  let opened: DataStore[] = [];
  beforeEach(async () => {
    const b = backend();
    await b.fresh();
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const ds = await b.open(clock);
    opened = [ds];
    current = {
      backend: b,
      clock,
      ds,
      openAnother: async () => {
        const other = await b.open(clock);
        opened.push(other);
        return other;
      },
    };
  });
  afterEach(async () => {
    for (const ds of opened) await ds.close();
    opened = [];
    await current?.backend.dispose();
    current = undefined;
  });
  return () => {
    if (current === undefined) throw new Error('fixture used outside a test');
    return current;
  };
}

export const T0 = Date.UTC(2026, 0, 1) / 1000;
export const td = (s: string) => TrustDomain.require(s);
export const id = (s: string) => SpiffeId.require(s);
export const sel = (type: string, value: string) => ({ type, value });

export function bundle(name: string, over: Partial<StoredBundle> = {}): StoredBundle {
  return {
    trustDomain: td(name),
    x509Authorities: [{ der: new Uint8Array([0x30, 1, 2, 3]), tainted: false }],
    jwtAuthorities: [{ keyId: 'k1', publicKey: new Uint8Array([0x30, 9, 9]), expiresAt: T0 + 3600, tainted: false }],
    refreshHint: 300,
    sequenceNumber: 1n,
    ...over,
  };
}

/** Runs fn and returns the thrown error (fails when nothing is thrown). */
export async function caught(fn: () => Promise<unknown>): Promise<{ code?: string; message: string; name: string } & Record<string, unknown>> {
  try {
    await fn();
  } catch (err) {
    return err as { code?: string; message: string; name: string } & Record<string, unknown>;
  }
  throw new Error('expected an error, got none');
}
