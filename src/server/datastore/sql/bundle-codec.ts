// StoredBundle ↔ the JSON kept in bundles.data. DER as base64, the uint64
// sequence number as a decimal string (it may exceed 2^53).
import { TrustDomain } from '../../../spiffe/trust-domain.ts';
import { corrupt } from '../errors.ts';
import type { StoredBundle, StoredJwtAuthority, StoredX509Authority } from '../types.ts';

interface BundleJson {
  x509: { der: string; tainted: boolean }[];
  jwt: { kid: string; pk: string; exp: number; tainted: boolean }[];
  refreshHint: number;
  seq: string;
}

const MAX_UINT64 = (1n << 64n) - 1n;

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function bytes(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'base64'));
}

/** Type checks (misuse is a TypeError) and copies into plain arrays. */
export function checkBundle(b: StoredBundle): StoredBundle {
  if (!(b.trustDomain instanceof TrustDomain)) throw new TypeError('datastore: bundle trustDomain must be a TrustDomain');
  if (typeof b.sequenceNumber !== 'bigint' || b.sequenceNumber < 0n || b.sequenceNumber > MAX_UINT64) {
    throw new TypeError('datastore: bundle sequenceNumber must be a uint64 bigint');
  }
  if (!Number.isSafeInteger(b.refreshHint) || b.refreshHint < 0) throw new TypeError('datastore: bundle refreshHint must be a non-negative integer');
  for (const a of b.x509Authorities) if (!(a.der instanceof Uint8Array)) throw new TypeError('datastore: x509 authority der must be a Uint8Array');
  for (const a of b.jwtAuthorities) {
    if (!(a.publicKey instanceof Uint8Array)) throw new TypeError('datastore: jwt authority publicKey must be a Uint8Array');
    if (typeof a.keyId !== 'string') throw new TypeError('datastore: jwt authority keyId must be a string');
  }
  return {
    trustDomain: b.trustDomain,
    x509Authorities: b.x509Authorities.map((a) => ({ der: a.der, tainted: a.tainted === true })),
    jwtAuthorities: b.jwtAuthorities.map((a) => ({ keyId: a.keyId, publicKey: a.publicKey, expiresAt: a.expiresAt ?? 0, tainted: a.tainted === true })),
    refreshHint: b.refreshHint,
    sequenceNumber: b.sequenceNumber,
  };
}

export function encodeBundle(b: StoredBundle): string {
  const json: BundleJson = {
    x509: b.x509Authorities.map((a) => ({ der: b64(a.der), tainted: a.tainted })),
    jwt: b.jwtAuthorities.map((a) => ({ kid: a.keyId, pk: b64(a.publicKey), exp: a.expiresAt, tainted: a.tainted })),
    refreshHint: b.refreshHint,
    seq: b.sequenceNumber.toString(),
  };
  return JSON.stringify(json);
}

export function decodeBundle(trustDomain: string, data: string): StoredBundle {
  try {
    const j = JSON.parse(data) as BundleJson;
    return {
      trustDomain: TrustDomain.fromString(trustDomain),
      x509Authorities: j.x509.map((a): StoredX509Authority => ({ der: bytes(a.der), tainted: a.tainted })),
      jwtAuthorities: j.jwt.map((a): StoredJwtAuthority => ({ keyId: a.kid, publicKey: bytes(a.pk), expiresAt: a.exp, tainted: a.tainted })),
      refreshHint: j.refreshHint,
      sequenceNumber: BigInt(j.seq),
    };
  } catch (err) {
    throw corrupt(`bundle of ${JSON.stringify(trustDomain)}`, err);
  }
}

/** Same authorities and refresh hint (sequence number ignored). */
export function sameContents(a: StoredBundle, b: StoredBundle): boolean {
  const strip = (x: StoredBundle) => encodeBundle({ ...x, sequenceNumber: 0n });
  return strip(a) === strip(b);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

/** `current` plus the authorities of `extra` it lacks (by DER; JWT keys by key ID and key). */
export function mergeAuthorities(current: StoredBundle, extra: StoredBundle): StoredBundle {
  const x509 = [...current.x509Authorities];
  for (const a of extra.x509Authorities) if (!x509.some((x) => sameBytes(x.der, a.der))) x509.push(a);
  const jwt = [...current.jwtAuthorities];
  for (const a of extra.jwtAuthorities) {
    if (!jwt.some((x) => x.keyId === a.keyId && sameBytes(x.publicKey, a.publicKey))) jwt.push(a);
  }
  return { ...current, x509Authorities: x509, jwtAuthorities: jwt };
}
