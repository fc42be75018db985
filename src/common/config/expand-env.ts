// SPIRE's -expandEnv: `$VAR` and `${VAR}` in the raw config text are replaced
// with values from the environment the caller passes in (never read here).
// As Go's os.ExpandEnv, an unset variable expands to the empty string.

export type Env = Readonly<Record<string, string | undefined>>;

export function expandEnv(text: string, env: Env): string {
  return text.replace(/\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_m, braced: string | undefined, bare: string | undefined) => {
    const name = braced ?? bare ?? '';
    return Object.hasOwn(env, name) ? (env[name] ?? '') : '';
  });
}
