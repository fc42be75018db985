// `herald-agent run` and `validate`.
import { daemonCommands } from '../daemon.ts';

// Loaded only by `run` and `validate`: the api and healthcheck commands never pay for the agent's modules.
export const { run: runCommand, validate: validateCommand } = daemonCommands('agent', async () => {
  const { agentRunFlags, loadAgentConfig } = await import('../../agent/config.ts');
  return {
    flags: agentRunFlags,
    load: (flags, io) => loadAgentConfig({ cwd: io.cwd, flags, env: io.env }),
    start: async (config, log) => (await import('../../agent/agent.ts')).startAgent(config, { log }),
  };
});
