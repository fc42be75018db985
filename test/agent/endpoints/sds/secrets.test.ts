// The SDS tls_certificate secret from the cache's bytes (DER chain, PKCS#8
// key) is the PEM Envoy got when the cache held X509Certificate and
// KeyObject objects: byte for byte, chains of one and two certificates, and
// keys of every type the agent generates (different base64 line breaks).
import { describe, expect, it } from 'vitest';
import { cachedSvid } from '../../../../src/agent/cache/cached-svid.ts';
import { pemOf, tlsCertificateSecret } from '../../../../src/agent/endpoints/sds/secrets.ts';
import { SpiffeId } from '../../../../src/spiffe/id.ts';
import { generateKeyPair, type KeyType } from '../../../../src/spiffe/keys.ts';
import { makeCa, makeLeaf } from '../../../helpers/test-ca.ts';

const ID = 'spiffe://sds.example/web';

describe('SDS tls_certificate from cached bytes', () => {
  it.each(['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-4096'] satisfies KeyType[])('equals OpenSSL\'s PEM of the certificates and the %s key', async (keyType) => {
    const root = await makeCa('sds.example');
    const intermediate = await makeCa('sds.example', root);
    const leaf = await makeLeaf(ID, intermediate);
    const { privateKey } = generateKeyPair(keyType);
    for (const chain of [[leaf.cert], [leaf.cert, intermediate.cert]]) {
      const svid = cachedSvid({ id: SpiffeId.fromString(ID), chain: chain.map((c) => c.raw), privateKeyPkcs8: privateKey.export({ format: 'der', type: 'pkcs8' }), notAfter: 0 });
      const secret = tlsCertificateSecret(ID, svid);
      if (!('tls_certificate' in secret)) throw new Error('not a tls_certificate secret');
      expect(secret.tls_certificate.certificate_chain.inline_bytes.toString()).toBe(pemOf(chain));
      expect(secret.tls_certificate.private_key.inline_bytes.toString()).toBe(privateKey.export({ format: 'pem', type: 'pkcs8' }));
    }
  });
});
