// What reading an HCL config costs a daemon at start (issue 22): Herald's
// HCL 1 parser against the tree-sitter (WebAssembly) parser it replaced,
// which the differential test keeps as test/common/config/tree-sitter-hcl.ts.
//
//   node bench/startup/hcl-parse.ts [--rounds 7 --repeat 200]
//
// Each sample is a new Node process (as a daemon's start is), the parsers in
// turn, round after round. In it, after loading what both share: the first
// parse, with loading the parser's modules (and, for tree-sitter, compiling
// its WebAssembly) — CPU (user+sys)
// and wall time; RSS after it less RSS before the import, after a GC; then the
// mean of --repeat more parses of the same text (warm). Files: SPIRE's
// server_full.conf (48 KB) and agent_full.conf, and its small server.conf.
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { percentile } from '../lib/percentile.ts';

const ROOT = join(import.meta.dirname, '../..');
const FILES = ['test/common/config/fixtures/hcl/server_full.conf', 'test/common/config/fixtures/hcl/agent_full.conf', 'test/fixtures/spire-conf/server/server.conf'];
const PARSERS = {
  hcl1: { source: 'src/common/config/hcl/parser.ts', fn: 'parseHcl' },
  'tree-sitter': { source: 'test/common/config/tree-sitter-hcl.ts', fn: 'parseHclTreeSitter', load: 'loadHclParser' },
} as const;
type ParserName = keyof typeof PARSERS;
/** Bundled as the daemons' code is (scripts/build-bundle.ts): no type stripping in the measure. */
const OUT = join(ROOT, '.tmp/bench-hcl-parse');
const SHARED = 'src/common/config/raw-node.ts';

interface Sample {
  readonly firstCpuMs: number;
  readonly firstWallMs: number;
  readonly rssDeltaMib: number;
  readonly warmUs: number;
}

const { values: flags } = parseArgs({
  options: { rounds: { type: 'string', default: '7' }, repeat: { type: 'string', default: '200' }, child: { type: 'string' }, file: { type: 'string' } },
});

if (flags.child !== undefined) {
  process.stdout.write(JSON.stringify(await child(flags.child as ParserName, flags.file ?? '', Number(flags.repeat))));
} else {
  await bundle();
  main();
}

async function bundle(): Promise<void> {
  const { build } = await import('rolldown');
  rmSync(OUT, { recursive: true, force: true });
  await build({
    input: { shared: join(ROOT, SHARED), ...Object.fromEntries(Object.entries(PARSERS).map(([name, p]) => [name, join(ROOT, p.source)])) },
    platform: 'node',
    external: ['web-tree-sitter', /^node:/],
    logLevel: 'silent',
    output: { dir: OUT, format: 'esm', entryFileNames: '[name].mjs', chunkFileNames: '[name]-[hash].mjs' },
  });
}

async function child(name: ParserName, file: string, repeat: number): Promise<Sample> {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const spec = PARSERS[name];
  // What both parsers share (the RawNode helpers, which load yaml) is loaded first: measured is the parser alone.
  await import(join(OUT, 'shared.mjs'));
  globalThis.gc?.();
  const rss0 = process.memoryUsage().rss;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const mod = (await import(join(OUT, `${name}.mjs`))) as Record<string, (...a: unknown[]) => unknown>;
  if ('load' in spec) await mod[spec.load]!();
  const parse = mod[spec.fn]!;
  const r = parse(text, file) as { syntaxError: boolean };
  const firstWallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  if (r.syntaxError) throw new Error(`${name}: ${file} did not parse`);
  globalThis.gc?.();
  const rssDeltaMib = (process.memoryUsage().rss - rss0) / 1024 / 1024;
  const t1 = performance.now();
  for (let i = 0; i < repeat; i++) parse(text, file);
  const warmUs = ((performance.now() - t1) * 1000) / repeat;
  return { firstCpuMs: (cpu.user + cpu.system) / 1000, firstWallMs, rssDeltaMib, warmUs };
}

function main(): void {
  const rounds = Number(flags.rounds);
  const samples = new Map<string, Sample[]>();
  for (let round = 0; round < rounds; round++) {
    for (const file of FILES) {
      for (const name of Object.keys(PARSERS) as ParserName[]) {
        const out = execFileSync(process.execPath, ['--expose-gc', import.meta.filename, '--child', name, '--file', file, '--repeat', flags.repeat], { encoding: 'utf8' });
        const key = `${name}\t${file}`;
        samples.set(key, [...(samples.get(key) ?? []), JSON.parse(out) as Sample]);
      }
    }
    process.stderr.write(`round ${round + 1}/${rounds} done (load ${loadavg()[0]?.toFixed(2)})\n`);
  }
  const fmt = (xs: number[], digits: number): string => {
    const s = [...xs].sort((a, b) => a - b);
    return `${s[0]?.toFixed(digits)}/${percentile(s, 50).toFixed(digits)}/${s[s.length - 1]?.toFixed(digits)}`;
  };
  console.log(`min/median/max over ${rounds} processes each; warm: mean of ${flags.repeat} parses`);
  console.log(['parser', 'file', 'bytes', 'first parse CPU ms', 'first parse wall ms', 'RSS growth MiB', 'warm parse µs'].join('\t'));
  for (const [key, s] of samples) {
    const file = key.split('\t')[1] ?? '';
    const bytes = Buffer.byteLength(readFileSync(join(ROOT, file)));
    console.log([key, bytes, fmt(s.map((x) => x.firstCpuMs), 1), fmt(s.map((x) => x.firstWallMs), 1), fmt(s.map((x) => x.rssDeltaMib), 1), fmt(s.map((x) => x.warmUs), 0)].join('\t'));
  }
}
