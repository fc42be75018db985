// TLS credentials for the agent ↔ server channel, authenticated by
// X509-SVIDs rather than host names (SPIRE's agent API on :8081).
//
// Server side: every connection is asked for a client certificate, but one
// is not required — AttestAgent is called before the agent has an SVID.
// Handlers read the verified peer certificate from call.getAuthContext().
// The context (own SVID, trusted roots) can be replaced at any time, e.g.
// when the server SVID renews or the bundle gains a prepared CA.
import * as grpc from '@grpc/grpc-js';
import type { DetailedPeerCertificate, SecureContextOptions } from 'node:tls';
import { X509Certificate } from 'node:crypto';

export interface TlsIdentity {
  /** PEM chain, leaf first. */
  certChainPem: string;
  /** PKCS#8 PEM. */
  privateKeyPem: string;
}

class SvidServerCredentials extends grpc.ServerCredentials {
  constructor(identity: TlsIdentity, trustedRootsPem: string) {
    super({ requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' }, contextOptions(identity, trustedRootsPem));
  }

  update(identity: TlsIdentity, trustedRootsPem: string): void {
    this.updateSecureContextOptions(contextOptions(identity, trustedRootsPem));
  }

  override _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

function contextOptions(identity: TlsIdentity, trustedRootsPem: string): SecureContextOptions {
  return { cert: identity.certChainPem, key: identity.privateKeyPem, ca: trustedRootsPem };
}

export type UpdatableServerCredentials = grpc.ServerCredentials & { update(identity: TlsIdentity, trustedRootsPem: string): void };

export function createSvidServerCredentials(identity: TlsIdentity, trustedRootsPem: string): UpdatableServerCredentials {
  return new SvidServerCredentials(identity, trustedRootsPem);
}

/**
 * The caller's certificate chain when TLS verified it against the trusted
 * roots; undefined for callers that presented none (or an untrusted one).
 */
export function verifiedPeerChain(call: { getAuthContext(): { sslPeerCertificate?: unknown } }): X509Certificate[] | undefined {
  const peer = call.getAuthContext().sslPeerCertificate as DetailedPeerCertificate | undefined;
  if (!peer?.raw) return undefined;
  const chain: X509Certificate[] = [];
  let cur: DetailedPeerCertificate | undefined = peer;
  const seen = new Set<string>();
  while (cur?.raw && !seen.has(cur.fingerprint256)) {
    seen.add(cur.fingerprint256);
    chain.push(new X509Certificate(cur.raw));
    cur = cur.issuerCertificate;
  }
  return chain;
}

export interface SvidChannelOptions {
  /** PEM roots the server's certificate must chain to; undefined = insecure bootstrap (no verification). */
  trustedRootsPem: string | undefined;
  /** The SPIFFE ID the server must present (spiffe://td/spire/server). */
  expectedServerId: string;
  /** Client identity (agent SVID), absent for the first attestation. */
  identity?: TlsIdentity;
}

/**
 * Channel credentials that check the server's URI SAN instead of its host name.
 * An insecure bootstrap verifies nothing, so it is given an empty root set:
 * with none, grpc-js loads the file GRPC_DEFAULT_SSL_ROOTS_FILE_PATH names
 * (~150 roots, ~8 ms; an agent could not start if it were missing) or Node
 * its default roots, only for the check to be ignored.
 */
export function createSvidChannelCredentials(opts: SvidChannelOptions): grpc.ChannelCredentials {
  const verify = opts.trustedRootsPem !== undefined;
  return grpc.credentials.createSsl(
    verify ? Buffer.from(opts.trustedRootsPem!) : Buffer.alloc(0),
    opts.identity ? Buffer.from(opts.identity.privateKeyPem) : null,
    opts.identity ? Buffer.from(opts.identity.certChainPem) : null,
    {
      rejectUnauthorized: verify,
      checkServerIdentity: (_host, cert) => {
        if (!verify) return undefined;
        const uris = uriSans(cert.subjectaltname);
        if (uris.length !== 1 || uris[0] !== opts.expectedServerId) {
          return new Error(`server presented ${uris.join(',') || 'no URI SAN'}, expected ${opts.expectedServerId}`);
        }
        return undefined;
      },
    },
  );
}

/** URI SANs from Node's `subjectaltname` string ("URI:spiffe://td/x, DNS:a"). */
export function uriSans(subjectaltname: string | undefined): string[] {
  if (!subjectaltname) return [];
  return subjectaltname.split(', ').filter((s) => s.startsWith('URI:')).map((s) => s.slice(4));
}
