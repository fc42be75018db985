// The profile-pin test's view of the signing code: the only part that
// changes when the signing code is refactored (the pinned bytes do not).
import type { KeyObject, X509Certificate } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import type { SpiffeId } from '../../../src/spiffe/id.ts';
import type { TrustDomain } from '../../../src/spiffe/trust-domain.ts';
import type { CertSubject } from '../../../src/spiffe/x509-template.ts';
import { createCaCertificate, signX509SvidDer } from '../../../src/server/credtemplate/standalone.ts';

export async function selfSignedCa(o: { trustDomain: TrustDomain; key: KeyObject; notBefore: number; notAfter: number; subject?: CertSubject }): Promise<X509Certificate> {
  return createCaCertificate({ trustDomain: o.trustDomain, publicKey: createPublicKey(o.key), signer: { privateKey: o.key }, notBefore: o.notBefore, notAfter: o.notAfter, ...(o.subject ? { subject: o.subject } : {}) });
}

export async function upstreamSignedCa(o: { trustDomain: TrustDomain; publicKey: KeyObject; upstream: { certificate: X509Certificate; key: KeyObject }; notBefore: number; notAfter: number; subject?: CertSubject }): Promise<X509Certificate> {
  return createCaCertificate({ trustDomain: o.trustDomain, publicKey: o.publicKey, signer: { privateKey: o.upstream.key, certificate: o.upstream.certificate }, notBefore: o.notBefore, notAfter: o.notAfter, ...(o.subject ? { subject: o.subject } : {}) });
}

export async function leaf(o: { ca: X509Certificate; caKey: KeyObject; spki: Buffer; id: SpiffeId; now: number; ttlMs: number; dnsNames?: string[] }): Promise<Buffer> {
  return (await signX509SvidDer({ ca: { certificate: o.ca, privateKey: o.caKey }, spki: o.spki, id: o.id, now: o.now, ttlMs: o.ttlMs, ...(o.dnsNames ? { dnsNames: o.dnsNames } : {}) })).der;
}
