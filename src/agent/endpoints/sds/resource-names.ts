// Which Secret a resource name means for one workload (SPIRE's SDS naming):
//   default (default_svid_name)    → the workload's default X509-SVID
//   spiffe://td/path               → that SVID, if the workload has it
//   ROOTCA (default_bundle_name)   → own trust domain bundle
//   ALL (default_all_bundles_name) → own + federated bundles
//   spiffe://td or td              → that trust domain's bundle (own or federated for this workload)
// Anything else resolves to a reason, never to another workload's material.
import type { WorkloadUpdate } from '../../cache/types.ts';
import type { SpiffeBundle } from '../../../spiffe/bundle/spiffe-bundle.ts';
import { readFileSync, realpathSync } from 'node:fs';
import { sep } from 'node:path';
import { SpiffeId } from '../../../spiffe/id.ts';
import { TrustDomain } from '../../../spiffe/trust-domain.ts';
import { tlsCertificateSecret, validationContextSecret, type AnyEncoder, type SanMatcher, type SecretMessage } from './secrets.ts';

export interface SdsNamingConfig {
  defaultSvidName: string;
  defaultBundleName: string;
  defaultAllBundlesName: string;
  /** Global switch (SPIRE): plain trusted_ca instead of the SPIFFE validator. */
  disableSpiffeCertValidation: boolean;
  /** Per resource name: 'spiffe' or 'trusted_ca' (overrides the global switch). */
  validatorByResource: Readonly<Record<string, 'spiffe' | 'trusted_ca'>>;
  /** ROOTCA also carries the federated bundles (still one validator per domain). */
  rootCaIncludesFederated: boolean;
  /** Per resource name: peers allowed to connect, as URI SAN matchers. */
  authorizedPeersByResource: Readonly<Record<string, readonly SanMatcher[]>>;
  /** Istio-style `file-cert:CERT~KEY` / `file-root:ROOTS` resources, from one directory only (off by default). */
  fileResources?: { readonly enabled: boolean; readonly allowedDir: string | undefined };
}

export const defaultSdsNaming: SdsNamingConfig = {
  defaultSvidName: 'default',
  defaultBundleName: 'ROOTCA',
  defaultAllBundlesName: 'ALL',
  disableSpiffeCertValidation: false,
  validatorByResource: {},
  rootCaIncludesFederated: false,
  authorizedPeersByResource: {},
};

export type Resolution = { ok: true; secret: SecretMessage } | { ok: false; reason: 'unknown' | 'not-authorized' | 'no-identity' | 'trusted-ca-multi-domain' };

export interface ResolveContext {
  naming: SdsNamingConfig;
  /** From the node metadata of the stream's first request (SPIRE compatibility). */
  nodeDisablesSpiffeValidation: boolean | undefined;
  encodeAny: AnyEncoder;
}

export function resolveResource(name: string, update: WorkloadUpdate, ctx: ResolveContext): Resolution {
  const { naming } = ctx;
  if (name === naming.defaultSvidName) {
    const first = update.identities[0];
    return first ? { ok: true, secret: tlsCertificateSecret(name, first.svid) } : { ok: false, reason: 'no-identity' };
  }
  if (name === naming.defaultBundleName) {
    const bundles = naming.rootCaIncludesFederated ? [update.bundle, ...update.federatedBundles.values()] : [update.bundle];
    return validation(name, bundles, ctx);
  }
  if (name === naming.defaultAllBundlesName) {
    return validation(name, [update.bundle, ...update.federatedBundles.values()], ctx);
  }
  const td = parseTrustDomainName(name);
  if (td) {
    const bundle = td.equals(update.bundle.trustDomain) ? update.bundle : update.federatedBundles.get(td.name);
    return bundle ? validation(name, [bundle], ctx) : { ok: false, reason: 'not-authorized' };
  }
  if (name.startsWith('file-cert:') || name.startsWith('file-root:')) return fileResource(name, naming);
  if (name.startsWith('spiffe://')) {
    const identity = update.identities.find((i) => i.svid.id.toString() === name);
    return identity ? { ok: true, secret: tlsCertificateSecret(name, identity.svid) } : { ok: false, reason: 'not-authorized' };
  }
  return { ok: false, reason: 'unknown' };
}

function validation(name: string, bundles: SpiffeBundle[], ctx: ResolveContext): Resolution {
  const validator = ctx.naming.validatorByResource[name]
    ?? (ctx.nodeDisablesSpiffeValidation ?? ctx.naming.disableSpiffeCertValidation ? 'trusted_ca' : 'spiffe');
  // Pooling several domains' roots into trusted_ca would let one domain's CA
  // vouch for another's IDs; SPIRE refuses ALL in that mode too.
  if (validator === 'trusted_ca' && bundles.length > 1) return { ok: false, reason: 'trusted-ca-multi-domain' };
  const sanMatchers = ctx.naming.authorizedPeersByResource[name];
  return { ok: true, secret: validationContextSecret(name, bundles, { validator, ...(sanMatchers ? { sanMatchers } : {}) }, ctx.encodeAny) };
}

/** `spiffe://td` or a bare `td` (aliases such as `default` are matched before this). */
function parseTrustDomainName(name: string): TrustDomain | undefined {
  try {
    if (name.startsWith('spiffe://')) {
      const id = SpiffeId.fromString(name);
      return id.isTrustDomainId() ? id.trustDomain : undefined;
    }
    return TrustDomain.fromString(name);
  } catch {
    return undefined; // not a trust domain name: the caller reports it as unknown
  }
}

/**
 * `file-cert:/dir/cert.pem~/dir/key.pem` → tls_certificate, `file-root:/dir/ca.pem`
 * → validation_context (trusted_ca), as Istio names them. Only when enabled,
 * and only for files whose real path is inside the allowed directory.
 */
function fileResource(name: string, naming: SdsNamingConfig): Resolution {
  const cfg = naming.fileResources;
  if (!cfg?.enabled || !cfg.allowedDir) return { ok: false, reason: 'unknown' };
  const inside = (p: string): string | undefined => {
    try {
      const real = realpathSync(p);
      const dir = realpathSync(cfg.allowedDir!);
      return real.startsWith(dir + sep) ? real : undefined;
    } catch {
      return undefined;
    }
  };
  try {
    if (name.startsWith('file-root:')) {
      const path = inside(name.slice('file-root:'.length));
      if (!path) return { ok: false, reason: 'not-authorized' };
      return { ok: true, secret: { name, validation_context: { trusted_ca: { inline_bytes: readFileSync(path) } } } };
    }
    const [certPath, keyPath] = name.slice('file-cert:'.length).split('~');
    const cert = certPath ? inside(certPath) : undefined;
    const key = keyPath ? inside(keyPath) : undefined;
    if (!cert || !key) return { ok: false, reason: 'not-authorized' };
    return { ok: true, secret: { name, tls_certificate: { certificate_chain: { inline_bytes: readFileSync(cert) }, private_key: { inline_bytes: readFileSync(key) } } } };
  } catch {
    return { ok: false, reason: 'unknown' };
  }
}
