// The short chaos soak in `npm test`: the whole topology for 90 s under a
// fixed seed (a handful of faults). The long runs are `npm run soak --
// --minutes N --seed S`; a failure here prints the table and keeps the
// process logs (the path is in the output).
import { expect, it } from 'vitest';
import { formatSoakTable, runSoak } from './soak.ts';

const SEED = 20261207;

it('survives 90 s of seeded faults under load: nothing expired, revoked or lost served, every failure in a fault window', async () => {
  const result = await runSoak({ minutes: 1.5, seed: SEED, log: (line) => console.log(line) });
  const table = formatSoakTable(result);
  console.log(table);
  expect(result.windows.filter((w) => !w.skipped).length).toBeGreaterThan(0);
  expect(result.problems, table).toEqual([]);
}, 600_000);
