// Runs once before the test files: every program the suites start must be
// installed (scripts/setup builds and links them). One clear message here is
// better than the same failure in every Envoy or SPIRE test.
import { chromiumPath, envoyPath, faketimeLib, goInteropPath, javaInteropArgs, kubeApiserverBinaries, mariadbPaths, prometheusPaths, pythonPath, spireBinaries } from '../demo/lib/tools.ts';

export default function setup(): void {
  // HERALD_TOOLS_CHECK=0 runs a few unit files while setup is still building.
  if (process.env.HERALD_TOOLS_CHECK === '0') return;
  const missing: string[] = [];
  for (const check of [envoyPath, pythonPath, spireBinaries, kubeApiserverBinaries, goInteropPath, javaInteropArgs, chromiumPath, mariadbPaths, prometheusPaths, faketimeLib]) {
    try {
      check();
    } catch (err) {
      missing.push((err as Error).message);
    }
  }
  if (missing.length > 0) {
    throw new Error(`test dependencies are missing:\n  ${missing.join('\n  ')}\n(scripts/setup --check lists them all)`);
  }
}
