// Whether the bin/ launchers run the prebuilt bundle (.build/cli/main.mjs,
// made by scripts/build-bundle.ts from scripts/setup) or the sources. The
// bundle is used only while every file it was built from is unchanged (same
// mtime and size as recorded in its manifest), so a `git pull` or an edit
// without a rebuild runs the sources, never stale code.
// HERALD_BUNDLE=off always runs the sources; HERALD_BUNDLE=require fails
// rather than fall back (tests, `scripts/setup --check`); HERALD_BUNDLE_DIR
// names another bundle (`scripts/build-bundle.ts --out DIR`, tests).
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
 * @param {string} dir the bundle's directory
 * @returns {'fresh' | 'missing' | 'stale'}
 */
export function bundleState(root, dir = BUNDLE_DIR) {
  /** @type {{ files: Record<string, [number, number]> }} */
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8'));
    statSync(join(dir, BUNDLE_FILE));
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
  const dir = env.HERALD_BUNDLE_DIR || BUNDLE_DIR;
  const state = bundleState(join(import.meta.dirname, '../..'), dir);
  if (state === 'fresh') return join(dir, BUNDLE_FILE);
  if (env.HERALD_BUNDLE === 'require') throw new Error(`the CLI bundle ${dir} is ${state} (HERALD_BUNDLE=require; run scripts/setup)`);
  return sources;
}
