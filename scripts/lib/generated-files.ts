// Writing generated files, or checking (--check) that the committed ones are
// current: what the scripts/gen-*.ts generators share.
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');

/** Files under `dir` (relative to the repository), as repository-relative paths, sorted; none when it does not exist. */
export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(join(root, dir), { recursive: true, withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(root.length + 1))
    .sort();
}

/**
 * Writes `files` (repository-relative path → content), or with `--check` in
 * `argv` reports each one that differs and returns 1. With `dir`, the files
 * own that folder: it is emptied before writing, and a file in it that
 * `files` does not hold is stale too.
 */
export async function writeOrCheck(files: Readonly<Record<string, string>>, argv: readonly string[], script: string, dir?: string): Promise<number> {
  if (argv.includes('--check')) {
    const paths = new Set([...Object.keys(files), ...(dir === undefined ? [] : await filesUnder(dir))]);
    let stale = 0;
    for (const rel of paths) {
      const current = await readFile(join(root, rel), 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw err;
      });
      if (current !== files[rel]) {
        process.stderr.write(`${rel} is out of date; run: npx node ${script}\n`);
        stale++;
      }
    }
    return stale === 0 ? 0 : 1;
  }
  if (dir !== undefined) await rm(join(root, dir), { recursive: true, force: true });
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, rel)), { recursive: true });
    await writeFile(join(root, rel), content);
  }
  process.stdout.write(dir === undefined ? Object.keys(files).map((rel) => `wrote ${rel}\n`).join('') : `wrote ${Object.keys(files).length} files under ${dir}\n`);
  return 0;
}
