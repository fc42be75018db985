// The default X.509 CA minter: a self-signed root per CA slot (no
// UpstreamAuthority configured). The CA is its own trust anchor, signed by
// its own key through the key manager's signer.
import type { X509Certificate } from 'node:crypto';
import type { TrustDomain } from '../../spiffe/trust-domain.ts';
import type { CertSubject } from '../../spiffe/x509-template.ts';
import { CredentialBuilder, type X509CaTemplate } from '../credtemplate/builder.ts';
import { signCaCertificate } from '../credtemplate/x509.ts';
import type { KeyManagerKey } from '../plugins/keymanager/types.ts';
import type { X509CaMinter } from './manager.ts';

export class SelfSignedCaMinter implements X509CaMinter {
  readonly #td: TrustDomain;
  readonly #subject: CertSubject | undefined;

  /** `subject`: used only when the CA manager passes no composed template. */
  constructor(td: TrustDomain, subject?: CertSubject) {
    this.#td = td;
    this.#subject = subject;
  }

  async mint(args: { key: KeyManagerKey; notBefore: number; notAfter: number; template?: X509CaTemplate }): Promise<{ certificate: X509Certificate; upstreamChain: X509Certificate[] }> {
    const template = args.template ?? (await new CredentialBuilder({ trustDomain: this.#td, caSubject: this.#subject }).buildX509CaTemplate({ publicKey: args.key.publicKey }));
    const certificate = await signCaCertificate({
      trustDomain: this.#td,
      publicKey: args.key.publicKey,
      signer: args.key,
      notBefore: args.notBefore,
      notAfter: args.notAfter,
      template,
    });
    return { certificate, upstreamChain: [] };
  }

  trustAnchorsFor(ca: { certificate: X509Certificate }): X509Certificate[] {
    return [ca.certificate];
  }
}
