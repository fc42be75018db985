// Selectors are `type:value` pairs (unix:uid:1000 → type "unix", value "uid:1000").
//
// Matching is exact, so a selector with stray whitespace (" unix:uid:0",
// "unix: uid:0", "unix:uid: 0") can never match what an attestor reports:
// such selectors are refused wherever they enter (CLI, server API), naming
// the selector. Limits: the type is at most MAX_SELECTOR_TYPE_BYTES (255)
// bytes, the value at most MAX_SELECTOR_VALUE_BYTES (1024) bytes, in UTF-8
// — room for any attestor's values (image digests, long label paths), and
// an entry cannot carry megabytes of selector text.
import { HeraldError } from './errors.ts';

export interface Selector {
  readonly type: string;
  readonly value: string;
}

export const MAX_SELECTOR_TYPE_BYTES = 255;
export const MAX_SELECTOR_VALUE_BYTES = 1024;

export function selectorKey(s: Selector): string {
  return `${s.type}:${s.value}`;
}

/** Parses `type:value`; the value may itself contain colons. */
export function parseSelector(text: string): Selector {
  const i = text.indexOf(':');
  if (i <= 0 || i === text.length - 1) {
    throw new HeraldError('ERR_INVALID_ARGUMENT_SELECTOR', `selector ${JSON.stringify(text)} must be of the form type:value`);
  }
  const s = { type: text.slice(0, i), value: text.slice(i + 1) };
  checkSelector(s);
  return s;
}

/** Why `s` can never be a useful selector, or undefined when it is fine. */
export function selectorProblem(s: Selector): string | undefined {
  const typeBytes = Buffer.byteLength(s.type);
  const valueBytes = Buffer.byteLength(s.value);
  if (typeBytes === 0) return 'the type is empty';
  if (valueBytes === 0) return 'the value is empty';
  if (/\s/.test(s.type)) return 'the type contains whitespace';
  if (/[\u0000-\u001f\u007f]/.test(s.type + s.value)) return 'it contains a control character';
  if (/^\s|\s$/.test(s.value)) return 'the value begins or ends with whitespace';
  if (/\s:|:\s/.test(s.value)) return 'the value has whitespace next to a ":"';
  if (typeBytes > MAX_SELECTOR_TYPE_BYTES) return `the type is ${typeBytes} bytes; at most ${MAX_SELECTOR_TYPE_BYTES} are allowed`;
  if (valueBytes > MAX_SELECTOR_VALUE_BYTES) return `the value is ${valueBytes} bytes; at most ${MAX_SELECTOR_VALUE_BYTES} are allowed`;
  return undefined;
}

/** Throws (INVALID_ARGUMENT) naming the selector when selectorProblem finds one. */
export function checkSelector(s: Selector): void {
  const problem = selectorProblem(s);
  if (problem) {
    const shown = selectorKey(s);
    const text = shown.length > 80 ? `${shown.slice(0, 77)}...` : shown;
    throw new HeraldError('ERR_INVALID_ARGUMENT_SELECTOR', `invalid selector ${JSON.stringify(text)}: ${problem} (it could never match a workload or node)`);
  }
}

/** True when every selector of `required` is among `have` (an entry matches a workload). */
export function isSubset(required: readonly Selector[], have: ReadonlySet<string>): boolean {
  for (const s of required) if (!have.has(selectorKey(s))) return false;
  return true;
}

export function selectorSet(selectors: readonly Selector[]): Set<string> {
  return new Set(selectors.map(selectorKey));
}
