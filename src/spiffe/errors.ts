// Error families of the SPIFFE primitives. Messages carry the package prefix
// and the rule that was broken, in the wording of the standard / go-spiffe.
import { HeraldError } from '../common/errors.ts';

export class SpiffeIdError extends HeraldError {}
export class X509SvidError extends HeraldError {}
export class JwtSvidError extends HeraldError {}
export class BundleError extends HeraldError {}

/** SPIFFE ID / trust domain parse errors: the exact go-spiffe wording. */
export const spiffeIdMessages = {
  empty: 'cannot be empty',
  missingTrustDomain: 'trust domain is missing',
  wrongScheme: 'scheme is missing or invalid',
  badTrustDomainChar: 'trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores',
  badPathSegmentChar: 'path segment characters are limited to letters, numbers, dots, dashes, and underscores',
  dotSegment: 'path cannot contain dot segments',
  noLeadingSlash: 'path must have a leading slash',
  emptySegment: 'path cannot contain empty segments',
  trailingSlash: 'path cannot have a trailing slash',
  tooLong: 'SPIFFE ID cannot be longer than 2048 bytes',
  trustDomainTooLong: 'trust domain cannot be longer than 255 bytes',
} as const;

export type SpiffeIdRule = keyof typeof spiffeIdMessages;

/** Stable error code per broken rule, e.g. ERR_SPIFFE_ID_DOT_SEGMENT. */
export function spiffeIdError(rule: SpiffeIdRule, prefix = 'spiffeid'): SpiffeIdError {
  const code = 'ERR_SPIFFE_ID_' + rule.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
  return new SpiffeIdError(code, `${prefix}: ${spiffeIdMessages[rule]}`);
}
