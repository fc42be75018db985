// A/B slots for the X.509 CA and the JWT signing key (SPIRE
// pkg/server/ca/manager/slot.go). The next authority is prepared — and
// published in the bundle — well before it is activated, so every verifier
// already trusts it when it starts signing.
import type { KeyObject, X509Certificate } from 'node:crypto';
import type { SlotId } from './journal.ts';
import type { KeyManagerKey } from '../plugins/keymanager/types.ts';

export interface X509CaAuthority {
  slotId: SlotId;
  keyId: string;
  issuedAt: number;
  notAfter: number;
  certificate: X509Certificate;
  /** The CA key, as the key manager hands it out: a signer. */
  key: KeyManagerKey;
  /** Intermediates between this CA and the upstream root (empty when self-signed). */
  upstreamChain: X509Certificate[];
}

export interface JwtAuthority {
  slotId: SlotId;
  keyId: string;
  issuedAt: number;
  notAfter: number;
  kid: string;
  /** The signing key, as the key manager hands it out. */
  key: KeyManagerKey;
  /** The public key as published in the bundle (the journal's). */
  publicKey: KeyObject;
}

const DAY = 24 * 60 * 60 * 1000;

/** When the next authority should be prepared: half-way, or 30 days before expiry. */
export function preparationThreshold(a: { issuedAt: number; notAfter: number }): number {
  const lifetime = a.notAfter - a.issuedAt;
  return a.notAfter - Math.min(lifetime / 2, 30 * DAY);
}

/** When the next authority should be activated: a sixth of the lifetime, or 7 days before expiry. */
export function activationThreshold(a: { issuedAt: number; notAfter: number }): number {
  const lifetime = a.notAfter - a.issuedAt;
  return a.notAfter - Math.min(lifetime / 6, 7 * DAY);
}

export function otherSlot(id: SlotId): SlotId {
  return id === 'A' ? 'B' : 'A';
}
