// Node's on-disk compile cache, turned on by each binary's entry point before
// it loads the rest. With it, a start after the first skips type stripping
// and compilation: herald-agent starts with ~25 MB less RSS (the stripper's
// WebAssembly memory is never allocated) and sooner. Only node: builtins may
// be imported here: everything imported statically is parsed before this runs.
import { enableCompileCache } from 'node:module';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

/** Cache directory: $XDG_CACHE_HOME/herald/node-compile-cache, else ~/.cache/…, else under the temp dir. */
export function compileCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'herald', 'node-compile-cache');
  let home = env.HOME;
  try {
    home ||= homedir();
  } catch {
    // A user without a home directory (some service accounts).
  }
  return home ? join(home, '.cache', 'herald', 'node-compile-cache') : join(tmpdir(), 'herald-node-compile-cache');
}

/** Turns the cache on. Never fails: an unwritable directory just means no cache (Node reports it, it does not throw). */
export function useCompileCache(): void {
  // NODE_COMPILE_CACHE / NODE_DISABLE_COMPILE_CACHE keep their meaning.
  if (process.env.NODE_COMPILE_CACHE || process.env.NODE_DISABLE_COMPILE_CACHE) return;
  try {
    enableCompileCache(compileCacheDir());
  } catch {
    // Older Node without the API: run uncached.
  }
}
