// x509pop, agent side: what herald-agent sends and answers is accepted by the
// server-side attestor (the same checks SPIRE's server makes), for each key
// type SPIRE supports, with and without an intermediate; bad material is
// refused with the file it came from.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadX509PopMaterial, x509PopAttestor, x509PopResponse } from '../../../../src/agent/plugins/nodeattestor/x509pop/x509pop.ts';
import { X509PopAttestor, fingerprint } from '../../../../src/server/plugins/nodeattestor/x509pop/x509pop.ts';
import { TrustDomain } from '../../../../src/spiffe/trust-domain.ts';
import { makeTempDir } from '../../../helpers/tmp.ts';
import { makePopCert, type NodeKeyType } from '../../../helpers/x509pop.ts';

const td = TrustDomain.fromString('example.org');

describe('x509pop agent attestor', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let server: X509PopAttestor;
  const f = (n: string) => join(tmp.path, n);
  const cert = (name: string, key: NodeKeyType, opts: { ca?: boolean; issuer?: string } = {}) => makePopCert(tmp.path, name, { key, ...opts });

  beforeAll(async () => {
    tmp = await makeTempDir('herald-agent-x509pop-');
    cert('root', 'ec-p256', { ca: true });
    cert('inter', 'ec-p384', { ca: true, issuer: 'root' });
    server = await X509PopAttestor.load(td, [f('root.pem')], () => Date.now());
  });
  afterAll(() => tmp.cleanup());

  it.each([
    ['ec-p256', 'root'],
    ['ec-p384', 'root'],
    ['rsa-2048', 'root'],
    ['ec-p256', 'inter'],
  ] as const)('a %s node certificate signed by %s attests; agent ID by fingerprint', async (key, issuer) => {
    const name = `node-${key}-${issuer}`;
    cert(name, key, { issuer });
    const client = x509PopAttestor({ privateKeyPath: f(`${name}.key`), certificatePath: f(`${name}.pem`), intermediatesPath: issuer === 'inter' ? f('inter.pem') : undefined });
    const res = await server.attest(await client.attestationData(), (c) => client.answer(c));
    const leaf = new X509Certificate(readFileSync(f(`${name}.pem`)));
    expect(res.agentId.toString()).toBe(`spiffe://example.org/spire/agent/x509pop/${fingerprint(leaf)}`);
    expect(res.selectors).toContainEqual({ type: 'x509pop', value: `subject:cn:${name}` });
    expect(client.canReattest).toBe(true);
  });

  it('without the intermediate, the chain does not reach the CA', async () => {
    cert('orphan', 'ec-p256', { issuer: 'inter' });
    const client = x509PopAttestor({ privateKeyPath: f('orphan.key'), certificatePath: f('orphan.pem') });
    await expect(server.attest(await client.attestationData(), (c) => client.answer(c))).rejects.toThrow(/signed by unknown authority/);
  });

  it.each([
    ['a key that is not the certificate\'s', () => ({ privateKeyPath: f('root.key'), certificatePath: f('node-ec-p256-root.pem') }), /does not match the certificate/],
    ['a missing key file', () => ({ privateKeyPath: f('nope.key'), certificatePath: f('node-ec-p256-root.pem') }), /cannot read private_key_path .*nope\.key/],
    ['a certificate file without a certificate', () => ({ privateKeyPath: f('node-ec-p256-root.key'), certificatePath: f('node-ec-p256-root.key') }), /certificate_path .*: no CERTIFICATE block/],
    ['a key file without a key', () => ({ privateKeyPath: f('node-ec-p256-root.pem'), certificatePath: f('node-ec-p256-root.pem') }), /private_key_path .* holds no usable private key/],
  ])('refuses %s, naming the file', async (_n, paths, message) => {
    await expect(loadX509PopMaterial(paths())).rejects.toThrow(message);
  });

  it.each([
    ['not JSON', '{', /unable to unmarshal challenge/],
    ['an RSA challenge to an EC key', JSON.stringify({ rsa_signature: { nonce: Buffer.alloc(32).toString('base64') } }), /expecting ECDSA challenge/],
    ['a short nonce', JSON.stringify({ ecdsa_signature: { nonce: Buffer.alloc(8).toString('base64') } }), /invalid challenge nonce/],
  ])('refuses a challenge that is %s', async (_n, challenge, message) => {
    const { key } = await loadX509PopMaterial({ privateKeyPath: f('node-ec-p256-root.key'), certificatePath: f('node-ec-p256-root.pem') });
    expect(() => x509PopResponse(key, Buffer.from(challenge))).toThrow(message);
  });
});
