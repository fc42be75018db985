// Constants and small helpers of the certificate profiles (seed 000). The
// profiles themselves are composed by the server's credential template
// builder (src/server/credtemplate) and written by x509-leaf-der.ts.
import { createHash, randomBytes } from 'node:crypto';
import type { SpiffeId } from './id.ts';

/** Clock-skew cushion on notBefore (SPIRE: 10 s). */
export const NOT_BEFORE_BACKDATE_MS = 10_000;

export interface CertSubject {
  country?: readonly string[];
  organization?: readonly string[];
  commonName?: string;
}

export const DEFAULT_CA_SUBJECT: CertSubject = { country: ['US'], organization: ['SPIFFE'] };
export const DEFAULT_SVID_SUBJECT: CertSubject = { country: ['US'], organization: ['SPIRE'] };

/** A random serial in [1, 2^127 − 1] (16 bytes, the top bit clear: a positive INTEGER), as lowercase hex. */
export function randomSerial(): string {
  return randomSerials(1)[0]!.toString('hex');
}

/** `count` random serials (randomSerial's range; 16 bytes, big-endian), from one call into the CSPRNG. */
export function randomSerials(count: number): Buffer[] {
  const all = randomBytes(16 * count);
  const out: Buffer[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const b = all.subarray(16 * i, 16 * i + 16);
    b[0]! &= 0x7f; // positive
    if (b.every((x) => x === 0)) b[15] = 1;
    out[i] = b;
  }
  return out;
}

/** x500UniqueIdentifier: the first 16 bytes of SHA-256(SPIFFE ID), hex (SPIRE's uniqueid composer). */
export function uniqueIdFor(id: SpiffeId): string {
  return createHash('sha256').update(id.toString()).digest().subarray(0, 16).toString('hex');
}
