// Runs once before the test files: builds SPIRE's own binaries for the
// interop tests if this machine has none yet (minutes, once; cached in
// ~/.cache/herald), so the build does not compete with timing-sensitive
// end-to-end tests for the CPU.
import { spireBinaries, SPIRE_VERSION } from './helpers/spire.ts';

export default function setup(): void {
  const started = Date.now();
  const { server } = spireBinaries();
  const s = Math.round((Date.now() - started) / 1000);
  if (s > 5) process.stdout.write(`global setup: built SPIRE ${SPIRE_VERSION} (${server}) in ${s} s\n`);
}
