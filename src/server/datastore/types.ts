// The records the datastore keeps (spire-api-sdk types/{entry,agent,bundle,
// federationrelationship,jointoken}.proto, trimmed to what Herald needs).
// Identities are parsed values; the database stores their strings. Times
// are unix seconds, as in SPIRE's protos.
import type { Selector } from '../../common/selector.ts';
import type { SpiffeId } from '../../spiffe/id.ts';
import type { TrustDomain } from '../../spiffe/trust-domain.ts';

export type { Selector };

/** A registration entry (spire.api.types.Entry). */
export interface RegistrationEntry {
  /** UUID unless the creator chose an ID. */
  readonly id: string;
  readonly spiffeId: SpiffeId;
  readonly parentId: SpiffeId;
  /** As given at creation/update, duplicates removed. Never empty. */
  readonly selectors: readonly Selector[];
  /** 0 = the server's default. */
  readonly x509SvidTtlSeconds: number;
  /** 0 = the server's default. */
  readonly jwtSvidTtlSeconds: number;
  readonly dnsNames: readonly string[];
  /** Foreign trust domains whose bundles matching workloads receive; each has a stored bundle. */
  readonly federatesWith: readonly TrustDomain[];
  readonly admin: boolean;
  readonly downstream: boolean;
  readonly hint: string;
  /** Unix seconds; 0 = never expires. */
  readonly expiresAt: number;
  /** 0 at creation, +1 on every update. */
  readonly revisionNumber: number;
  /** Unix seconds. */
  readonly createdAt: number;
}

/** The fields a caller sets when creating or updating an entry. */
export interface EntryFields {
  spiffeId: SpiffeId;
  parentId: SpiffeId;
  selectors: readonly Selector[];
  x509SvidTtlSeconds: number;
  jwtSvidTtlSeconds: number;
  dnsNames: readonly string[];
  federatesWith: readonly TrustDomain[];
  admin: boolean;
  downstream: boolean;
  hint: string;
  expiresAt: number;
}

/** Create input: identity and selectors required, the rest defaults to 0/empty/false. */
export type EntryInput = Pick<EntryFields, 'spiffeId' | 'parentId' | 'selectors'> &
  Partial<Omit<EntryFields, 'spiffeId' | 'parentId' | 'selectors'>> & {
    /** A caller-chosen entry ID (SPIRE allows this); a UUID otherwise. */
    id?: string;
  };

/** An attested node (agent), spire.api.types.Agent / common.AttestedNode. */
export interface AttestedNode {
  readonly spiffeId: SpiffeId;
  readonly attestationDataType: string;
  /** Serial of the current agent SVID; '' (with newCertSerialNumber '') = banned. */
  readonly certSerialNumber: string;
  /** Unix seconds. */
  readonly certNotAfter: number;
  /** Serial of an SVID issued but not yet used by the agent; '' = none. */
  readonly newCertSerialNumber: string;
  /** Unix seconds; 0 = none. */
  readonly newCertNotAfter: number;
  readonly canReattest: boolean;
  /** Derived: both serial numbers are empty (SPIRE's ban marker). */
  readonly banned: boolean;
  /** Unix seconds. */
  readonly createdAt: number;
  /** Present only when selectors were asked for. */
  readonly selectors?: readonly Selector[];
}

export interface AttestedNodeInput {
  spiffeId: SpiffeId;
  attestationDataType: string;
  certSerialNumber: string;
  certNotAfter: number;
  newCertSerialNumber?: string;
  newCertNotAfter?: number;
  canReattest?: boolean;
}

export interface JoinToken {
  readonly token: string;
  /** Unix seconds. */
  readonly expiresAt: number;
}

export interface StoredX509Authority {
  /** DER of the CA certificate. */
  readonly der: Uint8Array;
  readonly tainted: boolean;
}

export interface StoredJwtAuthority {
  readonly keyId: string;
  /** PKIX (SubjectPublicKeyInfo) DER. */
  readonly publicKey: Uint8Array;
  /** Unix seconds; 0 = unknown. */
  readonly expiresAt: number;
  readonly tainted: boolean;
}

/**
 * A trust domain's bundle as stored (spire.api.types.Bundle). The CA and
 * federation code convert it to/from SpiffeBundle.
 */
export interface StoredBundle {
  readonly trustDomain: TrustDomain;
  readonly x509Authorities: readonly StoredX509Authority[];
  readonly jwtAuthorities: readonly StoredJwtAuthority[];
  /** Seconds; 0 = none. */
  readonly refreshHint: number;
  /** uint64: may exceed 2^53. Increases on every stored change. */
  readonly sequenceNumber: bigint;
}

export type BundleEndpointProfile =
  | { readonly type: 'https_web' }
  | { readonly type: 'https_spiffe'; readonly endpointSpiffeId: SpiffeId };

export interface FederationRelationship {
  readonly trustDomain: TrustDomain;
  /** As configured: https, no userinfo (validated by the caller). */
  readonly bundleEndpointUrl: string;
  readonly profile: BundleEndpointProfile;
  /** The stored bundle of `trustDomain`, when there is one (reads only). */
  readonly trustDomainBundle?: StoredBundle;
}

export interface FederationRelationshipInput {
  trustDomain: TrustDomain;
  bundleEndpointUrl: string;
  profile: BundleEndpointProfile;
  /** When given, stored as the trust domain's bundle in the same transaction. */
  trustDomainBundle?: StoredBundle;
}
