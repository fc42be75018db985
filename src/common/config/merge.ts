// Flags > file > defaults (SPIRE's mergeInput): turns the flags the user
// actually gave into overrides for parseConfig/loadConfigFile. Defaults of
// flags never override the file; only explicitly set flags do.
import type { ConfigOverride } from './load.ts';

/** Flag name (no dash) → config key path, e.g. `{ trustDomain: 'server.trust_domain' }`. */
export type FlagKeyMap = Readonly<Record<string, string | readonly string[]>>;

export function flagOverrides(
  values: Readonly<Record<string, unknown>>,
  set: ReadonlySet<string>,
  mapping: FlagKeyMap,
): ConfigOverride[] {
  const out: ConfigOverride[] = [];
  for (const [flag, path] of Object.entries(mapping)) {
    if (!set.has(flag)) continue;
    out.push({ path, value: values[flag], flag });
  }
  return out;
}
