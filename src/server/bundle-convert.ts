// The datastore's bundle record ↔ SpiffeBundle (bundle endpoint, federation).
import { X509Certificate, createPublicKey } from 'node:crypto';
import { SpiffeBundle } from '../spiffe/bundle/spiffe-bundle.ts';
import type { StoredBundle } from './datastore/index.ts';

export function storedToSpiffeBundle(b: StoredBundle): SpiffeBundle {
  return new SpiffeBundle(b.trustDomain, {
    x509Authorities: b.x509Authorities.map((a) => new X509Certificate(a.der)),
    jwtAuthorities: new Map(b.jwtAuthorities.map((a) => [a.keyId, createPublicKey({ key: Buffer.from(a.publicKey), format: 'der', type: 'spki' })])),
    refreshHintSeconds: b.refreshHint,
    sequenceNumber: b.sequenceNumber,
  });
}

export function spiffeBundleToStored(b: SpiffeBundle): StoredBundle {
  return {
    trustDomain: b.trustDomain,
    x509Authorities: b.x509Authorities.map((c) => ({ der: c.raw, tainted: false })),
    jwtAuthorities: [...b.jwtAuthorities].map(([kid, key]) => ({ keyId: kid, publicKey: key.export({ format: 'der', type: 'spki' }), expiresAt: 0, tainted: false })),
    refreshHint: b.refreshHintSeconds ?? 0,
    sequenceNumber: b.sequenceNumber ?? 0n,
  };
}
