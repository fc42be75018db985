// The default X.509 CA minter: a self-signed root per CA slot (no
// UpstreamAuthority configured). The CA is its own trust anchor.
import type { KeyObject, X509Certificate } from 'node:crypto';
import type { TrustDomain } from '../../spiffe/trust-domain.ts';
import { createCaCertificate, type CertSubject } from '../../spiffe/x509-template.ts';
import type { X509CaMinter } from './manager.ts';

export class SelfSignedCaMinter implements X509CaMinter {
  readonly #td: TrustDomain;
  readonly #subject: CertSubject | undefined;

  constructor(td: TrustDomain, subject?: CertSubject) {
    this.#td = td;
    this.#subject = subject;
  }

  async mint(args: { publicKey: KeyObject; privateKey: KeyObject; notBefore: number; notAfter: number }): Promise<{ certificate: X509Certificate; upstreamChain: X509Certificate[] }> {
    const certificate = await createCaCertificate({
      trustDomain: this.#td,
      publicKey: args.publicKey,
      signer: { privateKey: args.privateKey },
      notBefore: args.notBefore,
      notAfter: args.notAfter,
      ...(this.#subject ? { subject: this.#subject } : {}),
    });
    return { certificate, upstreamChain: [] };
  }

  trustAnchorsFor(ca: { certificate: X509Certificate }): X509Certificate[] {
    return [ca.certificate];
  }
}
