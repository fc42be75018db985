// Value checks and schema pieces both config files (server and agent) use:
// SPIFFE names, paths, SPIRE keys Herald refuses, ports.
import { errorMessage } from '../errors.ts';
import { SpiffeId } from '../../spiffe/id.ts';
import { TrustDomain } from '../../spiffe/trust-domain.ts';
import { s } from './index.ts';

export function trustDomainProblem(v: string): string | undefined {
  try {
    TrustDomain.fromString(v);
    return undefined;
  } catch (err) {
    return `invalid trust domain ${JSON.stringify(v)}: ${errorMessage(err)}`;
  }
}

export function spiffeIdProblem(v: string): string | undefined {
  try {
    SpiffeId.fromString(v);
    return undefined;
  } catch (err) {
    return `invalid SPIFFE ID ${JSON.stringify(v)}: ${errorMessage(err)}`;
  }
}

/** Applies `check` to each list item; the first problem names its index. */
export function eachItem(check: (v: string) => string | undefined) {
  return (items: readonly string[]): string | undefined => {
    for (const [i, v] of items.entries()) {
      const p = check(v);
      if (p !== undefined) return `item ${i}: ${p}`;
    }
    return undefined;
  };
}

export const urlPath = (v: string): string | undefined => (v.startsWith('/') ? undefined : 'must start with "/"');
export const nonEmpty = (v: string): string | undefined => (v === '' ? 'must not be empty' : undefined);

/** A SPIRE boolean Herald only accepts when off. */
export function offOnly(reason: string) {
  return s.bool({
    description: `Not supported by Herald (${reason}); only false is accepted`,
    default: false,
    validate: (v) => (v ? `not supported by Herald: ${reason}` : undefined),
  });
}

/** A SPIRE plugin Herald does not have yet: its known keys and an empty plugin_data are rejected with the reason. */
export function notYetPlugin(name: string, spireKeys: readonly string[]) {
  const reason = `the ${name} plugin is not implemented in Herald yet`;
  return s.section(Object.fromEntries(spireKeys.map((k) => [k, s.unsupported(reason)])), {
    description: `Not supported by Herald yet: ${reason}`,
    validate: () => `plugin not supported by Herald yet: ${reason}`,
  });
}

export const port = (description: string, def: number) => s.int({ description, default: def, min: 1, max: 65535 });
