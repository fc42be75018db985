// Signing workers exist only while there is work: an idle server does not
// keep their threads and heaps (issue 22, idle RSS). A burst is signed on
// the calling thread; sustained load starts the workers (issue 22, CPU per
// SVID: a worker's start and warm-up cost more than a burst).
import { X509Certificate, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { SigningPool } from '../../../src/server/ca/signing-pool.ts';
import type { SignJob } from '../../../src/server/ca/signing-jobs.ts';
import { createCaCertificate } from '../../../src/server/credtemplate/standalone.ts';
import { planLeaf } from '../../../src/server/credtemplate/x509.ts';
import { inProcessKey } from '../../../src/server/plugins/keymanager/types.ts';
import { createCsr } from '../../../src/spiffe/csr.ts';
import { TrustDomain } from '../../../src/spiffe/trust-domain.ts';
import { waitFor } from '../../helpers/wait.ts';

let pool: SigningPool | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

const td = TrustDomain.fromString('example.org');
const caKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const now = Date.now();
const ca = await createCaCertificate({ trustDomain: td, publicKey: createPublicKey(caKey), signer: { privateKey: caKey }, notBefore: now, notAfter: now + 86_400_000 });
const caManagerKey = inProcessKey('x509-CA-A', 'ec-p256', caKey);

function jobs(n: number): { jobs: SignJob[]; keys: KeyObject[] } {
  const keys = Array.from({ length: n }, () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
  const template = { subject: [{ type: 'C', value: 'US' }], dnsNames: [], extraExtensions: [] };
  return { keys, jobs: keys.map((k, i) => ({ ...planLeaf({ ca, id: `spiffe://example.org/w/${i}`, now, ttlMs: 3_600_000, template }), csr: createCsr(k) })) };
}

/** Each result but `except` is a leaf signed by the CA for its own job's ID and key, in order. */
function expectLeavesFor(results: Awaited<ReturnType<SigningPool['sign']>>, keys: KeyObject[], except = -1): void {
  expect(results).toHaveLength(keys.length);
  results.forEach((r, i) => {
    if (i === except) return;
    if (!r.ok) throw new Error(`job ${i}: ${r.message}`);
    const leaf = new X509Certificate(r.der);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.subjectAltName).toBe(`URI:spiffe://example.org/w/${i}`);
    expect(leaf.publicKey.export({ format: 'der', type: 'spki' }).equals(createPublicKey(keys[i]!).export({ format: 'der', type: 'spki' }))).toBe(true);
  });
}

describe('SigningPool', () => {
  it('stops its workers once idle, and starts them again for the next batch', async () => {
    pool = new SigningPool(2, 200, 0); // no inline budget: every batch goes to the workers
    expect(pool.running).toBe(false);
    const first = jobs(8);
    expectLeavesFor(await pool.sign(first.jobs, ca, caManagerKey), first.keys);
    expect(pool.running).toBe(true);
    await waitFor('the idle workers to stop', () => !pool!.running, { timeoutMs: 5000 });
    const second = jobs(8);
    expectLeavesFor(await pool.sign(second.jobs, ca, caManagerKey), second.keys);
    expect(pool.running).toBe(true);
  });

  it('replaces a worker that died: later batches do not wait on it forever', async () => {
    pool = new SigningPool(1, 600_000, 0); // idle stop far away: only the death itself may take the worker out
    // A CA key the worker cannot read kills it.
    await expect(pool.sign(jobs(8).jobs, ca, { ...caManagerKey, exportPkcs8: () => Buffer.from('not a key') })).rejects.toThrow();
    await waitFor('the dead worker to leave the pool', () => !pool!.running, { timeoutMs: 5000 });
    const after = jobs(8);
    expectLeavesFor(await pool.sign(after.jobs, new X509Certificate(ca.raw), caManagerKey), after.keys);
  });

  it('signs each batch with the CA it was planned for when batches under two CAs interleave', async () => {
    // 10 ms of inline signing: a few 4 ms slices (with pauses between them), then the rest would go to a worker.
    pool = new SigningPool(1, undefined, 10);
    const nextKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const nextCa = await createCaCertificate({ trustDomain: td, publicKey: createPublicKey(nextKey), signer: { privateKey: nextKey }, notBefore: now, notAfter: now + 86_400_000 });
    const { jobs: js, keys } = jobs(300); // ~40 ms of signing: more than the budget
    const signing = pool.sign(js, ca, caManagerKey);
    // In a pause between its slices, another batch under the next CA, whose rest goes to the same worker.
    await new Promise((r) => setImmediate(r));
    const other = pool.sign(jobs(300).jobs, nextCa, inProcessKey('x509-CA-B', 'ec-p256', nextKey));
    expectLeavesFor(await signing, keys);
    for (const r of await other) expect(r.ok && new X509Certificate(r.der).verify(nextCa.publicKey)).toBe(true);
  });

  it('signs a burst on this thread without starting a worker; a CSR whose signature does not verify fails alone', async () => {
    pool = new SigningPool(2);
    const { jobs: js, keys } = jobs(12);
    const forged = Buffer.from(js[5]!.csr);
    forged[forged.length - 1]! ^= 0x01;
    const results = await pool.sign(js.map((j, i) => (i === 5 ? { ...j, csr: forged } : j)), ca, caManagerKey);
    expect(pool.started).toBe(0);
    expect(results[5]).toMatchObject({ ok: false, message: expect.stringMatching(/^invalid CSR signature/) });
    expectLeavesFor(results, keys, 5);
  });

  it('hands the rest of the work to a worker once inline signing has used its budget, results in order', async () => {
    pool = new SigningPool(1, undefined, 1); // 1 ms of inline signing per second
    const { jobs: js, keys } = jobs(200); // ~20 ms of signing or more
    const results = await pool.sign(js, ca, caManagerKey);
    expect(pool.started).toBe(1);
    expectLeavesFor(results, keys);
  });
});
