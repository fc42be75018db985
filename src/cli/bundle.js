// Whether the bin/ launchers run the prebuilt bundle (.build/cli/main.mjs,
// made by scripts/build-bundle.ts from scripts/setup) or the sources. The
// bundle is used only while every file it was built from is unchanged (same
// mtime and size as recorded in its manifest), so a `git pull` or an edit
// without a rebuild runs the sources, never stale code.
// HERALD_BUNDLE=off always runs the sources; HERALD_BUNDLE=require fails
// rather than fall back (tests, `scripts/setup --check`).
// Plain JavaScript, as start.js: it runs before the compile cache is on.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const BUNDLE_DIR = join(import.meta.dirname, '../../.build/cli');
export const BUNDLE_FILE = 'main.mjs';
export const MANIFEST_FILE = 'manifest.json';

/**
 * The manifest of a bundle built from `inputs` (repository-relative paths).
 * @param {string} root
 * @param {readonly string[]} inputs
 * @returns {{ files: Record<string, [number, number]> }}
 */
export function fingerprint(root, inputs) {
  /** @type {Record<string, [number, number]>} */
  const files = {};
  for (const rel of inputs) {
    const st = statSync(join(root, rel));
    files[rel] = [st.mtimeMs, st.size];
  }
  return { files };
}

/**
 * @param {string} root the repository
 * @returns {'fresh' | 'missing' | 'stale'}
 */
export function bundleState(root) {
  /** @type {{ files: Record<string, [number, number]> }} */
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(join(BUNDLE_DIR, MANIFEST_FILE), 'utf8'));
    statSync(join(BUNDLE_DIR, BUNDLE_FILE));
  } catch {
    return 'missing';
  }
  for (const [rel, [mtimeMs, size]] of Object.entries(manifest.files)) {
    const st = statSync(join(root, rel), { throwIfNoEntry: false });
    if (!st || st.mtimeMs !== mtimeMs || st.size !== size) return 'stale';
  }
  return 'fresh';
}

/**
 * The module the launcher loads: the bundle when fresh, else the sources.
 * @param {NodeJS.ProcessEnv} env
 * @returns {string} a specifier for import()
 */
export function cliEntry(env) {
  const sources = './main.ts';
  if (env.HERALD_BUNDLE === 'off') return sources;
  const state = bundleState(join(import.meta.dirname, '../..'));
  if (state === 'fresh') return join(BUNDLE_DIR, BUNDLE_FILE);
  if (env.HERALD_BUNDLE === 'require') throw new Error(`the CLI bundle is ${state} (HERALD_BUNDLE=require; run scripts/setup)`);
  return sources;
}
