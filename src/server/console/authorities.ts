// The console's view of the X.509 CA and JWT key slots: the CA journal (every
// authority the server made, with its slot and status) joined with the
// trust domain's bundle (tainted flags; a live authority missing from the
// bundle was revoked), plus when the next rotation steps are due.
import { X509Certificate } from 'node:crypto';
import type { JournalData, SlotId } from '../ca/journal.ts';
import { activationThreshold, preparationThreshold } from '../ca/slot.ts';
import { x509AuthorityId } from '../api/localauthority-service.ts';
import type { StoredBundle } from '../datastore/types.ts';

export interface AuthorityView {
  /** X.509: the CA's subject key ID (hex, SPIRE's authority ID); JWT: the kid. */
  readonly id: string;
  readonly slot: SlotId;
  readonly status: 'prepared' | 'active' | 'old';
  readonly issuedAt: number;
  readonly notAfter: number;
  readonly tainted: boolean;
  readonly revoked: boolean;
  /** Active only: when the successor is prepared, then activated (SPIRE's 1/2 and 5/6 of the lifetime). */
  readonly prepareAt?: number;
  readonly activateAt?: number;
}

export interface AuthoritiesView {
  readonly x509: AuthorityView[];
  readonly jwt: AuthorityView[];
}

// Authority IDs by certificate (base64 DER): a journal holds at most 20.
const idCache = new Map<string, string>();

function certificateId(b64: string): string {
  let id = idCache.get(b64);
  if (id === undefined) {
    if (idCache.size > 256) idCache.clear();
    id = x509AuthorityId({ certificate: new X509Certificate(Buffer.from(b64, 'base64')) });
    idCache.set(b64, id);
  }
  return id;
}

function view(e: { slotId: SlotId; status: AuthorityView['status']; issuedAt: number; notAfter: number }, id: string, inBundle: { tainted: boolean } | undefined, now: number, publishedItself = true): AuthorityView {
  return {
    id,
    slot: e.slotId,
    status: e.status,
    issuedAt: e.issuedAt,
    notAfter: e.notAfter,
    tainted: inBundle?.tainted ?? false,
    // Expired ones leave the bundle by pruning, not revocation; under an
    // upstream authority the bundle holds the upstream roots, not the CA.
    revoked: publishedItself && inBundle === undefined && e.notAfter > now,
    ...(e.status === 'active' ? { prepareAt: preparationThreshold(e), activateAt: activationThreshold(e) } : {}),
  };
}

/** Journal entries that may still matter (expired less than one lifetime ago), oldest first. */
export function authoritiesView(journal: JournalData, bundle: StoredBundle | undefined, now: number): AuthoritiesView {
  const recent = <T extends { issuedAt: number; notAfter: number }>(list: readonly T[]): T[] => list.filter((e) => e.notAfter > now - (e.notAfter - e.issuedAt));
  const x509InBundle = new Map((bundle?.x509Authorities ?? []).map((a) => [certificateId(Buffer.from(a.der).toString('base64')), a]));
  const jwtInBundle = new Map((bundle?.jwtAuthorities ?? []).map((a) => [a.keyId, a]));
  return {
    x509: recent(journal.x509Cas).map((e) => {
      const id = certificateId(e.certificate);
      return view(e, id, x509InBundle.get(id), now, e.upstreamChain.length === 0);
    }),
    jwt: recent(journal.jwtKeys).map((e) => view(e, e.kid, jwtInBundle.get(e.kid), now)),
  };
}
