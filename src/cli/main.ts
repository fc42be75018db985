// What the bin/ launchers load (start.js): every binary's commands, each
// loaded on demand, and the runner. Also the entry point of the prebuilt
// bundle (scripts/build-bundle.ts), so both run the same code.
import type { CommandTree } from './command.ts';

export { runCli } from './command.ts';

/**
 * Each binary's command tree for `args` (commandArgs'). `healthcheck`, which
 * liveness probes run every few seconds, gets a tree of itself alone: the
 * other commands' modules load grpc-js and the protos, ~50 ms of CPU per
 * call (npm run bench:startup).
 */
export const binaries: Readonly<Record<string, (args: readonly string[]) => Promise<CommandTree>>> = {
  'herald-server': async (args) =>
    args[0] === 'healthcheck' ? { healthcheck: (await import('./server/healthcheck.ts')).healthcheckCommand } : (await import('./server/commands.ts')).serverCommands,
  'herald-agent': async (args) => (args[0] === 'healthcheck' ? { healthcheck: (await import('./agent/healthcheck.ts')).healthcheck } : (await import('./agent/commands.ts')).agentCommands),
  'herald-authz': async () => (await import('./authz/commands.ts')).authzCommands,
  'herald-oidc': async () => (await import('./oidc/commands.ts')).oidcCommands,
};

/**
 * The arguments as the binary's command tree reads them. SPIRE's
 * oidc-discovery-provider has no subcommands (`-config FILE [-expandEnv]`,
 * or nothing for the default config): its command line runs herald-oidc's
 * `run`, so a SPIRE Deployment's args carry over.
 */
export function commandArgs(binary: string, args: readonly string[]): readonly string[] {
  const help = (a: string | undefined) => a === '-h' || a === '-help' || a === '--help';
  if (binary === 'herald-oidc' && (args.length === 0 || (args[0]!.startsWith('-') && !help(args[0])))) return ['run', ...args];
  return args;
}

