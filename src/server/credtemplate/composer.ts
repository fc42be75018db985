// The CredentialComposer seam (SPIRE pkg/server/plugin/credentialcomposer):
// a composer may change the subject, DNS SANs and extra extensions of the
// server CA, the server's own X509-SVID, agent and workload X509-SVIDs, and
// add claims to workload JWT-SVIDs. Composers run in order, each receiving
// what the previous one returned; the builder (builder.ts) checks every
// result against the SVID rules and names the composer that broke one.
//
// Composers run on the main thread; what they return is plain data (strings
// and byte arrays), which the builder hands to the signing workers as is.
import type { KeyObject } from 'node:crypto';
import type { SpiffeId } from '../../spiffe/id.ts';
import type { TrustDomain } from '../../spiffe/trust-domain.ts';
import type { ExtraExtension, NameAttribute } from '../../spiffe/x509-leaf-der.ts';
import type { RegistrationEntry } from '../datastore/types.ts';

export type { ExtraExtension, NameAttribute } from '../../spiffe/x509-leaf-der.ts';

export type Awaitable<T> = T | Promise<T>;

/** What a composer may change on the server's X.509 CA certificate. */
export interface X509CaAttributes {
  subject: NameAttribute[];
  extraExtensions: ExtraExtension[];
}

/** What a composer may change on an X509-SVID (never its URI SAN, key usage or CA flag). */
export interface X509SvidAttributes {
  subject: NameAttribute[];
  dnsNames: string[];
  extraExtensions: ExtraExtension[];
}

/** A workload JWT-SVID's claims; `sub`, `aud`, `exp` and `iat` are the builder's and may not change. */
export interface JwtSvidAttributes {
  claims: Record<string, unknown>;
}

export interface X509CaContext {
  trustDomain: TrustDomain;
  publicKey: KeyObject;
}

export interface X509SvidContext {
  id: SpiffeId;
  /**
   * The SVID's SubjectPublicKeyInfo (DER). For batch issuance it is read
   * from the CSR before the CSR's signature is checked on a worker; an
   * SVID is signed only when that check passes.
   */
  spki: Buffer;
  /** The registration entry the SVID is issued for, when there is one. */
  entry?: Readonly<RegistrationEntry> | undefined;
}

export interface JwtSvidContext {
  id: SpiffeId;
  entry?: Readonly<RegistrationEntry> | undefined;
}

export interface CredentialComposer {
  /** Named in every error about what this composer returned. */
  readonly name: string;
  composeServerX509Ca?(attributes: X509CaAttributes, ctx: X509CaContext): Awaitable<X509CaAttributes>;
  composeServerX509Svid?(attributes: X509SvidAttributes, ctx: X509SvidContext): Awaitable<X509SvidAttributes>;
  composeAgentX509Svid?(attributes: X509SvidAttributes, ctx: X509SvidContext): Awaitable<X509SvidAttributes>;
  composeWorkloadX509Svid?(attributes: X509SvidAttributes, ctx: X509SvidContext): Awaitable<X509SvidAttributes>;
  composeWorkloadJwtSvid?(attributes: JwtSvidAttributes, ctx: JwtSvidContext): Awaitable<JwtSvidAttributes>;
}

/** Which X509-SVID is being built: the server's own, an agent's, or a workload's. */
export type X509SvidKind = 'server' | 'agent' | 'workload';
