// The fuzz suites (test/fuzz/*.fuzz.test.ts) with longer runs than `npm test`
// gives them, and a seed to replay a failure:
//   npm run fuzz                          # 20,000 runs per property, random seed
//   npm run fuzz -- --runs 100000 --seed 42
//   npm run fuzz -- --runs 5000 test/fuzz/csr.fuzz.test.ts
// Every failure prints fast-check's seed and path; rerun with that --seed.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  options: { runs: { type: 'string', default: '20000' }, seed: { type: 'string' } },
  allowPositionals: true,
});
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`fuzz: --runs must be a positive integer, got ${JSON.stringify(values.runs)}`);
  process.exit(2);
}
const seed = values.seed ?? String(Math.floor(Math.random() * 2 ** 31));
if (!/^-?\d+$/.test(seed)) {
  console.error(`fuzz: --seed must be an integer, got ${JSON.stringify(seed)}`);
  process.exit(2);
}
console.log(`fuzz: ${runs} runs per property, seed ${seed}`);
const root = join(import.meta.dirname, '..');
const vitest = join(root, 'node_modules/.bin/vitest');
// Long runs outlast the default 30 s per test; the property's own run count bounds them.
const files = positionals.length > 0 ? positionals : ['test/fuzz/'];
const r = spawnSync(vitest, ['run', '--testTimeout', '0', ...files], { cwd: root, stdio: 'inherit', env: { ...process.env, HERALD_FUZZ_RUNS: String(runs), HERALD_FUZZ_SEED: seed } });
console.log(`fuzz: seed ${seed} (rerun with --seed ${seed} --runs ${runs})`);
process.exit(r.status ?? 1);
