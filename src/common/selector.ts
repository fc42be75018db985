// Selectors are `type:value` pairs (unix:uid:1000 → type "unix", value "uid:1000").
import { HeraldError } from './errors.ts';

export interface Selector {
  readonly type: string;
  readonly value: string;
}

export function selectorKey(s: Selector): string {
  return `${s.type}:${s.value}`;
}

/** Parses `type:value`; the value may itself contain colons. */
export function parseSelector(text: string): Selector {
  const i = text.indexOf(':');
  if (i <= 0 || i === text.length - 1) {
    throw new HeraldError('ERR_INVALID_ARGUMENT_SELECTOR', `selector ${JSON.stringify(text)} must be of the form type:value`);
  }
  return { type: text.slice(0, i), value: text.slice(i + 1) };
}

/** True when every selector of `required` is among `have` (an entry matches a workload). */
export function isSubset(required: readonly Selector[], have: ReadonlySet<string>): boolean {
  for (const s of required) if (!have.has(selectorKey(s))) return false;
  return true;
}

export function selectorSet(selectors: readonly Selector[]): Set<string> {
  return new Set(selectors.map(selectorKey));
}
