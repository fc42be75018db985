// Bundle statements. The sequence number increases on every stored change:
// new = max(current + 1, requested); a write that changes nothing is skipped.
import { X509Certificate } from 'node:crypto';
import type { TrustDomain } from '../../../spiffe/trust-domain.ts';
import { keyIdOfSpki } from '../../../spiffe/x509-leaf-der.ts';
import type { AuthorityRef, BundleMask, DeleteMode, Page, Pagination } from '../datastore.ts';
import { DataStoreCode, dataStoreError } from '../errors.ts';
import type { StoredBundle } from '../types.ts';
import { num, str, type SqlQuery } from './connection.ts';
import { checkBundle, decodeBundle, encodeBundle, mergeAuthorities, sameContents } from './bundle-codec.ts';
import { releaseFederatedEntries, type WriteContext } from './entries.ts';
import { checkPageSize, limitClause, toPage } from './pagination.ts';

export interface BundleWrite {
  readonly bundle: StoredBundle;
  readonly changed: boolean;
}

function notFound(td: TrustDomain): Error {
  return dataStoreError(DataStoreCode.BundleNotFound, `bundle for trust domain ${JSON.stringify(td.name)} not found`);
}

export async function getBundle(q: SqlQuery, td: TrustDomain): Promise<StoredBundle | undefined> {
  const row = await q.get('SELECT trust_domain, data FROM bundles WHERE trust_domain = ?', [td.name]);
  return row === undefined ? undefined : decodeBundle(str(row.trust_domain), str(row.data));
}

export async function createBundle(q: SqlQuery, bundle: StoredBundle): Promise<StoredBundle> {
  const b = checkBundle(bundle);
  if ((await getBundle(q, b.trustDomain)) !== undefined) {
    throw dataStoreError(DataStoreCode.BundleExists, `bundle for trust domain ${JSON.stringify(b.trustDomain.name)} already exists`);
  }
  await q.run('INSERT INTO bundles (trust_domain, data) VALUES (?, ?)', [b.trustDomain.name, encodeBundle(b)]);
  return b;
}

export async function listBundles(q: SqlQuery, pagination?: Pagination): Promise<Page<StoredBundle>> {
  checkPageSize(pagination);
  const after = pagination?.token ?? '';
  const rows = await q.all(
    `SELECT trust_domain, data FROM bundles${after === '' ? '' : ' WHERE trust_domain > ?'} ORDER BY trust_domain${limitClause(pagination)}`,
    after === '' ? [] : [after],
  );
  return toPage(rows.map((r) => decodeBundle(str(r.trust_domain), str(r.data))), pagination, (b) => b.trustDomain.name);
}

export async function countBundles(q: SqlQuery): Promise<number> {
  return num((await q.get('SELECT COUNT(*) AS n FROM bundles'))!.n);
}

/** Writes `next` over `current` unless nothing changes; `requestedSeq` is a floor for the new sequence number. */
async function store(q: SqlQuery, current: StoredBundle, next: StoredBundle, requestedSeq: bigint): Promise<BundleWrite> {
  const contentChanged = !sameContents(current, next);
  let seq = current.sequenceNumber;
  if (contentChanged) seq = requestedSeq > seq + 1n ? requestedSeq : seq + 1n;
  else if (requestedSeq > seq) seq = requestedSeq;
  else return { bundle: current, changed: false };
  const bundle = { ...next, sequenceNumber: seq };
  await q.run('UPDATE bundles SET data = ? WHERE trust_domain = ?', [encodeBundle(bundle), bundle.trustDomain.name]);
  return { bundle, changed: true };
}

export async function updateBundle(q: SqlQuery, bundle: StoredBundle, mask?: BundleMask): Promise<BundleWrite> {
  const b = checkBundle(bundle);
  const current = await getBundle(q, b.trustDomain);
  if (current === undefined) throw notFound(b.trustDomain);
  const all = mask === undefined;
  const next: StoredBundle = {
    trustDomain: current.trustDomain,
    x509Authorities: all || mask.x509Authorities ? b.x509Authorities : current.x509Authorities,
    jwtAuthorities: all || mask.jwtAuthorities ? b.jwtAuthorities : current.jwtAuthorities,
    refreshHint: all || mask.refreshHint ? b.refreshHint : current.refreshHint,
    sequenceNumber: current.sequenceNumber,
  };
  return store(q, current, next, all || mask.sequenceNumber ? b.sequenceNumber : 0n);
}

