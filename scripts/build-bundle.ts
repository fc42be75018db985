// Builds the prebuilt CLI bundle the bin/ launchers run: src/cli/main.ts and
// everything it reaches (own sources and npm packages) in .build/cli/main.mjs
// and chunks split at the dynamic imports (a `healthcheck` loads ~25 files, not
// ~200 modules, and none of the daemon's), plus .build/cli/manifest.json
// naming the sources it was built from. See bench/startup
// (`npm run bench:startup`) for what it saves.
//
//   node scripts/build-bundle.ts [--out DIR]           build
//   node scripts/build-bundle.ts --if-stale            build unless fresh (scripts/setup)
//   node scripts/build-bundle.ts --check [--out DIR]   exit 1 unless the bundle is fresh and
//                                                      behaves as the sources
// Another DIR than .build/cli is for tests: HERALD_BUNDLE_DIR=DIR runs it.
//
// The launchers fall back to the sources whenever the bundle is missing or
// stale (src/cli/bundle.js), so a `git pull` without setup never runs old code.
import { spawnSync } from 'node:child_process';
import { builtinModules } from 'node:module';
import { copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BUNDLE_DIR, BUNDLE_FILE, MANIFEST_FILE, bundleState, fingerprint } from '../src/cli/bundle.js';

const ROOT = join(import.meta.dirname, '..');
const NODE_MODULES = realpathSync(join(ROOT, 'node_modules'));

// Loaded at run time from node_modules, never bundled: a native addon.
const EXTERNAL_PACKAGES = ['@herald/peercred'];
const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/**
 * The import specifier of an external package from a bundle in `out`: a
 * relative path into the checkout's node_modules, so that a bundle outside
 * the repository (tests) finds it too, and a moved checkout still does.
 */
function externalSpecifier(pkg: string, out: string): string {
  const file = fileURLToPath(import.meta.resolve(pkg));
  const inPackage = relative(realpathSync(join(ROOT, 'node_modules', pkg)), file);
  const spec = relative(out, join(ROOT, 'node_modules', pkg, inPackage));
  return spec.startsWith('.') ? spec : `./${spec}`;
}

/** Repository-relative path of a bundled module (node_modules may be a symlink: worktrees). */
function repoPath(id: string): string {
  return id.startsWith(NODE_MODULES + '/') ? join('node_modules', id.slice(NODE_MODULES.length + 1)) : relative(ROOT, id);
}

/**
 * Each module keeps its own import.meta: its code finds files next to it
 * (protos, the console's static files, the signing worker, Envoy templates)
 * and resolves packages from where it lives. The banner finds the repository
 * from the bundle's own location, so a checkout can move with its bundle.
 */
