// Calls of one process that arrive while its attestation runs share it;
// every call after that attests again; other processes are attested apart.
import { describe, expect, it } from 'vitest';
import { CallerAttestation } from '../../../src/agent/endpoints/attestation.ts';
import { formatPeerAddress, type PeerCredentials } from '../../../src/common/grpc/peer.ts';
import type { Selector } from '../../../src/common/selector.ts';
import type { WorkloadAttestor } from '../../../src/agent/plugins/workloadattestor/types.ts';

/** An attestor whose answers the test releases, counting its calls. */
function gatedAttestor() {
  const calls: PeerCredentials[] = [];
  const gates: ((r: Selector[] | Error) => void)[] = [];
  const attestor: WorkloadAttestor = {
    name: 'unix',
    attest: (peer) => {
      calls.push(peer);
      return new Promise((resolve, reject) => gates.push((r) => (r instanceof Error ? reject(r) : resolve(r))));
    },
  };
  return { attestor, calls, release: (r: Selector[] | Error) => gates.shift()!(r) };
}
const caller = (pid: number, startTime = 1000) => {
  const address = formatPeerAddress({ pid, uid: 1, gid: 1, startTime });
  return { getPeer: () => address };
};
const uid = (v: string): Selector[] => [{ type: 'unix', value: `uid:${v}` }];
const flush = () => new Promise((r) => setImmediate(r));

describe('CallerAttestation', () => {
  it('shares one attestation among concurrent calls of one process, and attests again afterwards', async () => {
    const g = gatedAttestor();
    const a = new CallerAttestation([g.attestor]);
    const concurrent = Array.from({ length: 5 }, () => a.attest(caller(42)));
    await flush();
    expect(g.calls).toHaveLength(1);
    g.release(uid('1'));
    const results = await Promise.all(concurrent);
    for (const r of results) expect(r).toEqual({ selectors: uid('1'), pid: 42 });
    // Each caller owns its array.
    expect(new Set(results.map((r) => r.selectors)).size).toBe(5);

    const later = a.attest(caller(42));
    await flush();
    expect(g.calls).toHaveLength(2);
    g.release(uid('2'));
    expect((await later).selectors).toEqual(uid('2'));
  });

  it('attests different processes (pid, or the same pid restarted) separately', async () => {
    const g = gatedAttestor();
    const a = new CallerAttestation([g.attestor]);
    const p = [a.attest(caller(42)), a.attest(caller(43)), a.attest(caller(42, 2000))];
    await flush();
    expect(g.calls.map((c) => [c.pid, c.startTime])).toEqual([[42, 1000], [43, 1000], [42, 2000]]);
    g.release(uid('a'));
    g.release(uid('b'));
    g.release(uid('c'));
    expect((await Promise.all(p)).map((r) => r.selectors)).toEqual([uid('a'), uid('b'), uid('c')]);
  });

  it('gives a failure to every call that shared it, and the next call tries again', async () => {
    const g = gatedAttestor();
    const a = new CallerAttestation([g.attestor]);
    const p = [a.attest(caller(42)), a.attest(caller(42))];
    await flush();
    g.release(new Error('process 42 no longer exists'));
    for (const r of await Promise.allSettled(p)) expect(r).toMatchObject({ status: 'rejected', reason: { message: 'process 42 no longer exists' } });
    const again = a.attest(caller(42));
    await flush();
    expect(g.calls).toHaveLength(2);
    g.release(uid('1'));
    expect((await again).selectors).toEqual(uid('1'));
  });
});
