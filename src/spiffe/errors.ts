// Error families of the SPIFFE primitives. Messages carry the package prefix
// and the rule that was broken, in the wording of the standard / go-spiffe.
import { HeraldError, type ErrorCode } from '../common/errors.ts';

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
const spiffeIdCodes = {
  empty: 'ERR_SPIFFE_ID_EMPTY',
  missingTrustDomain: 'ERR_SPIFFE_ID_MISSING_TRUST_DOMAIN',
  wrongScheme: 'ERR_SPIFFE_ID_WRONG_SCHEME',
  badTrustDomainChar: 'ERR_SPIFFE_ID_BAD_TRUST_DOMAIN_CHAR',
  badPathSegmentChar: 'ERR_SPIFFE_ID_BAD_PATH_SEGMENT_CHAR',
  dotSegment: 'ERR_SPIFFE_ID_DOT_SEGMENT',
  noLeadingSlash: 'ERR_SPIFFE_ID_NO_LEADING_SLASH',
  emptySegment: 'ERR_SPIFFE_ID_EMPTY_SEGMENT',
  trailingSlash: 'ERR_SPIFFE_ID_TRAILING_SLASH',
  tooLong: 'ERR_SPIFFE_ID_TOO_LONG',
  trustDomainTooLong: 'ERR_SPIFFE_ID_TRUST_DOMAIN_TOO_LONG',
} as const satisfies Record<SpiffeIdRule, ErrorCode>;

export function spiffeIdError(rule: SpiffeIdRule, prefix = 'spiffeid'): SpiffeIdError {
  return new SpiffeIdError(spiffeIdCodes[rule], `${prefix}: ${spiffeIdMessages[rule]}`);
}
