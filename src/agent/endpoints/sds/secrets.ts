// Envoy Secret resources built from an agent snapshot
// (envoy.extensions.transport_sockets.tls.v3.Secret, proto-loader's
// keepCase object shape). PEM in inline_bytes, as SPIRE sends.
import type { X509Certificate } from 'node:crypto';
import type { SpiffeBundle } from '../../../spiffe/bundle/spiffe-bundle.ts';
import { splitDer } from '../../../spiffe/bundle/der.ts';
import { pemBlock } from '../../../spiffe/pem.ts';
import type { CachedSvid } from '../../cache/cached-svid.ts';

export const SECRET_TYPE_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';
export const SPIFFE_VALIDATOR_NAME = 'envoy.tls.cert_validator.spiffe';
export const SPIFFE_VALIDATOR_TYPE = 'envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig';

export interface AnyMessage {
  type_url: string;
  value: Buffer;
}

/** Encodes a message as google.protobuf.Any (provided by the proto layer). */
export type AnyEncoder = (typeName: string, value: object) => AnyMessage;

/** The SAN matchers Envoy checks on top of the trust bundle (issue 10 #5). */
export interface SanMatcher {
  exact?: string;
  prefix?: string;
}

export type SecretMessage =
  | { name: string; tls_certificate: { certificate_chain: { inline_bytes: Buffer }; private_key: { inline_bytes: Buffer } } }
  | { name: string; validation_context: ValidationContext };

interface ValidationContext {
  trusted_ca?: { inline_bytes: Buffer };
  custom_validator_config?: { name: string; typed_config: AnyMessage };
  match_typed_subject_alt_names?: { san_type: 'URI'; matcher: SanMatcher }[];
}

export function pemOf(certs: readonly X509Certificate[]): string {
  return certs.map((c) => c.toString().trimEnd() + '\n').join('');
}

export function tlsCertificateSecret(name: string, svid: CachedSvid): SecretMessage {
  return {
    name,
    tls_certificate: {
      certificate_chain: { inline_bytes: Buffer.from(splitDer(svid.certificates).map((der) => pemBlock('CERTIFICATE', der)).join('')) },
      private_key: { inline_bytes: Buffer.from(pemBlock('PRIVATE KEY', svid.privateKey)) },
    },
  };
}

export interface ValidationOptions {
  /** SPIFFE certificate validator (default) or a plain trusted_ca list. */
  validator: 'spiffe' | 'trusted_ca';
  /** Peers allowed to connect, added as URI SAN matchers (opt-in). */
  sanMatchers?: readonly SanMatcher[];
}

/**
 * A validation context for one or more trust domains. With the SPIFFE
 * validator each domain keeps its own roots, so one domain's CA cannot vouch
 * for another's IDs; trusted_ca pools them (only safe for one domain).
 */
export function validationContextSecret(name: string, bundles: readonly SpiffeBundle[], opts: ValidationOptions, encodeAny: AnyEncoder): SecretMessage {
  const ctx: ValidationContext = {};
  if (opts.validator === 'spiffe') {
    const sorted = [...bundles].sort((a, b) => (a.trustDomain.name < b.trustDomain.name ? -1 : 1));
    ctx.custom_validator_config = {
      name: SPIFFE_VALIDATOR_NAME,
      typed_config: encodeAny(SPIFFE_VALIDATOR_TYPE, {
        trust_domains: sorted.map((b) => ({
          name: b.trustDomain.name,
          trust_bundle: { inline_bytes: Buffer.from(pemOf(b.x509Authorities)) },
        })),
      }),
    };
  } else {
    ctx.trusted_ca = { inline_bytes: Buffer.from(bundles.map((b) => pemOf(b.x509Authorities)).join('')) };
  }
  if (opts.sanMatchers && opts.sanMatchers.length > 0) {
    ctx.match_typed_subject_alt_names = opts.sanMatchers.map((m) => ({ san_type: 'URI', matcher: { ...m } }));
  }
  return { name, validation_context: ctx };
}
