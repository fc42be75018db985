// `herald-agent run` and `validate`.
import { startAgent } from '../../agent/agent.ts';
import { agentRunFlags, loadAgentConfig } from '../../agent/config.ts';
import { daemonCommands } from '../daemon.ts';

export const { run: runCommand, validate: validateCommand } = daemonCommands({
  name: 'agent',
  flags: agentRunFlags,
  load: (flags, io) => loadAgentConfig({ cwd: io.cwd, flags, env: io.env }),
  start: (config, log) => startAgent(config, { log }),
});
