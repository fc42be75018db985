// `herald-agent run` and `validate`.
import { agentRunFlags, loadAgentConfig } from '../../agent/config.ts';
import { daemonCommands } from '../daemon.ts';

export const { run: runCommand, validate: validateCommand } = daemonCommands({
  name: 'agent',
  flags: agentRunFlags,
  load: (flags, io) => loadAgentConfig({ cwd: io.cwd, flags, env: io.env }),
  // Loaded only by `run`: the api and healthcheck commands never pay for the agent's modules.
  start: async (config, log) => (await import('../../agent/agent.ts')).startAgent(config, { log }),
});
