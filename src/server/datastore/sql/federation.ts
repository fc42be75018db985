// Federation relationship statements. A relationship may carry the trust
// domain's bundle, which is stored in the same transaction (SPIRE's
// trust_domain_bundle); reads return the stored bundle alongside.
import { SpiffeId } from '../../../spiffe/id.ts';
import { TrustDomain } from '../../../spiffe/trust-domain.ts';
import type { FederationRelationshipMask, FederationRelationshipUpdate, Page, Pagination } from '../datastore.ts';
import { DataStoreCode, corrupt, dataStoreError } from '../errors.ts';
import type { BundleEndpointProfile, FederationRelationship, FederationRelationshipInput, StoredBundle } from '../types.ts';
import { str, type Row, type SqlQuery } from './connection.ts';
import { decodeBundle } from './bundle-codec.ts';
import { setBundle } from './bundles.ts';
import { checkPageSize, limitClause, toPage } from './pagination.ts';

const SELECT = `SELECT f.trust_domain, f.bundle_endpoint_url, f.profile, f.endpoint_spiffe_id, b.data AS bundle_data
  FROM federation_relationships f LEFT JOIN bundles b ON b.trust_domain = f.trust_domain`;

function decode(row: Row): FederationRelationship {
  const td = str(row.trust_domain);
  let rel: FederationRelationship;
  try {
    const profile: BundleEndpointProfile =
      row.profile === 'https_spiffe'
        ? { type: 'https_spiffe', endpointSpiffeId: SpiffeId.fromString(str(row.endpoint_spiffe_id)) }
        : row.profile === 'https_web'
          ? { type: 'https_web' }
          : (() => { throw new TypeError(`unknown profile ${String(row.profile)}`); })();
    rel = { trustDomain: TrustDomain.fromString(td), bundleEndpointUrl: str(row.bundle_endpoint_url), profile };
  } catch (err) {
    throw corrupt(`federation relationship ${JSON.stringify(td)}`, err);
  }
  const data = row.bundle_data;
  return data === null || data === undefined ? rel : { ...rel, trustDomainBundle: decodeBundle(td, str(data)) };
}

function profileColumns(p: BundleEndpointProfile): [string, string] {
  if (p.type === 'https_web') return ['https_web', ''];
  if (p.type === 'https_spiffe' && p.endpointSpiffeId instanceof SpiffeId) return ['https_spiffe', p.endpointSpiffeId.toString()];
  throw new TypeError('datastore: profile must be https_web or https_spiffe with an endpointSpiffeId');
}

function checkUrl(url: unknown): string {
  if (typeof url !== 'string' || url === '') throw new TypeError('datastore: bundleEndpointUrl must be a non-empty string');
  return url;
}

async function storeBundleFor(q: SqlQuery, td: TrustDomain, bundle: StoredBundle | undefined): Promise<boolean> {
  if (bundle === undefined) return false;
  if (!bundle.trustDomain.equals(td)) {
    throw new TypeError(`datastore: trustDomainBundle is for ${bundle.trustDomain.name}, not ${td.name}`);
  }
  return (await setBundle(q, bundle)).changed;
}

function notFound(td: TrustDomain): Error {
  return dataStoreError(DataStoreCode.FederationRelationshipNotFound, `federation relationship with ${JSON.stringify(td.name)} not found`);
}

export async function getRelationship(q: SqlQuery, td: TrustDomain): Promise<FederationRelationship | undefined> {
  const row = await q.get(`${SELECT} WHERE f.trust_domain = ?`, [td.name]);
  return row === undefined ? undefined : decode(row);
}

export interface RelationshipWrite {
  readonly relationship: FederationRelationship;
  readonly bundleChanged: boolean;
}

export async function createRelationship(q: SqlQuery, input: FederationRelationshipInput): Promise<RelationshipWrite> {
  if (!(input.trustDomain instanceof TrustDomain)) throw new TypeError('datastore: trustDomain must be a TrustDomain');
  const [profile, endpointId] = profileColumns(input.profile);
  if ((await getRelationship(q, input.trustDomain)) !== undefined) {
    throw dataStoreError(DataStoreCode.FederationRelationshipExists, `federation relationship with ${JSON.stringify(input.trustDomain.name)} already exists`);
  }
  const bundleChanged = await storeBundleFor(q, input.trustDomain, input.trustDomainBundle);
  await q.run('INSERT INTO federation_relationships (trust_domain, bundle_endpoint_url, profile, endpoint_spiffe_id) VALUES (?, ?, ?, ?)', [
    input.trustDomain.name,
    checkUrl(input.bundleEndpointUrl),
    profile,
    endpointId,
  ]);
  return { relationship: (await getRelationship(q, input.trustDomain))!, bundleChanged };
}

export async function listRelationships(q: SqlQuery, pagination?: Pagination): Promise<Page<FederationRelationship>> {
  checkPageSize(pagination);
  const after = pagination?.token ?? '';
  const rows = await q.all(`${SELECT}${after === '' ? '' : ' WHERE f.trust_domain > ?'} ORDER BY f.trust_domain${limitClause(pagination)}`, after === '' ? [] : [after]);
  return toPage(rows.map(decode), pagination, (r) => r.trustDomain.name);
}

export async function updateRelationship(q: SqlQuery, update: FederationRelationshipUpdate, mask?: FederationRelationshipMask): Promise<RelationshipWrite> {
  const current = await getRelationship(q, update.trustDomain);
  if (current === undefined) throw notFound(update.trustDomain);
  const pick = <K extends keyof FederationRelationshipMask>(k: K): boolean => {
    const selected = mask === undefined ? update[k] !== undefined : mask[k] === true;
    if (selected && update[k] === undefined) throw new TypeError(`updateFederationRelationship: the mask selects ${k} but no value is given`);
    return selected;
  };
  const url = pick('bundleEndpointUrl') ? checkUrl(update.bundleEndpointUrl) : current.bundleEndpointUrl;
  const [profile, endpointId] = profileColumns(pick('profile') ? update.profile! : current.profile);
  const bundleChanged = pick('trustDomainBundle') ? await storeBundleFor(q, update.trustDomain, update.trustDomainBundle) : false;
  await q.run('UPDATE federation_relationships SET bundle_endpoint_url = ?, profile = ?, endpoint_spiffe_id = ? WHERE trust_domain = ?', [
    url,
    profile,
    endpointId,
    update.trustDomain.name,
  ]);
  return { relationship: (await getRelationship(q, update.trustDomain))!, bundleChanged };
}

export async function deleteRelationship(q: SqlQuery, td: TrustDomain): Promise<void> {
  if ((await q.run('DELETE FROM federation_relationships WHERE trust_domain = ?', [td.name])) === 0) throw notFound(td);
}
