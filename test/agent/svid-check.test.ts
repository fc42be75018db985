// The agent refuses a server-issued SVID that does not verify, names the
// wrong identity or certifies another key.
import { generateKeyPairSync } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkIssuedSvid } from '../../src/agent/svid-check.ts';
import { X509Bundle } from '../../src/spiffe/bundle/x509-bundle.ts';
import { SpiffeId } from '../../src/spiffe/id.ts';
import { TrustDomain } from '../../src/spiffe/trust-domain.ts';
import { makeCa, makeLeaf, type TestCert } from '../helpers/test-ca.ts';

const td = TrustDomain.fromString('example.org');
const id = SpiffeId.fromString('spiffe://example.org/web');

describe('checkIssuedSvid', () => {
  let ca: TestCert;
  let otherCa: TestCert;
  let leaf: TestCert;
  beforeAll(async () => {
    ca = await makeCa('example.org');
    otherCa = await makeCa('example.org');
    leaf = await makeLeaf(id.toString(), ca);
  });

  const bundles = () => new X509Bundle(td, [ca.cert]);

  it('accepts an SVID for the entry, chaining to the bundle, for our key', () => {
    expect(() => checkIssuedSvid([leaf.cert], { id, privateKey: leaf.key, bundles: bundles(), now: Date.now() })).not.toThrow();
  });

  it.each([
    ['signed by a CA outside the bundle', async () => ({ chain: [(await makeLeaf(id.toString(), otherCa)).cert], key: leaf.key, id }), /does not verify against the trust bundle/],
    ['for another SPIFFE ID', async () => ({ chain: [leaf.cert], key: leaf.key, id: SpiffeId.fromString('spiffe://example.org/db') }), /for spiffe:\/\/example.org\/web, expected spiffe:\/\/example.org\/db/],
    ['for another key', async () => ({ chain: [leaf.cert], key: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, id }), /for a different key/],
    ['a CA certificate as leaf', async () => ({ chain: [ca.cert], key: ca.key, id }), /does not verify against the trust bundle/],
  ])('rejects an SVID %s', async (_name, make, message) => {
    const { chain, key, id: want } = await make();
    expect(() => checkIssuedSvid(chain, { id: want, privateKey: key, bundles: bundles(), now: Date.now() })).toThrow(message);
  });
});
