import { describe, expect, it } from 'vitest';
import { compileCacheDir } from '../../src/cli/compile-cache.js';

describe('compileCacheDir', () => {
  it.each([
    [{ XDG_CACHE_HOME: '/x', HOME: '/h' }, '/x/herald/node-compile-cache'],
    [{ HOME: '/h' }, '/h/.cache/herald/node-compile-cache'],
  ])('%o → %s', (env, want) => {
    expect(compileCacheDir(env)).toBe(want);
  });
});
