// x509pop attestation: SPIRE's wire format, a chain to the configured CA,
// proof of key possession — and each way an agent can fail it.
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509PopAttestor, fingerprint } from '../../../../src/server/plugins/nodeattestor/x509pop/x509pop.ts';
import { TrustDomain } from '../../../../src/spiffe/trust-domain.ts';
import { CA_KU, LEAF_KU, makeCert, type TestCert } from '../../../helpers/test-ca.ts';
import { makeTempDir } from '../../../helpers/tmp.ts';

const td = TrustDomain.fromString('example.org');

/** What a SPIRE agent does with the challenge: ECDSA over sha256(nonce || own nonce), as JSON. */
function respond(key: KeyObject, challenge: Buffer): Buffer {
  const nonce = Buffer.from(JSON.parse(challenge.toString()).ecdsa_signature.nonce, 'base64');
  const mine = Buffer.alloc(32, 7);
  const sig = sign('sha256', Buffer.concat([nonce, mine]), { key, dsaEncoding: 'ieee-p1363' });
  return Buffer.from(JSON.stringify({ ecdsa_signature: { nonce: mine.toString('base64'), r: sig.subarray(0, 32).toString('base64'), s: sig.subarray(32).toString('base64') } }));
}

const payload = (...certs: TestCert[]) => Buffer.from(JSON.stringify({ certificates: certs.map((c) => c.cert.raw.toString('base64')) }));

describe('X509PopAttestor', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let ca: TestCert;
  let attestor: X509PopAttestor;

  beforeAll(async () => {
    tmp = await makeTempDir('herald-x509pop-');
    ca = await makeCert({ ca: true, keyUsage: CA_KU, subject: 'CN=Node CA' });
    await writeFile(join(tmp.path, 'ca.pem'), ca.cert.toString());
    attestor = await X509PopAttestor.load(td, [join(tmp.path, 'ca.pem')], () => Date.now());
  });
  afterAll(() => tmp.cleanup());

  it('attests a node that holds its certificate\'s key: SPIRE\'s agent ID and selectors', async () => {
    const node = await makeCert({ keyUsage: LEAF_KU, subject: 'CN=node-1' }, ca);
    const res = await attestor.attest(payload(node), async (c) => respond(node.key, c));
    expect(res.agentId.toString()).toBe(`spiffe://example.org/spire/agent/x509pop/${fingerprint(node.cert)}`);
    expect(res.selectors.map((s) => `${s.type}:${s.value}`)).toEqual([
      'x509pop:subject:cn:node-1',
      `x509pop:ca:fingerprint:${fingerprint(ca.cert)}`,
      `x509pop:serialnumber:${node.cert.serialNumber.toLowerCase().replace(/^0+(?=.)/, '').padStart(node.cert.serialNumber.replace(/^0+(?=.)/, '').length + (node.cert.serialNumber.replace(/^0+(?=.)/, '').length % 2), '0')}`,
    ]);
    expect(res.canReattest).toBe(true);
  });

  it.each([
    ['a certificate from another CA', async () => {
      const other = await makeCert({ ca: true, keyUsage: CA_KU, subject: 'CN=Other CA' });
      const node = await makeCert({ keyUsage: LEAF_KU, subject: 'CN=n' }, other);
      return { p: payload(node), key: node.key };
    }, /certificate signed by unknown authority/],
    ['a response signed by another key', async () => {
      const node = await makeCert({ keyUsage: LEAF_KU, subject: 'CN=n' }, ca);
      return { p: payload(node), key: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey };
    }, /challenge response verification failed/],
    ['a certificate without digitalSignature', async () => {
      const node = await makeCert({ keyUsage: CA_KU, subject: 'CN=n' }, ca);
      return { p: payload(node), key: node.key };
    }, /not intended for digital signature use/],
    ['an expired certificate', async () => {
      const node = await makeCert({ keyUsage: LEAF_KU, subject: 'CN=n', notBefore: new Date(Date.now() - 7200_000), notAfter: new Date(Date.now() - 3600_000) }, ca);
      return { p: payload(node), key: node.key };
    }, /is not valid at this time/],
    ['malformed attestation data', async () => ({ p: Buffer.from('{not json'), key: ca.key }), /failed to unmarshal data/],
    ['no certificate', async () => ({ p: Buffer.from('{"certificates":[]}'), key: ca.key }), /no certificate to attest/],
    ['a PEM certificate where DER belongs', async () => {
      const node = await makeCert({ keyUsage: LEAF_KU, subject: 'CN=n' }, ca);
      return { p: Buffer.from(JSON.stringify({ certificates: [Buffer.from(node.cert.toString()).toString('base64')] })), key: node.key };
    }, /certificates\[0\] is not a DER-encoded X\.509 certificate/],
    ['a DER certificate with trailing bytes', async () => {
      const node = await makeCert({ keyUsage: LEAF_KU, subject: 'CN=n' }, ca);
      return { p: Buffer.from(JSON.stringify({ certificates: [Buffer.concat([node.cert.raw, Buffer.from('garbage')]).toString('base64')] })), key: node.key };
    }, /certificates\[0\] is not a valid DER-encoded X\.509 certificate: not DER/],
    ['a PEM certificate behind a byte that looks like DER', async () => {
      const node = await makeCert({ keyUsage: LEAF_KU, subject: 'CN=n' }, ca);
      return { p: Buffer.from(JSON.stringify({ certificates: [Buffer.from(`0\n${node.cert.toString()}`).toString('base64')] })), key: node.key };
    }, /certificates\[0\] is not a valid DER-encoded X\.509 certificate/],
    ['a truncated DER certificate', async () => {
      const node = await makeCert({ keyUsage: LEAF_KU, subject: 'CN=n' }, ca);
      return { p: Buffer.from(JSON.stringify({ certificates: [node.cert.raw.subarray(0, 100).toString('base64')] })), key: node.key };
    }, /certificates\[0\] is not a valid DER-encoded X\.509 certificate/],
  ])('refuses %s', async (_n, make, message) => {
    const { p, key } = await make();
    await expect(attestor.attest(p, async (c) => respond(key, c))).rejects.toThrow(message);
  });
});
