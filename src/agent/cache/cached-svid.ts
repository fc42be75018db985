// A workload X509-SVID as the agent's cache keeps it between renewals: the
// bytes the Workload API and SDS send and the two fields the agent reads
// (SPIFFE ID, expiry), not OpenSSL objects. Per SVID an X509Certificate
// holds ~3.4 kB of native memory plus a cached copy of its DER, a private
// KeyObject ~2-2.7 kB; these bytes take ~0.9 kB (bench/agent-memory).
import type { SpiffeId } from '../../spiffe/id.ts';

export interface CachedSvid {
  readonly id: SpiffeId;
  /** The certificate chain, leaf first, as concatenated DER (the Workload API's x509_svid). */
  readonly certificates: Buffer;
  /** PKCS#8 DER of the private key (the Workload API's x509_svid_key). */
  readonly privateKey: Buffer;
  /** The leaf's notAfter, ms since the epoch. */
  readonly notAfter: number;
  readonly hint?: string;
}

/**
 * Copies `chain` (DER, leaf first) and `privateKeyPkcs8` into one buffer of
 * their exact size: DER decoded from a server response is a view into the
 * whole response, which a kept view would keep alive.
 */
export function cachedSvid(o: { id: SpiffeId; chain: readonly Uint8Array[]; privateKeyPkcs8: Uint8Array; notAfter: number; hint?: string }): CachedSvid {
  let certsLength = 0;
  for (const c of o.chain) certsLength += c.byteLength;
  const bytes = Buffer.allocUnsafeSlow(certsLength + o.privateKeyPkcs8.byteLength);
  let off = 0;
  for (const c of o.chain) {
    bytes.set(c, off);
    off += c.byteLength;
  }
  bytes.set(o.privateKeyPkcs8, off);
  const svid = { id: o.id, certificates: bytes.subarray(0, certsLength), privateKey: bytes.subarray(certsLength), notAfter: o.notAfter };
  return o.hint ? { ...svid, hint: o.hint } : svid;
}
