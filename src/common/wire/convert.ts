// Conversions between spire-api-sdk wire types (snake_case objects from the
// proto loader, typed in types.ts) and the datastore's parsed records. Input
// conversions throw InvalidArgument errors that name the field, as SPIRE's
// api/*.go do.
import { X509Certificate, createPublicKey } from 'node:crypto';
import { HeraldError } from '../errors.ts';
import { checkSelector, type Selector } from '../selector.ts';
import { SpiffeId } from '../../spiffe/id.ts';
import { TrustDomain } from '../../spiffe/trust-domain.ts';
import { SpiffeBundle } from '../../spiffe/bundle/spiffe-bundle.ts';
import { strictCertificate } from '../../spiffe/bundle/der.ts';
import { GrpcCode, errorMessage, grpcStatusFor, grpcStatusOfCode, type ErrorCode } from '../errors.ts';
import type { AttestedNode, EntryInput, RegistrationEntry, StoredBundle } from '../../server/datastore/index.ts';
import type { WireAgent, WireBundle, WireEntry, WireSelector, WireSpiffeId, WireStatus } from './types.ts';

export type { WireAgent, WireBundle, WireEntry, WireSelector, WireSpiffeId, WireStatus, WireX509Svid } from './types.ts';

export function invalidArgument(message: string, cause?: unknown): HeraldError {
  return new HeraldError('ERR_INVALID_ARGUMENT', message, { cause });
}

export function spiffeIdToWire(id: SpiffeId): WireSpiffeId {
  return { trust_domain: id.trustDomain.name, path: id.path };
}

/** SPIRE's api.ProtoToID: rebuilds the ID and validates it. */
export function spiffeIdFromWire(w: WireSpiffeId | null | undefined, field: string): SpiffeId {
  if (!w) throw invalidArgument(`invalid ${field}: request must specify SPIFFE ID`);
  try {
    return SpiffeId.fromString(`spiffe://${w.trust_domain}${w.path}`);
  } catch (err) {
    throw invalidArgument(`invalid ${field}: ${errorMessage(err)}`, err);
  }
}

export function selectorFromWire(w: WireSelector): Selector {
  if (!w.type) throw invalidArgument('invalid selector: missing selector type');
  if (w.type.includes(':')) throw invalidArgument('invalid selector: selector type contains ":"');
  if (!w.value) throw invalidArgument('invalid selector: missing selector value');
  return { type: w.type, value: w.value };
}

export function trustDomainFromWire(s: string, field: string): TrustDomain {
  try {
    return TrustDomain.fromString(s);
  } catch (err) {
    throw invalidArgument(`invalid ${field}: ${errorMessage(err)}`, err);
  }
}

export function entryToWire(e: RegistrationEntry): WireEntry {
  return {
    id: e.id,
    spiffe_id: spiffeIdToWire(e.spiffeId),
    parent_id: spiffeIdToWire(e.parentId),
    selectors: e.selectors.map((s) => ({ type: s.type, value: s.value })),
    x509_svid_ttl: e.x509SvidTtlSeconds,
    federates_with: e.federatesWith.map((td) => td.name),
    admin: e.admin,
    downstream: e.downstream,
    expires_at: String(e.expiresAt),
    dns_names: [...e.dnsNames],
    revision_number: String(e.revisionNumber),
    store_svid: false,
    jwt_svid_ttl: e.jwtSvidTtlSeconds,
    hint: e.hint,
    created_at: String(e.createdAt),
  };
}

/** Validates an entry from the wire (SPIRE api.ProtoToRegistrationEntry + validation). */
export function entryFromWire(w: WireEntry, td: TrustDomain): EntryInput {
  const spiffeId = spiffeIdFromWire(w.spiffe_id, 'spiffe ID');
  const parentId = spiffeIdFromWire(w.parent_id, 'parent ID');
  if (!spiffeId.memberOf(td)) throw invalidArgument(`invalid spiffe ID: "${spiffeId}" is not a member of trust domain "${td.name}"`);
  if (!parentId.memberOf(td)) throw invalidArgument(`invalid parent ID: "${parentId}" is not a member of trust domain "${td.name}"`);
  if (spiffeId.isTrustDomainId()) throw invalidArgument('invalid spiffe ID: path is empty');
  if (spiffeId.path.startsWith('/spire/')) throw invalidArgument(`invalid spiffe ID: "${spiffeId}" is reserved for SPIRE`);
  if (w.selectors.length === 0) throw invalidArgument('invalid selectors: at least one selector is required');
  // Herald has no SVIDStore: refuse rather than store an entry whose SVIDs nobody would store.
  if (w.store_svid) throw invalidArgument('invalid store_svid: Herald has no SVIDStore plugin support; entries with store_svid=true are refused');
  const selectors = w.selectors.map(selectorFromWire);
  // Stray whitespace or an oversized value: the entry could never match (common/selector.ts).
  for (const sel of selectors) checkSelector(sel);
  if (w.x509_svid_ttl < 0) throw invalidArgument('invalid x509_svid_ttl: must not be negative');
  if (w.jwt_svid_ttl < 0) throw invalidArgument('invalid jwt_svid_ttl: must not be negative');
  const federatesWith = w.federates_with.map((s) => {
    const fed = trustDomainFromWire(s.startsWith('spiffe://') ? s.slice('spiffe://'.length) : s, 'federates with');
    if (fed.equals(td)) throw invalidArgument(`invalid federates with: "${fed.name}" is the server's own trust domain`);
    return fed;
  });
  for (const dns of w.dns_names) {
    if (!/^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(dns)) {
      throw invalidArgument(`invalid DNS name "${dns}"`);
    }
  }
  const expiresAt = Number(w.expires_at);
  return {
    ...(w.id ? { id: w.id } : {}),
    spiffeId,
    parentId,
    selectors,
    x509SvidTtlSeconds: w.x509_svid_ttl,
    jwtSvidTtlSeconds: w.jwt_svid_ttl,
    dnsNames: w.dns_names,
    federatesWith,
    admin: w.admin,
    downstream: w.downstream,
    hint: w.hint,
    expiresAt: Number.isFinite(expiresAt) ? expiresAt : 0,
  };
}

