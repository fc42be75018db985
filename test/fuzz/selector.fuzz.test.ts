// Selectors from the CLI, the server API and attestors (`type:value`): only
// a typed error escapes, an accepted selector prints back to its input, and
// acceptance follows the documented rules (no empty part, no whitespace in
// the type, no control character, no whitespace at the value's ends or next
// to a colon, size limits).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_SELECTOR_TYPE_BYTES, MAX_SELECTOR_VALUE_BYTES, parseSelector, selectorKey } from '../../src/common/selector.ts';
import { fuzzParams, mutatedText, typedOutcome } from './fuzz-params.ts';

/** The rules of src/common/selector.ts, restated independently. */
function ruleAccepts(text: string): boolean {
  const i = text.indexOf(':');
  if (i <= 0 || i === text.length - 1) return false;
  const type = text.slice(0, i);
  const value = text.slice(i + 1);
  if (/\s/.test(type) || /[\u0000-\u001f\u007f]/.test(text)) return false;
  if (/^\s|\s$|\s:|:\s/.test(value)) return false;
  return Buffer.byteLength(type) <= MAX_SELECTOR_TYPE_BYTES && Buffer.byteLength(value) <= MAX_SELECTOR_VALUE_BYTES;
}

const SEEDS = ['unix:uid:1000', 'k8s:ns:default', 'docker:label:com.example:web', 'spiffe_id:spiffe://example.org/x', 'unix:sha256:' + 'a'.repeat(64)];
const SPECIALS = [':', '::', ' ', '\t', '\u00a0', '\u2028', '\n', '\u0000', '\u007f', 'é', '\ud83d\ude00', 'x'.repeat(300), 'y'.repeat(1100)];

describe('fuzz: selectors', () => {
  it('parseSelector throws only typed errors, round-trips, and agrees with the documented rules', () => {
    fc.assert(
      fc.property(fc.oneof(mutatedText(SEEDS, SPECIALS), fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 })), (text) => {
        const out = typedOutcome('parseSelector', () => parseSelector(text));
        if (out.ok) expect(selectorKey(out.value)).toBe(text);
        else expect(out.error.code).toBe('ERR_INVALID_ARGUMENT_SELECTOR');
        expect(out.ok).toBe(ruleAccepts(text));
      }),
      fuzzParams(3000),
    );
  });
});
