// Template strings of the `template` composer: text with `{{variable}}`
// placeholders, compiled once when the config loads (an unknown variable is
// a config error naming it) and expanded per credential. A variable without
// a value for a credential (no hint, no such selector, a path segment beyond
// the last) makes the whole string empty: the attribute, DNS name or claim
// that used it is left out rather than issued half-filled.
import type { Selector } from '../../../../common/selector.ts';
import type { SpiffeId } from '../../../../spiffe/id.ts';
import { uniqueIdFor } from '../../../../spiffe/x509-template.ts';

/** What a template can read: the SPIFFE ID and, for entry-based SVIDs, the registration entry. */
export interface TemplateInput {
  readonly id: SpiffeId;
  readonly entry?: { readonly id: string; readonly hint: string; readonly selectors: readonly Selector[] } | undefined;
}

type Lookup = (input: TemplateInput) => string | undefined;

const segments = (id: SpiffeId): string[] => id.path.split('/').slice(1);

const FIXED: Readonly<Record<string, Lookup>> = {
  spiffe_id: (i) => i.id.toString(),
  trust_domain: (i) => i.id.trustDomain.name,
  path: (i) => i.id.path,
  'path.last': (i) => segments(i.id).at(-1),
  unique_id: (i) => uniqueIdFor(i.id),
  hint: (i) => i.entry?.hint || undefined,
  entry_id: (i) => i.entry?.id || undefined,
};

/** The variables, for error messages and docs. */
export const VARIABLES = [...Object.keys(FIXED), 'path.<n>', 'selector.<type>', 'selector.<type>:<key>'] as const;

function lookupFor(name: string): Lookup | undefined {
  if (Object.hasOwn(FIXED, name)) return FIXED[name];
  const seg = /^path\.(0|[1-9][0-9]?)$/.exec(name);
  if (seg) {
    const n = Number(seg[1]);
    return (i) => segments(i.id)[n];
  }
  // selector.unix:uid → "1000" from unix:uid:1000; selector.k8s → the first k8s selector's whole value.
  const sel = /^selector\.([A-Za-z0-9_-]+)(?::(.+))?$/.exec(name);
  if (sel) {
    const [, type, key] = sel;
    return (i) => {
      for (const s of i.entry?.selectors ?? []) {
        if (s.type !== type) continue;
        if (key === undefined) return s.value;
        if (s.value.startsWith(`${key}:`)) return s.value.slice(key.length + 1);
      }
      return undefined;
    };
  }
  return undefined;
}

export type CompiledTemplate = (input: TemplateInput) => string | undefined;

/** Compiles `text`; throws TypeError naming an unknown variable or an unclosed placeholder. */
export function compileTemplate(text: string): CompiledTemplate {
  const parts: (string | Lookup)[] = [];
  let rest = text;
  for (;;) {
    const open = rest.indexOf('{{');
    const close = rest.indexOf('}}');
    if (open < 0) {
      if (close >= 0) throw new TypeError(`"}}" without "{{" in ${JSON.stringify(text)}`);
      if (rest !== '') parts.push(rest);
      break;
    }
    if (close >= 0 && close < open) throw new TypeError(`"}}" without "{{" in ${JSON.stringify(text)}`);
    if (open > 0) parts.push(rest.slice(0, open));
    const end = rest.indexOf('}}', open + 2);
    if (end < 0) throw new TypeError(`unclosed "{{" in ${JSON.stringify(text)}`);
    const name = rest.slice(open + 2, end).trim();
    const lookup = lookupFor(name);
    if (lookup === undefined) throw new TypeError(`unknown variable {{${name}}} (known: ${VARIABLES.join(', ')})`);
    parts.push(lookup);
    rest = rest.slice(end + 2);
  }
  return (input) => {
    let out = '';
    for (const p of parts) {
      if (typeof p === 'string') {
        out += p;
        continue;
      }
      const v = p(input);
      if (v === undefined || v === '') return undefined;
      out += v;
    }
    return out;
  };
}

/** A config validator's form of a compiler: the problem it throws, or undefined. */
export function problemOf(compile: () => unknown): string | undefined {
  try {
    compile();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
