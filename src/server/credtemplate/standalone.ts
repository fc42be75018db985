// One-call CA certificates and X509-SVIDs with the default profile (base
// profile + uniqueid) and a private key held in this process: for tests,
// benchmarks and tools. The server composes through its CredentialBuilder.
import { X509Certificate, type KeyObject } from 'node:crypto';
import type { SpiffeId } from '../../spiffe/id.ts';
import { keyObjectSigner } from '../../spiffe/signer.ts';
import type { TrustDomain } from '../../spiffe/trust-domain.ts';
import type { CertSubject } from '../../spiffe/x509-template.ts';
import { UniqueIdComposer } from '../plugins/credentialcomposer/uniqueid/uniqueid.ts';
import { CredentialBuilder } from './builder.ts';
import { signCaCertificate, signLeaf, type SignedLeafDer } from './x509.ts';

export interface CreateCaOptions {
  trustDomain: TrustDomain;
  publicKey: KeyObject;
  /** Signs the certificate: the CA's own key (self-signed) or the upstream CA's key. */
  signer: { privateKey: KeyObject; certificate?: X509Certificate };
  subject?: CertSubject;
  notBefore: number;
  notAfter: number;
}

/** A CA certificate: URI SAN = trust domain ID, CA:TRUE, keyCertSign|cRLSign, SKI/AKI. */
export async function createCaCertificate(opts: CreateCaOptions): Promise<X509Certificate> {
  const builder = new CredentialBuilder({ trustDomain: opts.trustDomain, caSubject: opts.subject, composers: [new UniqueIdComposer()] });
  return signCaCertificate({
    trustDomain: opts.trustDomain,
    publicKey: opts.publicKey,
    signer: keyObjectSigner(opts.signer.privateKey),
    issuer: opts.signer.certificate,
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
    template: await builder.buildX509CaTemplate({ publicKey: opts.publicKey }),
  });
}

export interface SignSvidOptions {
  ca: { certificate: X509Certificate; privateKey: KeyObject };
  id: SpiffeId;
  now: number;
  ttlMs: number;
  dnsNames?: readonly string[];
}

/** An X509-SVID (seed 000) as DER, for a key given as SPKI DER. */
export async function signX509SvidDer(opts: SignSvidOptions & { spki: Buffer }): Promise<SignedLeafDer> {
  const builder = new CredentialBuilder({ trustDomain: opts.id.trustDomain, composers: [new UniqueIdComposer()] });
  const template = await builder.buildX509SvidTemplate('workload', { id: opts.id, spki: opts.spki, dnsNames: opts.dnsNames });
  return signLeaf({ ca: opts.ca.certificate, signer: keyObjectSigner(opts.ca.privateKey, opts.ca.certificate.publicKey), spki: opts.spki, id: opts.id, now: opts.now, ttlMs: opts.ttlMs, template });
}

/**
 * An X509-SVID leaf (seed 000): Subject C=US, O=SPIRE, x500UniqueIdentifier;
 * KU digitalSignature|keyEncipherment|keyAgreement (critical); EKU
 * serverAuth+clientAuth; CA:FALSE (critical); SKI/AKI; URI SAN = SPIFFE ID;
 * DNS SANs with CN = the first; notAfter capped at the CA's notAfter.
 */
export async function signX509Svid(opts: SignSvidOptions & { publicKey: KeyObject }): Promise<X509Certificate> {
  return new X509Certificate((await signX509SvidDer({ ...opts, spki: opts.publicKey.export({ format: 'der', type: 'spki' }) })).der);
}
