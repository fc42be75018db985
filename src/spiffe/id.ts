// SPIFFE ID: an immutable value (go-spiffe spiffeid/id.go). Parse once at
// the edge with fromString/fromURI/fromPath/fromSegments and pass the value.
import { isTrustDomainChar } from './charset.ts';
import { spiffeIdError } from './errors.ts';
import { validatePath, validatePathSegment } from './path.ts';
import { TrustDomain } from './trust-domain.ts';

const SCHEME = 'spiffe://';
/** The standard says implementations must accept IDs up to 2048 bytes; Herald rejects longer ones. */
export const MAX_SPIFFE_ID_LENGTH = 2048;

export class SpiffeId {
  readonly #td: TrustDomain;
  readonly #path: string;
  readonly #str: string;

  private constructor(td: TrustDomain, path: string) {
    this.#td = td;
    this.#path = path;
    this.#str = SCHEME + td.name + path;
  }

  /** Strict parse, mirroring go-spiffe's FromString (no normalisation). */
  static fromString(input: string): SpiffeId {
    if (input === '') throw spiffeIdError('empty');
    if (!input.startsWith(SCHEME)) throw spiffeIdError('wrongScheme');
    let i = SCHEME.length;
    for (; i < input.length; i++) {
      const c = input.charCodeAt(i);
      if (c === 0x2f) break;
      if (!isTrustDomainChar(c)) throw spiffeIdError('badTrustDomainChar');
    }
    if (i === SCHEME.length) throw spiffeIdError('missingTrustDomain');
    const path = input.slice(i);
    validatePath(path);
    if (input.length > MAX_SPIFFE_ID_LENGTH) throw spiffeIdError('tooLong');
    return new SpiffeId(TrustDomain.fromString(input.slice(SCHEME.length, i)), path);
  }

  /** From a WHATWG URL or URI string (e.g. a certificate's URI SAN). */
  static fromURI(uri: URL | string): SpiffeId {
    return SpiffeId.fromString(typeof uri === 'string' ? uri : uri.href);
  }

  /** Trust domain + an already-formed path (`/a/b`). */
  static fromPath(td: TrustDomain, path: string): SpiffeId {
    validatePath(path);
    const id = new SpiffeId(td, path);
    if (id.#str.length > MAX_SPIFFE_ID_LENGTH) throw spiffeIdError('tooLong');
    return id;
  }

  /** Trust domain + path segments, each validated (no `/` inside). */
  static fromSegments(td: TrustDomain, ...segments: string[]): SpiffeId {
    for (const s of segments) validatePathSegment(s);
    return SpiffeId.fromPath(td, segments.map((s) => '/' + s).join(''));
  }

  /** For constants and tests only: throws like fromString. */
  static require(input: string): SpiffeId {
    return SpiffeId.fromString(input);
  }

  get trustDomain(): TrustDomain {
    return this.#td;
  }

  /** The path, `''` for a trust domain's own ID. */
  get path(): string {
    return this.#path;
  }

  memberOf(td: TrustDomain): boolean {
    return this.#td.equals(td);
  }

  /** True for `spiffe://td` (no path): the trust domain's own ID. */
  isTrustDomainId(): boolean {
    return this.#path === '';
  }

  appendPath(path: string): SpiffeId {
    return SpiffeId.fromPath(this.#td, this.#path + path);
  }

  appendSegments(...segments: string[]): SpiffeId {
    for (const s of segments) validatePathSegment(s);
    return this.appendPath(segments.map((s) => '/' + s).join(''));
  }

  replacePath(path: string): SpiffeId {
    return SpiffeId.fromPath(this.#td, path);
  }

  equals(other: SpiffeId | undefined): boolean {
    return other !== undefined && other.#str === this.#str;
  }

  /** True when this ID's path starts with the given path at a segment boundary. */
  hasPathPrefix(prefix: string): boolean {
    if (prefix === '' || prefix === '/') return true;
    const p = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
    return this.#path === p || this.#path.startsWith(p + '/');
  }

  toString(): string {
    return this.#str;
  }

  toJSON(): string {
    return this.#str;
  }
}

/** The trust domain's own ID (`spiffe://td`). */
export function trustDomainId(td: TrustDomain): SpiffeId {
  return SpiffeId.fromPath(td, '');
}
