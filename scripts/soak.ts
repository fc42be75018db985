// The chaos soak (test/soak/soak.ts) from the command line:
//   npm run soak -- --minutes 30 --seed 42
//   npm run soak -- --minutes 3 --kinds postgres-restart,federation-endpoint-garbage
// Needs root (read-only bind mounts, supplementary groups) and Envoy
// (scripts/setup). Prints the result table; exits 1 when the soak fails.
import { parseArgs } from 'node:util';
import { FAULT_KINDS, type FaultKind } from '../test/soak/soak-faults.ts';
import { formatSoakTable, runSoak } from '../test/soak/soak.ts';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '10' }, seed: { type: 'string' }, kinds: { type: 'string' } } });
const minutes = Number(values.minutes);
if (!(minutes > 0)) {
  console.error(`soak: --minutes must be a positive number, got ${JSON.stringify(values.minutes)}`);
  process.exit(2);
}
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
if (!Number.isInteger(seed)) {
  console.error(`soak: --seed must be an integer, got ${JSON.stringify(values.seed)}`);
  process.exit(2);
}
const kinds = values.kinds === undefined ? undefined : values.kinds.split(',').map((k) => k.trim());
const unknown = kinds?.filter((k) => !(FAULT_KINDS as readonly string[]).includes(k)) ?? [];
if (kinds?.length === 0 || unknown.length > 0) {
  console.error(`soak: --kinds takes a comma-separated list of ${FAULT_KINDS.join(', ')}; unknown: ${JSON.stringify(unknown)}`);
  process.exit(2);
}
const started = Date.now();
const result = await runSoak({ minutes, seed, kinds: kinds as FaultKind[] | undefined, log: (line) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(5)} s] ${line}`) });
console.log(formatSoakTable(result));
process.exit(result.problems.length === 0 ? 0 : 1);
