// Who is calling the server, and what they may do (SPIRE
// pkg/server/api/middleware + authpolicy). Admin-socket callers are local
// administrators. On the TLS listener a caller is whoever its verified
// X509-SVID says: an attested agent (current serial, not banned), an admin
// entry's identity, or nobody (only AttestAgent and GetBundle are open).
import type { X509Certificate } from 'node:crypto';
import { HeraldError } from '../../common/errors.ts';
import { AgentPermissionDeniedError, PermissionDeniedReason } from '../../common/grpc/permission-denied.ts';
import { verifiedPeerChain } from '../../common/grpc/tls-credentials.ts';
import type { SpiffeId } from '../../spiffe/id.ts';
import type { TrustDomain } from '../../spiffe/trust-domain.ts';
import { verify } from '../../spiffe/x509-verify.ts';
import type { X509BundleSource } from '../../spiffe/bundle/x509-bundle.ts';
import type { AttestedNode, DataStore } from '../datastore/index.ts';
import type { EntryCache } from '../entry-cache/entry-cache.ts';

export type Caller =
  | { readonly kind: 'local' }
  | { readonly kind: 'agent'; readonly id: SpiffeId; readonly node: AttestedNode; readonly certificate: X509Certificate }
  | { readonly kind: 'admin'; readonly id: SpiffeId }
  | { readonly kind: 'downstream'; readonly id: SpiffeId }
  | { readonly kind: 'anonymous' };

/** Which callers a method admits. */
export type Policy = 'any' | 'agent' | 'admin' | 'agent-or-admin';

export interface CallerResolver {
  resolve(call: { getAuthContext(): { sslPeerCertificate?: unknown } }): Promise<Caller>;
}

/** Admin-socket callers: the socket's mode is the access control. */
export const localCallerResolver: CallerResolver = { resolve: async () => ({ kind: 'local' }) };

export class TlsCallerResolver implements CallerResolver {
  readonly #td: TrustDomain;
  readonly #bundles: () => X509BundleSource;
  readonly #ds: DataStore;
  readonly #entries: EntryCache;
  readonly #now: () => number;
  readonly #intermediates: () => readonly X509Certificate[];

  /**
   * `intermediates`: the server's own intermediate CAs (under an upstream
   * authority), through which a caller's leaf chains to the bundle's roots.
   */
  constructor(opts: { trustDomain: TrustDomain; bundles: () => X509BundleSource; ds: DataStore; entries: EntryCache; now: () => number; intermediates?: () => readonly X509Certificate[] }) {
    this.#td = opts.trustDomain;
    this.#bundles = opts.bundles;
    this.#ds = opts.ds;
    this.#entries = opts.entries;
    this.#now = opts.now;
    this.#intermediates = opts.intermediates ?? (() => []);
  }

  async resolve(call: { getAuthContext(): { sslPeerCertificate?: unknown } }): Promise<Caller> {
    const chain = verifiedPeerChain(call);
    if (!chain || chain.length === 0) return { kind: 'anonymous' };
    // TLS asked for the certificate but does not reject untrusted ones (an
    // attesting agent has none yet), so the chain is verified here. Node's
    // TLS server hands over the caller's leaf but not the intermediates it
    // sent (TLS itself did verify them: grpc-js reports a peer certificate
    // only for an authorized connection); under an upstream authority the
    // leaf reaches the bundle's roots through the server's own CA, so that
    // chain is offered as candidate intermediates.
    let id: SpiffeId;
    try {
      id = verify([...chain, ...this.#intermediates()], this.#bundles(), { at: this.#now() }).id;
    } catch (err) {
      throw new HeraldError('ERR_UNAUTHENTICATED_SVID', `client certificate is not a valid X509-SVID: ${(err as Error).message}`, { cause: err });
    }
    const leaf = chain[0]!;
    if (id.memberOf(this.#td) && id.path.startsWith('/spire/agent/')) {
      const serial = serialOf(leaf);
      // The record may come from the server's cache of sync reads, which can
      // only lag towards accepting: a refusal is decided on a fresh read.
      const cached = await this.#ds.getAttestedNode(id);
      if (cached && !cached.banned && (serial === cached.certSerialNumber || serial === cached.newCertSerialNumber)) return this.#agent(id, serial, cached, leaf);
      const node = await this.#ds.getAttestedNode(id, { fresh: true });
      // The reasons tell the agent what to do (SPIRE's middleware): attest again, or shut down.
      if (!node) throw new AgentPermissionDeniedError(PermissionDeniedReason.AGENT_NOT_ATTESTED, 'ERR_PERMISSION_DENIED_AGENT', `agent "${id}" is not attested`);
      if (node.banned) throw new AgentPermissionDeniedError(PermissionDeniedReason.AGENT_BANNED, 'ERR_AGENT_BANNED', `agent "${id}" is banned`);
      if (serial === node.certSerialNumber || serial === node.newCertSerialNumber) return this.#agent(id, serial, node, leaf);
      throw new AgentPermissionDeniedError(PermissionDeniedReason.AGENT_NOT_ACTIVE, 'ERR_PERMISSION_DENIED_AGENT', `agent "${id}" presented an SVID that is no longer active (serial ${serial})`);
    }
    const entries = this.#entries.entries().filter((e) => e.spiffeId.equals(id));
    if (entries.some((e) => e.admin)) return { kind: 'admin', id };
    if (entries.some((e) => e.downstream)) return { kind: 'downstream', id };
    return { kind: 'anonymous' };
  }

  /** `serial` is the node's current or its renewed SVID's. */
  async #agent(id: SpiffeId, serial: string, node: AttestedNode, certificate: X509Certificate): Promise<Caller> {
    if (serial === node.certSerialNumber) return { kind: 'agent', id, node, certificate };
    // First call with a renewed SVID: it becomes the agent's current one
    // and the old one stops working (SPIRE's agent authorization).
    const promoted = await this.#ds.updateAttestedNode(
      { spiffeId: id, certSerialNumber: serial, certNotAfter: node.newCertNotAfter, newCertSerialNumber: '', newCertNotAfter: 0 },
      { certSerialNumber: true, certNotAfter: true, newCertSerialNumber: true, newCertNotAfter: true },
    );
    return { kind: 'agent', id, node: promoted, certificate };
  }
}

/** Decimal serial, as the datastore keeps it (SPIRE stores big.Int.String()). */
export function serialOf(cert: X509Certificate): string {
  return BigInt(`0x${cert.serialNumber}`).toString(10);
}

export function authorize(caller: Caller, policy: Policy, method: string): void {
  const ok =
    policy === 'any' ||
    caller.kind === 'local' ||
    (policy === 'agent' && caller.kind === 'agent') ||
    (policy === 'admin' && caller.kind === 'admin') ||
    (policy === 'agent-or-admin' && (caller.kind === 'agent' || caller.kind === 'admin'));
  if (!ok) {
    const who = caller.kind === 'anonymous' ? 'an unauthenticated caller' : `${caller.kind} "${caller.id}"`;
    throw new HeraldError('ERR_PERMISSION_DENIED', `authorization denied for ${who} on ${method}`);
  }
}
