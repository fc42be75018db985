// What the bin/ launchers load (start.js): every binary's commands, each
// loaded on demand, and the runner. Also the entry point of the prebuilt
// bundle (scripts/build-bundle.ts), so both run the same code.
import type { CommandTree } from './command.ts';

export { runCli } from './command.ts';

export const binaries: Readonly<Record<string, () => Promise<CommandTree>>> = {
  'herald-server': async () => (await import('./server/commands.ts')).serverCommands,
  'herald-agent': async () => (await import('./agent/commands.ts')).agentCommands,
  'herald-authz': async () => (await import('./authz/commands.ts')).authzCommands,
  'herald-oidc': async () => (await import('./oidc/commands.ts')).oidcCommands,
};
