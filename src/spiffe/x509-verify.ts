// Verifying a peer's X509-SVID against per-trust-domain bundles
// (go-spiffe x509svid.Verify; shared/spec/x509-svid.md §3). Roots are taken
// only from the bundle of the leaf's own trust domain.
import type { ErrorCodeSuffix } from '../common/error-registry.ts';
import type { X509Certificate } from 'node:crypto';
import type { X509BundleSource } from './bundle/x509-bundle.ts';
import { parseCertificatesDer } from './bundle/der.ts';
import { X509SvidError } from './errors.ts';
import type { SpiffeId } from './id.ts';
import { KeyUsage, isCa, keyUsageOf } from './x509-ext.ts';
import { checkLeaf } from './x509svid.ts';

export interface VerifyResult {
  id: SpiffeId;
  /** Leaf → … → root. */
  chain: X509Certificate[];
}

function fail(code: ErrorCodeSuffix<'ERR_X509_SVID_'>, message: string): never {
  throw new X509SvidError(`ERR_X509_SVID_${code}`, `x509svid: ${message}`);
}

function validAt(cert: X509Certificate, at: number): boolean {
  return Date.parse(cert.validFrom) <= at && at <= Date.parse(cert.validTo);
}

function canSign(issuer: X509Certificate): boolean {
  if (!isCa(issuer)) return false;
  const ku = keyUsageOf(issuer);
  return ku === undefined || (ku & KeyUsage.keyCertSign) !== 0;
}

function issues(issuer: X509Certificate, cert: X509Certificate): boolean {
  return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}

export function verify(chain: readonly X509Certificate[] | Uint8Array, bundles: X509BundleSource, opts: { at: number }): VerifyResult {
  const certs = chain instanceof Uint8Array ? parseCertificatesDer(chain) : [...chain];
  if (certs.length === 0) fail('EMPTY_CHAIN', 'empty certificates chain');
  const leaf = certs[0]!;
  const id = checkLeaf(leaf);
  const bundle = bundles.getX509BundleForTrustDomain(id.trustDomain);
  if (!bundle) fail('NO_BUNDLE', `could not get X509 bundle: no X.509 bundle for trust domain "${id.trustDomain.name}"`);
  const roots = bundle.x509Authorities;
  const intermediates = certs.slice(1);
  // Depth-first path building: leaf → intermediates → a root, each hop checked.
  const path: X509Certificate[] = [leaf];
  const build = (cert: X509Certificate, depth: number): X509Certificate[] | undefined => {
    if (!validAt(cert, opts.at)) return undefined;
    for (const root of roots) {
      if (validAt(root, opts.at) && canSign(root) && issues(root, cert)) return [root];
    }
    if (depth > 8) return undefined;
    for (const inter of intermediates) {
      if (path.includes(inter) || !canSign(inter) || !issues(inter, cert)) continue;
      path.push(inter);
      const rest = build(inter, depth + 1);
      if (rest) return [inter, ...rest];
      path.pop();
    }
    return undefined;
  };
  if (!validAt(leaf, opts.at)) fail('EXPIRED', `certificate has expired or is not yet valid: current time ${new Date(opts.at).toISOString()} is outside ${leaf.validFrom} – ${leaf.validTo}`);
  const rest = build(leaf, 0);
  if (!rest) fail('UNKNOWN_AUTHORITY', `could not verify leaf certificate: certificate signed by unknown authority (trust domain "${id.trustDomain.name}")`);
  return { id, chain: [leaf, ...rest] };
}