export async function setBundle(q: SqlQuery, bundle: StoredBundle): Promise<BundleWrite> {
  const b = checkBundle(bundle);
  const current = await getBundle(q, b.trustDomain);
  // A new bundle starts at sequence 1: 0 would read as "never published".
  if (current === undefined) return { bundle: await createBundle(q, { ...b, sequenceNumber: b.sequenceNumber > 0n ? b.sequenceNumber : 1n }), changed: true };
  return store(q, current, b, b.sequenceNumber);
}

export async function appendBundle(q: SqlQuery, bundle: StoredBundle): Promise<BundleWrite> {
  const b = checkBundle(bundle);
  const current = await getBundle(q, b.trustDomain);
  // A new bundle starts at sequence 1: 0 would read as "never published".
  if (current === undefined) return { bundle: await createBundle(q, { ...b, sequenceNumber: b.sequenceNumber > 0n ? b.sequenceNumber : 1n }), changed: true };
  return store(q, current, mergeAuthorities(current, b), 0n);
}

/** SPIRE's X.509 authority ID: SHA-1 of the certificate's public key (its subject key ID), hex. */
function subjectKeyIdOf(der: Uint8Array): string | undefined {
  try {
    return keyIdOfSpki(new X509Certificate(der).publicKey.export({ format: 'der', type: 'spki' })).toString('hex');
  } catch {
    return undefined; // not a certificate Node can read: it matches no ID
  }
}

function authorityMissing(td: TrustDomain, ref: AuthorityRef): Error {
  return dataStoreError(
    DataStoreCode.AuthorityNotFound,
    ref.kind === 'x509' ? `no X.509 authority with subject key ID ${ref.subjectKeyId} in the bundle of ${td.name}` : `no JWT authority with key ID ${ref.keyId} in the bundle of ${td.name}`,
  );
}

/**
 * Taints an authority (verifiers still trust it; holders of what it signed
 * must replace it now), or revokes a tainted one (removes it from the
 * bundle). SPIRE's TaintX509CA/RevokeX509CA/TaintJWTKey/RevokeJWTKey.
 */
export async function changeAuthority(q: SqlQuery, td: TrustDomain, ref: AuthorityRef, action: 'taint' | 'revoke'): Promise<BundleWrite> {
  const current = await getBundle(q, td);
  if (current === undefined) throw notFound(td);
  const matches = ref.kind === 'x509' ? (a: { der: Uint8Array }) => subjectKeyIdOf(a.der) === ref.subjectKeyId : (a: { keyId: string }) => a.keyId === ref.keyId;
  const list: readonly { tainted: boolean }[] = ref.kind === 'x509' ? current.x509Authorities : current.jwtAuthorities;
  const found = list.find((a) => (matches as (a: unknown) => boolean)(a));
  if (!found) throw authorityMissing(td, ref);
  if (action === 'taint' && found.tainted) throw dataStoreError(DataStoreCode.AuthorityTainted, 'the authority is already tainted');
  if (action === 'revoke' && !found.tainted) throw dataStoreError(DataStoreCode.AuthorityNotTainted, 'only a tainted authority can be revoked; taint it first');
  const change = <T extends { tainted: boolean }>(items: readonly T[]): T[] =>
    action === 'taint' ? items.map((a) => (a === found ? { ...a, tainted: true } : a)) : items.filter((a) => a !== found);
  const next: StoredBundle =
    ref.kind === 'x509' ? { ...current, x509Authorities: change(current.x509Authorities) } : { ...current, jwtAuthorities: change(current.jwtAuthorities) };
  return store(q, current, next, 0n);
}

/** Returns how many entries were deleted or dissociated. */
export async function deleteBundle(q: SqlQuery, ctx: WriteContext, td: TrustDomain, mode: DeleteMode): Promise<number> {
  if ((await getBundle(q, td)) === undefined) throw notFound(td);
  const touched = await releaseFederatedEntries(q, ctx, td, mode);
  await q.run('DELETE FROM bundles WHERE trust_domain = ?', [td.name]);
  return touched;
}
