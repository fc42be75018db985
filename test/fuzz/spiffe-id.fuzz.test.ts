// SPIFFE IDs and trust domain names from untrusted text (URI SANs, JWT
// `sub`, API requests): only SpiffeIdError escapes, an accepted ID prints
// back to exactly its input, and acceptance agrees with the standard's
// grammar written independently as a regular expression.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SpiffeIdError } from '../../src/spiffe/errors.ts';
import { SpiffeId } from '../../src/spiffe/id.ts';
import { TrustDomain } from '../../src/spiffe/trust-domain.ts';
import { fuzzParams, mutatedText, typedOutcome } from './fuzz-params.ts';

// The SPIFFE ID standard §2: lowercase trust domain of [a-z0-9._-], path segments of [a-zA-Z0-9._-], no `.`/`..` segments.
const GRAMMAR = /^spiffe:\/\/([a-z0-9._-]+)((?:\/[A-Za-z0-9._-]+)*)$/;
function grammarAccepts(s: string): boolean {
  const m = GRAMMAR.exec(s);
  if (!m) return false;
  if (m[2]!.split('/').some((seg) => seg === '.' || seg === '..')) return false;
  return s.length <= 2048 && m[1]!.length <= 255;
}

const SEEDS = ['spiffe://example.org/web', 'spiffe://example.org', 'spiffe://td-1.example_org/ns/default/sa/x', 'spiffe://a/b/c/d', 'example.org'];
const SPECIALS = ['/', '//', '/.', '/..', '.', ':', 'spiffe://', 'SPIFFE://', '%2F', '?', '#', '@', ' ', '\u0000', 'A', 'é', '\ud800', 'x'.repeat(300)];

const idLike = fc.oneof(
  mutatedText(SEEDS, SPECIALS),
  fc.string({ maxLength: 64 }),
  fc.string({ unit: 'binary', maxLength: 64 }),
  // Long IDs around the 2048-byte and 255-byte limits.
  fc.tuple(fc.integer({ min: 240, max: 270 }), fc.integer({ min: 1700, max: 2100 })).map(([td, path]) => `spiffe://${'a'.repeat(td)}/${'p'.repeat(path)}`),
);

describe('fuzz: SPIFFE ID and trust domain strings', () => {
  it('SpiffeId.fromString throws only SpiffeIdError, round-trips, and agrees with the grammar', () => {
    fc.assert(
      fc.property(idLike, (s) => {
        const out = typedOutcome('SpiffeId.fromString', () => SpiffeId.fromString(s));
        if (out.ok) expect(out.value.toString()).toBe(s);
        else expect(out.error).toBeInstanceOf(SpiffeIdError);
        expect(out.ok).toBe(grammarAccepts(s));
      }),
      fuzzParams(2000),
    );
  });

  it('TrustDomain.fromString throws only SpiffeIdError; a bare name round-trips, an ID yields its trust domain', () => {
    fc.assert(
      fc.property(idLike, (s) => {
        const out = typedOutcome('TrustDomain.fromString', () => TrustDomain.fromString(s));
        if (!out.ok) return;
        if (s.includes(':/')) expect(s.startsWith(`spiffe://${out.value.name}`)).toBe(true);
        else expect(out.value.name).toBe(s);
        // Its own ID always parses back to it.
        expect(SpiffeId.fromString(out.value.idString()).trustDomain.equals(out.value)).toBe(true);
      }),
      fuzzParams(2000),
    );
  });

  it('SpiffeId.fromPath and fromSegments throw only SpiffeIdError and build IDs that parse back', () => {
    const td = TrustDomain.fromString('example.org');
    fc.assert(
      fc.property(fc.oneof(mutatedText(['/a/b', '/x'], SPECIALS), fc.string({ maxLength: 32 })), fc.array(fc.string({ maxLength: 8 }), { maxLength: 4 }), (path, segments) => {
        for (const [what, build] of [['fromPath', () => SpiffeId.fromPath(td, path)], ['fromSegments', () => SpiffeId.fromSegments(td, ...segments)]] as const) {
          const out = typedOutcome(`SpiffeId.${what}`, build);
          if (out.ok) expect(SpiffeId.fromString(out.value.toString()).toString()).toBe(out.value.toString());
        }
      }),
      fuzzParams(2000),
    );
  });
});
