// Builds the prebuilt CLI bundle the bin/ launchers run: src/cli/main.ts and
// everything it reaches (own sources and npm packages) in .build/cli/main.mjs
// and chunks split at the dynamic imports (a `healthcheck` loads ~25 files, not
// ~200 modules, and none of the daemon's), plus .build/cli/manifest.json
// naming the sources it was built from. See bench/startup
// (`npm run bench:startup`) for what it saves.
//
//   node scripts/build-bundle.ts           build (scripts/setup runs it)
//   node scripts/build-bundle.ts --check   exit 1 unless the bundle is fresh and runs
//
// The launchers fall back to the sources whenever the bundle is missing or
// stale (src/cli/bundle.js), so a `git pull` without setup never runs old code.
import { execFileSync } from 'node:child_process';
import { builtinModules } from 'node:module';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { realpathSync } from 'node:fs';
import { BUNDLE_DIR, BUNDLE_FILE, MANIFEST_FILE, bundleState, fingerprint } from '../src/cli/bundle.js';

const ROOT = join(import.meta.dirname, '..');
const NODE_MODULES = realpathSync(join(ROOT, 'node_modules'));

// Loaded at run time from node_modules, never bundled: a native addon, and
// WebAssembly whose glue uses direct eval and finds its .wasm by path.
const EXTERNAL_PACKAGES = ['@herald/peercred', 'web-tree-sitter'];
const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** Repository-relative path of a bundled module (node_modules may be a symlink: worktrees). */
function repoPath(id: string): string {
  return id.startsWith(NODE_MODULES + '/') ? join('node_modules', id.slice(NODE_MODULES.length + 1)) : relative(ROOT, id);
}

/**
 * Each module keeps its own import.meta: its code finds files next to it
 * (protos, the console's static files, the signing worker, Envoy templates)
 * and resolves packages from where it lives. The banner computes the
 * repository root from the bundle's own location, so the checkout can move.
 */
const BANNER = [
  `import { pathToFileURL as __heraldToUrl } from 'node:url';`,
  `const __heraldRoot = new URL('../../', import.meta.url).pathname;`,
  `const __heraldPath = (p) => __heraldRoot + p;`,
  `const __heraldUrl = (p) => __heraldToUrl(__heraldRoot + p).href;`,
].join('\n');

function importMetaPerModule(code: string, id: string): string | null {
  if (id.startsWith('\0') || !/import\.meta\.(url|dirname|filename)/.test(code)) return null;
  const rel = repoPath(id);
  if (rel.startsWith('..')) throw new Error(`build-bundle: ${id} is outside the repository`);
  return code
    .replaceAll('import.meta.dirname', `__heraldPath(${JSON.stringify(dirname(rel))})`)
    .replaceAll('import.meta.filename', `__heraldPath(${JSON.stringify(rel)})`)
    .replaceAll('import.meta.url', `__heraldUrl(${JSON.stringify(rel)})`);
}

/**
 * The bundler hoists every import of a Node built-in to the top of the file,
 * even those of modules only loaded on demand, and an ES import of a built-in
 * evaluates all its exports: `import { request } from 'node:http'` loads
 * undici (~15 ms) for its WebSocket getter. process.getBuiltinModule reads
 * only the names used.
 */
function builtinsWithoutEsmFacades(code: string): string {
  return code.replace(/^import (.+?) from "([^"]+)";$/gm, (line, clause: string, spec: string) => {
    if (!BUILTINS.has(spec)) return line;
    const mod = `process.getBuiltinModule(${JSON.stringify(spec)})`;
    const m = /^(?:([\w$]+)\s*,\s*)?(?:\{([^}]*)\}|\*\s+as\s+([\w$]+)|([\w$]+))$/.exec(clause.trim());
    if (!m) throw new Error(`build-bundle: unexpected import of a built-in: ${line}`);
    const [, def, named, ns, onlyDef] = m;
    const whole = def ?? ns ?? onlyDef;
    const out: string[] = [];
    if (whole) out.push(`const ${whole} = ${mod};`);
    if (named !== undefined) {
      const names = named.split(',').map((s) => s.trim()).filter(Boolean).map((s) => s.replace(/^([\w$]+)\s+as\s+([\w$]+)$/, '$1: $2'));
      out.push(`const { ${names.join(', ')} } = ${whole ?? mod};`);
    }
    return out.join(' ');
  });
}

