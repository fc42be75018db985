// Node's on-disk compile cache for the binaries. With it, every start after
// the first skips type stripping and compilation: Node's type stripper (a
// WebAssembly module, ~18 MB of RSS kept for the life of the process) is
// never loaded, and starts are quicker.
// Plain JavaScript on purpose, like start.js: a .ts module here would load
// the stripper before the cache could spare it.
import { enableCompileCache } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Herald's cache directory: $XDG_CACHE_HOME/herald, else ~/.cache/herald;
 * none for a user without a home directory. Never a shared directory such
 * as /tmp: another local user could plant compiled code there for us to run.
 * @param {NodeJS.ProcessEnv} env
 * @returns {string | undefined}
 */
export function heraldCacheDir(env) {
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'herald');
  let home = env.HOME;
  try {
    home ||= homedir();
  } catch {
    // A user without a home directory (some service accounts).
  }
  return home ? join(home, '.cache', 'herald') : undefined;
}

/**
 * $XDG_CACHE_HOME/herald/node-compile-cache, else ~/.cache/…; none without a home.
 * @param {NodeJS.ProcessEnv} env
 * @returns {string | undefined}
 */
export function compileCacheDir(env) {
  const dir = heraldCacheDir(env);
  return dir === undefined ? undefined : join(dir, 'node-compile-cache');
}

/**
 * Turns the cache on. Never fails: an unwritable directory only means no
 * cache (Node reports that in its return value, it does not throw).
 * NODE_COMPILE_CACHE and NODE_DISABLE_COMPILE_CACHE keep their meaning.
 * @param {NodeJS.ProcessEnv} env
 */
export function useCompileCache(env) {
  if (env.NODE_COMPILE_CACHE || env.NODE_DISABLE_COMPILE_CACHE) return;
  const dir = compileCacheDir(env);
  if (dir !== undefined) enableCompileCache(dir);
}