const banner = (out: string) =>
  [
    `import { fileURLToPath as __heraldToPath, pathToFileURL as __heraldToUrl } from 'node:url';`,
    `const __heraldRoot = __heraldToPath(new URL(${JSON.stringify(relative(out, ROOT) + '/')}, import.meta.url));`,
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
 * External packages' imports become relative paths (externalSpecifier).
 * And the bundler hoists every import of a Node built-in to the top of the file,
 * even those of modules only loaded on demand, and an ES import of a built-in
 * evaluates all its exports: `import { request } from 'node:http'` loads
 * undici (~15 ms) for its WebSocket getter. process.getBuiltinModule reads
 * only the names used.
 */
function rewriteImports(code: string, externals: ReadonlyMap<string, string>): string {
  return code.replace(/^import (.+?) from "([^"]+)";$/gm, (line, clause: string, spec: string) => {
    const external = externals.get(spec);
    if (external) return `import ${clause} from ${JSON.stringify(external)};`;
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

/** Builds whose chunks a rebuild keeps: this one and the two before it. */
const KEPT_BUILDS = 3;

/** The chunk names of the builds before, newest first, as the bundle's manifest lists them. */
function previousBuilds(out: string): string[][] {
  try {
    const { builds } = JSON.parse(readFileSync(join(out, MANIFEST_FILE), 'utf8')) as { builds?: unknown };
    return Array.isArray(builds) ? builds.filter((b): b is string[] => Array.isArray(b) && b.every((n) => typeof n === 'string' && /^[\w.-]+\.mjs$/.test(n))) : [];
  } catch {
    return [];
  }
}

export async function buildBundle(out = BUNDLE_DIR): Promise<{ file: string; chunks: number; bytes: number; inputs: number; ms: number }> {
  const t0 = performance.now();
  const { build } = await import('rolldown');
  const tmp = `${out}.tmp-${process.pid}`;
  const externals = new Map(EXTERNAL_PACKAGES.map((pkg) => [pkg, externalSpecifier(pkg, out)]));
  rmSync(tmp, { recursive: true, force: true });
  const result = await build({
    input: join(ROOT, 'src/cli/main.ts'),
    platform: 'node',
    external: [...EXTERNAL_PACKAGES, ...BUILTINS],
    logLevel: 'silent',
    plugins: [
      { name: 'herald-import-meta', transform: (code, id) => importMetaPerModule(code, id) },
      { name: 'herald-imports', renderChunk: (code) => rewriteImports(code, externals) },
    ],
    output: { dir: tmp, format: 'esm', entryFileNames: 'main.mjs', chunkFileNames: '[name]-[hash].mjs', banner: banner(out) },
  });
  const chunks = result.output.filter((o) => o.type === 'chunk');
  if (chunks.length === 0) throw new Error('build-bundle: the bundler produced no code');
  const modules = [...new Set(chunks.flatMap((c) => c.moduleIds))].filter((id) => !id.startsWith('\0')).map(repoPath);
  // npm rewrites node_modules/.package-lock.json whenever it changes a
  // package: one stat at start-up stands for ~450 package files.
  const npmLock = 'node_modules/.package-lock.json';
  const packaged = (rel: string) => rel.startsWith('node_modules/');
  const inputs = existsSync(join(ROOT, npmLock)) ? [...modules.filter((m) => !packaged(m)), npmLock] : modules;
  // A daemon started from an earlier build imports its lazy chunks by name
  // long after it started: the chunks of the last KEPT_BUILDS builds stay
  // beside the new ones (content-hashed names never collide), so a rebuild
  // under running daemons (an upgrade) does not pull code from under them;
  // a daemon that outlives more rebuilds than that should be restarted.
  const builds = [chunks.map((c) => c.fileName), ...previousBuilds(out).slice(0, KEPT_BUILDS - 1)];
  for (const name of builds.slice(1).flat()) {
    if (!existsSync(join(tmp, name)) && existsSync(join(out, name))) copyFileSync(join(out, name), join(tmp, name));
  }
  writeFileSync(join(tmp, MANIFEST_FILE), JSON.stringify({ ...fingerprint(ROOT, inputs), builds }) + '\n');
  // Swap in whole: a launcher never sees a new bundle with an old manifest,
  // and the directory is missing only between two renames, not for a
  // recursive delete (a running daemon's lazy import would fail then).
  const aside = `${out}.old-${process.pid}`;
  rmSync(aside, { recursive: true, force: true });
  mkdirSync(dirname(out), { recursive: true });
  if (existsSync(out)) renameSync(out, aside);
  renameSync(tmp, out);
  rmSync(aside, { recursive: true, force: true });
  return { file: join(out, BUNDLE_FILE), chunks: chunks.length, bytes: chunks.reduce((n, c) => n + c.code.length, 0), inputs: modules.length, ms: performance.now() - t0 };
}

/**
 * Calls that load most of the bundle's chunks (commands, gRPC, protos, the
 * config schemas and HCL parser): each must print and exit as with the sources.
 */
const CHECK_CALLS: readonly (readonly string[])[] = [
  ['herald-server', '--help'],
  ['herald-agent', '--help'],
  ['herald-server', 'healthcheck', '-socketPath', '/nonexistent/herald-check.sock'],
  ['herald-agent', 'healthcheck', '-socketPath', '/nonexistent/herald-check.sock'],
  ['herald-server', 'validate', '-config', join(ROOT, 'conf/server/server.yaml')],
  ['herald-agent', 'validate', '-config', join(ROOT, 'conf/agent/agent.yaml')],
  ['herald-server', 'validate', '-config', '/nonexistent/server.conf'],
  ['herald-oidc', 'validate', '-config', '/nonexistent/oidc.conf'],
  ['herald-authz', '--help'],
];

/** Fresh, and answers CHECK_CALLS as the sources do. */
function check(out: string): string {
  const state = bundleState(ROOT, out);
  if (state !== 'fresh') throw new Error(`the CLI bundle ${out} is ${state} (run scripts/setup)`);
  for (const args of CHECK_CALLS) {
    const run = (env: NodeJS.ProcessEnv) => {
      const r = spawnSync(process.execPath, [join(ROOT, 'src/cli/start.js'), ...args], { encoding: 'utf8', env: { ...process.env, HERALD_BUNDLE_DIR: out, ...env }, timeout: 60_000 });
      return `exit ${r.status ?? r.signal}\n${r.stdout}\n${r.stderr}`;
    };
    const bundled = run({ HERALD_BUNDLE: 'require' });
    if (bundled !== run({ HERALD_BUNDLE: 'off' })) throw new Error(`the CLI bundle's \`${args.join(' ')}\` differs from the sources': ${bundled.trim().split('\n').slice(-3).join(' / ')}`);
  }
  return `fresh, and ${CHECK_CALLS.length} calls behave as the sources: ${join(out, BUNDLE_FILE)}`;
}

if (import.meta.main) {
  try {
    const { values } = parseArgs({ options: { check: { type: 'boolean', default: false }, 'if-stale': { type: 'boolean', default: false }, out: { type: 'string', default: BUNDLE_DIR } } });
    const out = resolve(values.out);
    if (values.check) console.log(check(out));
    else if (values['if-stale'] && bundleState(ROOT, out) === 'fresh') console.log(`${relative(process.cwd(), join(out, BUNDLE_FILE))} is fresh, kept`);
    else {
      const r = await buildBundle(out);
      console.log(`built ${relative(process.cwd(), r.file)} and ${r.chunks - 1} chunks: ${(r.bytes / 1e6).toFixed(1)} MB from ${r.inputs} modules in ${(r.ms / 1000).toFixed(1)} s`);
    }
  } catch (e) {
    console.error(`build-bundle: ${(e as Error).message}`);
    process.exit(1);
  }
}
