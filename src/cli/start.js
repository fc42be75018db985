// Entry point of the bin/ launchers: `node src/cli/start.js herald-agent ARGS`.
// Turns the compile cache on, loads the binary's commands (from the prebuilt
// bundle when it is fresh, else the sources: see bundle.js), writes the cache
// at once (Node writes it only at exit, which a daemon may never reach), then
// runs. Plain JavaScript: see compile-cache.js.
import { flushCompileCache } from 'node:module';
import { cliEntry } from './bundle.js';
import { useCompileCache } from './compile-cache.js';

const [name = '', ...args] = process.argv.slice(2);
// A reader that went away (`herald-agent api fetch x509 | head -n 1`) is not an
// error to report: a command stops quietly with 141, as a Go binary killed by
// SIGPIPE does; a daemon (`run`) keeps running without its log stream.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (/** @type {NodeJS.ErrnoException} */ err) => {
    if (err.code !== 'EPIPE') throw err;
    if (args[0] !== 'run') process.exit(141);
  });
}
useCompileCache(process.env);
/** @type {typeof import('./main.ts')} */
const { binaries, commandArgs, runCli } = await import(cliEntry(process.env));
const load = binaries[name];
if (!load) {
  process.stderr.write(`start.js: unknown binary ${JSON.stringify(name)}; one of ${Object.keys(binaries).join(', ')}\n`);
  process.exit(2);
}
const argv = commandArgs(name, args);
const commands = await load(argv);
flushCompileCache();
process.exitCode = await runCli(name, commands, argv, { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() });