export function agentToWire(n: AttestedNode): WireAgent {
  return {
    id: spiffeIdToWire(n.spiffeId),
    attestation_type: n.attestationDataType,
    x509svid_serial_number: n.certSerialNumber,
    x509svid_expires_at: String(n.certNotAfter),
    selectors: (n.selectors ?? []).map((s) => ({ type: s.type, value: s.value })),
    banned: n.banned,
    can_reattest: n.canReattest,
  };
}

export function bundleToWire(b: StoredBundle): WireBundle {
  return {
    trust_domain: b.trustDomain.name,
    x509_authorities: b.x509Authorities.map((a) => ({ asn1: Buffer.from(a.der), tainted: a.tainted })),
    jwt_authorities: b.jwtAuthorities.map((a) => ({
      public_key: Buffer.from(a.publicKey),
      key_id: a.keyId,
      expires_at: String(a.expiresAt),
      tainted: a.tainted,
    })),
    refresh_hint: String(b.refreshHint),
    sequence_number: b.sequenceNumber.toString(),
  };
}

/** Validates a bundle from the wire: every certificate and key must parse. */
export function bundleFromWire(w: WireBundle): StoredBundle {
  const trustDomain = trustDomainFromWire(w.trust_domain.replace(/^spiffe:\/\//, ''), 'trust domain');
  const x509Authorities = w.x509_authorities.map((a, i) => {
    try {
      strictCertificate(a.asn1);
    } catch (err) {
      throw invalidArgument(`invalid bundle: x509_authorities[${i}] is not a DER certificate: ${errorMessage(err)}`, err);
    }
    return { der: Buffer.from(a.asn1), tainted: a.tainted };
  });
  const jwtAuthorities = w.jwt_authorities.map((a, i) => {
    if (!a.key_id) throw invalidArgument(`invalid bundle: jwt_authorities[${i}] is missing key ID`);
    try {
      createPublicKey({ key: a.public_key, format: 'der', type: 'spki' });
    } catch (err) {
      throw invalidArgument(`invalid bundle: jwt_authorities[${i}] public key is not PKIX DER: ${errorMessage(err)}`, err);
    }
    return { keyId: a.key_id, publicKey: Buffer.from(a.public_key), expiresAt: Number(a.expires_at), tainted: a.tainted };
  });
  return { trustDomain, x509Authorities, jwtAuthorities, refreshHint: Number(w.refresh_hint), sequenceNumber: BigInt(w.sequence_number || '0') };
}

export const OK_STATUS: WireStatus = { code: GrpcCode.OK, message: 'OK' };

/** A batch item's failure: the error's status; internal errors stay generic on the wire. */
export function statusOf(err: unknown): WireStatus {
  const code = grpcStatusFor(err);
  return { code, message: code === GrpcCode.INTERNAL ? 'internal error' : errorMessage(err) };
}

/** A batch item's failure named by its registered code, with SPIRE's wording for the message. */
export function wireStatus(code: ErrorCode, message: string): WireStatus {
  return { code: grpcStatusOfCode(code), message };
}

/** A wire bundle as a SpiffeBundle (agent cache, CLI output). Trusts its input: it came from the server. */
export function spiffeBundleFromWire(w: WireBundle): SpiffeBundle {
  return new SpiffeBundle(TrustDomain.fromString(w.trust_domain), {
    x509Authorities: w.x509_authorities.map((a) => new X509Certificate(a.asn1)),
    jwtAuthorities: new Map(w.jwt_authorities.map((a) => [a.key_id, createPublicKey({ key: a.public_key, format: 'der', type: 'spki' })])),
    refreshHintSeconds: Number(w.refresh_hint),
    sequenceNumber: BigInt(w.sequence_number),
  });
}

/**
 * SPIRE's output masks: with a mask, only the fields it sets are filled (the
 * rest go out as zero values); `keep` fields (IDs) are always filled. No mask
 * (null) means every field.
 */
export function applyOutputMask<T extends object>(value: T, mask: Record<string, boolean> | null | undefined, keep: readonly (keyof T & string)[]): T {
  if (!mask) return value;
  const out: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  for (const [k, v] of Object.entries(value)) {
    if (keep.includes(k as keyof T & string) || mask[k] === true) continue;
    out[k] = Array.isArray(v) ? [] : typeof v === 'boolean' ? false : typeof v === 'number' ? 0 : typeof v === 'string' ? (/^-?\d+$/.test(v) ? '0' : '') : null;
  }
  return out as T;
}
