// Conformance: attested nodes, node selectors and join tokens.
import { describe, expect, it } from 'vitest';
import type { NodeFilter } from '../../../../src/server/datastore/datastore.ts';
import type { AttestedNodeInput } from '../../../../src/server/datastore/types.ts';
import { T0, caught, id, sel, type Fixture } from './fixture.ts';

const agent = (n: number) => id(`spiffe://example.org/spire/agent/join_token/${n}`);

function node(n: number, over: Partial<AttestedNodeInput> = {}): AttestedNodeInput {
  return { spiffeId: agent(n), attestationDataType: 'join_token', certSerialNumber: `serial-${n}`, certNotAfter: T0 + 3600, ...over };
}

export function nodeAndTokenConformance(f: () => Fixture): void {
  describe('attested nodes', () => {
    it('creates, gets and refuses a duplicate', async () => {
      const { ds } = f();
      const created = await ds.createAttestedNode(node(1, { newCertSerialNumber: 'n1', newCertNotAfter: T0 + 7200, canReattest: true }));
      expect(created).toMatchObject({
        attestationDataType: 'join_token', certSerialNumber: 'serial-1', certNotAfter: T0 + 3600,
        newCertSerialNumber: 'n1', newCertNotAfter: T0 + 7200, canReattest: true, banned: false, createdAt: T0,
      });
      expect(created.spiffeId.equals(agent(1))).toBe(true);
      expect(created.selectors).toBeUndefined();
      expect(await ds.getAttestedNode(agent(1))).toEqual(created);
      expect(await ds.getAttestedNode(agent(2))).toBeUndefined();
      expect(await caught(() => ds.createAttestedNode(node(1)))).toMatchObject({
        code: 'ERR_ALREADY_EXISTS_AGENT', message: 'datastore: attested node "spiffe://example.org/spire/agent/join_token/1" already exists',
      });
    });

    it('updates the masked fields, bans, and deletes with selectors', async () => {
      const { ds } = f();
      await ds.createAttestedNode(node(1));
      const u = await ds.updateAttestedNode({ spiffeId: agent(1), newCertSerialNumber: 'next', newCertNotAfter: T0 + 99, certSerialNumber: 'ignored' }, { newCertSerialNumber: true, newCertNotAfter: true });
      expect(u).toMatchObject({ certSerialNumber: 'serial-1', newCertSerialNumber: 'next', newCertNotAfter: T0 + 99 });
      const v = await ds.updateAttestedNode({ spiffeId: agent(1), certSerialNumber: 'next', certNotAfter: T0 + 99, newCertSerialNumber: '', newCertNotAfter: 0, canReattest: true });
      expect(v).toMatchObject({ certSerialNumber: 'next', certNotAfter: T0 + 99, newCertSerialNumber: '', canReattest: true, banned: false });
      const banned = await ds.banAttestedNode(agent(1));
      expect(banned).toMatchObject({ certSerialNumber: '', newCertSerialNumber: '', banned: true });
      await ds.setNodeSelectors(agent(1), [sel('a', '1')]);
      expect(await ds.deleteAttestedNode(agent(1))).toEqual(banned);
      expect(await ds.getAttestedNode(agent(1))).toBeUndefined();
      expect(await ds.getNodeSelectors(agent(1))).toEqual([]);
      for (const op of [
        () => ds.updateAttestedNode({ spiffeId: agent(1), certSerialNumber: 'x' }),
        () => ds.banAttestedNode(agent(1)),
        () => ds.deleteAttestedNode(agent(1)),
      ]) {
        expect(await caught(op)).toMatchObject({ code: 'ERR_AGENT_NOT_FOUND', message: 'datastore: attested node "spiffe://example.org/spire/agent/join_token/1" not found' });
      }
    });

    describe('list filters', () => {
      // 1: join_token, expires +3600, selectors [a:1 b:2]
      // 2: x509pop,    expires +60,   selectors [a:1], can reattest
      // 3: join_token, banned,        no selectors
      async function seed(): Promise<void> {
        const { ds } = f();
        await ds.createAttestedNode(node(1));
        await ds.createAttestedNode(node(2, { attestationDataType: 'x509pop', certNotAfter: T0 + 60, canReattest: true }));
        await ds.createAttestedNode(node(3));
        await ds.banAttestedNode(agent(3));
        await ds.setNodeSelectors(agent(1), [sel('a', '1'), sel('b', '2')]);
        await ds.setNodeSelectors(agent(2), [sel('a', '1')]);
      }
      const rows: [string, NodeFilter, number[]][] = [
        ['none', {}, [1, 2, 3]],
        ['attestation type', { byAttestationType: 'join_token' }, [1, 3]],
        ['banned', { byBanned: true }, [3]],
        ['not banned', { byBanned: false }, [1, 2]],
        ['expires before', { byExpiresBefore: T0 + 61 }, [2]],
        ['can reattest', { byCanReattest: true }, [2]],
        ['cannot reattest', { byCanReattest: false }, [1, 3]],
        ['selectors a:1 exact', { bySelectors: { selectors: [sel('a', '1')], match: 'exact' } }, [2]],
        ['selectors a:1 superset', { bySelectors: { selectors: [sel('a', '1')], match: 'superset' } }, [1, 2]],
        ['selectors a:1 b:2 subset', { bySelectors: { selectors: [sel('a', '1'), sel('b', '2')], match: 'subset' } }, [1, 2]],
        ['selectors b:2 match_any', { bySelectors: { selectors: [sel('b', '2')], match: 'match_any' } }, [1]],
        ['combined', { byAttestationType: 'join_token', byBanned: false }, [1]],
      ];
      it.each(rows)('%s', async (_name, filter, want) => {
        const { ds } = f();
        await seed();
        const page = await ds.listAttestedNodes(filter);
        expect(page.items.map((n) => n.spiffeId.toString())).toEqual(want.map((n) => agent(n).toString()));
        expect(await ds.countAttestedNodes(filter)).toBe(want.length);
      });

      it('fetches selectors on request and paginates', async () => {
        const { ds } = f();
        await seed();
        const p1 = await ds.listAttestedNodes({ fetchSelectors: true, pagination: { pageSize: 2 } });
        expect(p1.items.map((n) => n.selectors)).toEqual([[sel('a', '1'), sel('b', '2')], [sel('a', '1')]]);
        const p2 = await ds.listAttestedNodes({ fetchSelectors: true, pagination: { pageSize: 2, token: p1.nextPageToken! } });
        expect(p2.items.map((n) => [n.spiffeId.toString(), n.selectors])).toEqual([[agent(3).toString(), []]]);
        expect(p2.nextPageToken).toBeUndefined();
        expect((await ds.getAttestedNode(agent(1), { fetchSelectors: true }))?.selectors).toEqual([sel('a', '1'), sel('b', '2')]);
      });
    });

    it('sets, replaces and lists node selectors, keeping order and dropping duplicates', async () => {
      const { ds } = f();
      await ds.setNodeSelectors(agent(1), [sel('z', '1'), sel('a', '2'), sel('z', '1')]);
      expect(await ds.getNodeSelectors(agent(1))).toEqual([sel('z', '1'), sel('a', '2')]);
      await ds.setNodeSelectors(agent(1), [sel('b', '3')]);
      await ds.setNodeSelectors(agent(2), [sel('c', '4')]);
      expect(await ds.getNodeSelectors(agent(1))).toEqual([sel('b', '3')]);
      expect(await ds.listNodeSelectors()).toEqual(new Map([[agent(1).toString(), [sel('b', '3')]], [agent(2).toString(), [sel('c', '4')]]]));
      await ds.setNodeSelectors(agent(1), []);
      expect(await ds.getNodeSelectors(agent(1))).toEqual([]);
    });
  });

  describe('join tokens', () => {
    it('creates, fetches, deletes and refuses duplicates', async () => {
      const { ds } = f();
      await ds.createJoinToken({ token: 'tok', expiresAt: T0 + 600 });
      expect(await ds.getJoinToken('tok')).toEqual({ token: 'tok', expiresAt: T0 + 600 });
      expect(await ds.getJoinToken('other')).toBeUndefined();
      expect(await caught(() => ds.createJoinToken({ token: 'tok', expiresAt: T0 }))).toMatchObject({
        code: 'ERR_ALREADY_EXISTS_JOIN_TOKEN', message: 'datastore: join token already exists',
      });
      await ds.deleteJoinToken('tok');
      expect(await caught(() => ds.deleteJoinToken('tok'))).toMatchObject({ code: 'ERR_NOT_FOUND_JOIN_TOKEN', message: 'datastore: join token not found' });
    });

    it('is consumed once; an expired token is refused and gone', async () => {
      const { ds, clock } = f();
      await ds.createJoinToken({ token: 'live', expiresAt: T0 + 60 });
      await ds.createJoinToken({ token: 'stale', expiresAt: T0 + 30 });
      expect(await ds.consumeJoinToken('live')).toEqual({ status: 'consumed', token: { token: 'live', expiresAt: T0 + 60 } });
      expect(await ds.consumeJoinToken('live')).toEqual({ status: 'not_found' });
      clock.advance(30_000);
      expect(await ds.consumeJoinToken('stale')).toEqual({ status: 'expired', token: { token: 'stale', expiresAt: T0 + 30 } });
      expect(await ds.getJoinToken('stale')).toBeUndefined();
      expect(await ds.consumeJoinToken('never')).toEqual({ status: 'not_found' });
    });

    it('has exactly one winner among concurrent consumers on two connections', async () => {
      const { ds, openAnother } = f();
      const other = await openAnother();
      for (let round = 0; round < 3; round++) {
        await ds.createJoinToken({ token: `race-${round}`, expiresAt: T0 + 600 });
        const results = await Promise.all(Array.from({ length: 24 }, (_, i) => (i % 2 === 0 ? ds : other).consumeJoinToken(`race-${round}`)));
        expect(results.filter((r) => r.status === 'consumed')).toHaveLength(1);
        expect(results.filter((r) => r.status === 'not_found')).toHaveLength(23);
      }
    });

    it('prunes tokens that expired before the given time', async () => {
      const { ds } = f();
      await ds.createJoinToken({ token: 'a', expiresAt: T0 - 1 });
      await ds.createJoinToken({ token: 'b', expiresAt: T0 });
      expect(await ds.pruneJoinTokens(T0)).toBe(1);
      expect(await ds.getJoinToken('a')).toBeUndefined();
      expect(await ds.getJoinToken('b')).toBeDefined();
    });
  });
}