export async function buildBundle(): Promise<{ file: string; chunks: number; bytes: number; inputs: number; ms: number }> {
  const t0 = performance.now();
  const { build } = await import('rolldown');
  const tmp = `${BUNDLE_DIR}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const result = await build({
    input: join(ROOT, 'src/cli/main.ts'),
    platform: 'node',
    external: [...EXTERNAL_PACKAGES, ...BUILTINS],
    logLevel: 'silent',
    plugins: [
      { name: 'herald-import-meta', transform: (code, id) => importMetaPerModule(code, id) },
      { name: 'herald-builtins', renderChunk: (code) => builtinsWithoutEsmFacades(code) },
    ],
    output: { dir: tmp, format: 'esm', entryFileNames: 'main.mjs', chunkFileNames: '[name]-[hash].mjs', banner: BANNER },
  });
  const chunks = result.output.filter((o) => o.type === 'chunk');
  if (chunks.length === 0) throw new Error('build-bundle: the bundler produced no code');
  const modules = [...new Set(chunks.flatMap((c) => c.moduleIds))].filter((id) => !id.startsWith('\0')).map(repoPath);
  // npm rewrites node_modules/.package-lock.json whenever it changes a
  // package: one stat at start-up stands for ~450 package files.
  const npmLock = 'node_modules/.package-lock.json';
  const packaged = (rel: string) => rel.startsWith('node_modules/');
  const inputs = existsSync(join(ROOT, npmLock)) ? [...modules.filter((m) => !packaged(m)), npmLock] : modules;
  writeFileSync(join(tmp, MANIFEST_FILE), JSON.stringify(fingerprint(ROOT, inputs)) + '\n');
  // Swap in whole: a launcher never sees a new bundle with an old manifest.
  rmSync(BUNDLE_DIR, { recursive: true, force: true });
  mkdirSync(dirname(BUNDLE_DIR), { recursive: true });
  renameSync(tmp, BUNDLE_DIR);
  return { file: join(BUNDLE_DIR, BUNDLE_FILE), chunks: chunks.length, bytes: chunks.reduce((n, c) => n + c.code.length, 0), inputs: modules.length, ms: performance.now() - t0 };
}

/** Fresh, and answers `herald-server --help` and `herald-agent --help` as the sources do. */
function check(): string {
  const state = bundleState(ROOT);
  if (state !== 'fresh') throw new Error(`the CLI bundle is ${state} (run scripts/setup)`);
  for (const bin of ['herald-server', 'herald-agent']) {
    const run = (env: NodeJS.ProcessEnv) =>
      execFileSync(process.execPath, [join(ROOT, 'src/cli/start.js'), bin, '--help'], { encoding: 'utf8', env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const bundled = run({ HERALD_BUNDLE: 'require' });
    if (bundled !== run({ HERALD_BUNDLE: 'off' })) throw new Error(`the CLI bundle's ${bin} --help differs from the sources'`);
  }
  return `fresh, ${join(BUNDLE_DIR, BUNDLE_FILE)}`;
}

if (import.meta.main) {
  try {
    if (process.argv[2] === '--check') console.log(check());
    else {
      const r = await buildBundle();
      console.log(`built ${relative(process.cwd(), r.file)} and ${r.chunks - 1} chunks: ${(r.bytes / 1e6).toFixed(1)} MB from ${r.inputs} modules in ${(r.ms / 1000).toFixed(1)} s`);
    }
  } catch (e) {
    console.error(`build-bundle: ${(e as Error).message}`);
    process.exit(1);
  }
}
