// A trust domain name: an immutable value, parsed once at the edge.
import { isTrustDomainChar } from './charset.ts';
import { spiffeIdError } from './errors.ts';
import { validatePath } from './path.ts';

const SCHEME = 'spiffe://';
export const MAX_TRUST_DOMAIN_LENGTH = 255;

export class TrustDomain {
  readonly #name: string;

  private constructor(name: string) {
    this.#name = name;
  }

  /**
   * Parses a bare trust domain name (`example.org`). A full SPIFFE ID
   * (`spiffe://example.org/x`) is also accepted and its trust domain taken,
   * as go-spiffe's TrustDomainFromString does.
   */
  static fromString(input: string): TrustDomain {
    if (input.includes(':/')) {
      if (!input.startsWith(SCHEME)) throw spiffeIdError('wrongScheme');
      const rest = input.slice(SCHEME.length);
      const slash = rest.indexOf('/');
      if (slash >= 0) validatePath(rest.slice(slash));
      return TrustDomain.fromString(slash < 0 ? rest : rest.slice(0, slash));
    }
    if (input === '') throw spiffeIdError('missingTrustDomain');
    for (let i = 0; i < input.length; i++) {
      if (!isTrustDomainChar(input.charCodeAt(i))) throw spiffeIdError('badTrustDomainChar');
    }
    if (input.length > MAX_TRUST_DOMAIN_LENGTH) throw spiffeIdError('trustDomainTooLong');
    return new TrustDomain(input);
  }

  /** For constants and tests only: same as fromString. */
  static require(input: string): TrustDomain {
    return TrustDomain.fromString(input);
  }

  /** The bare name, e.g. `example.org`. */
  get name(): string {
    return this.#name;
  }

  /** The trust domain's own SPIFFE ID string, `spiffe://example.org`. */
  idString(): string {
    return SCHEME + this.#name;
  }

  toString(): string {
    return this.#name;
  }

  toJSON(): string {
    return this.#name;
  }

  equals(other: TrustDomain | undefined): boolean {
    return other !== undefined && other.#name === this.#name;
  }

  compare(other: TrustDomain): number {
    return this.#name < other.#name ? -1 : this.#name > other.#name ? 1 : 0;
  }
}
