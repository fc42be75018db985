// `herald-agent run` and `validate`.
import { ConfigError } from '../../common/config/index.ts';
import { createLogger } from '../../common/log.ts';
import { startAgent } from '../../agent/agent.ts';
import { agentRunFlags, loadAgentConfig } from '../../agent/config.ts';
import { describeError, flagsOrHelp, type Command } from '../command.ts';

export const runCommand: Command = {
  synopsis: 'Runs the agent',
  async run(args, io) {
    const f = flagsOrHelp(agentRunFlags, args, 'run', io);
    if (!f) return 0;
    let config;
    try {
      config = await loadAgentConfig({ cwd: io.cwd, flags: f, env: io.env });
    } catch (err) {
      io.stderr.write(`${err instanceof ConfigError ? err.message : describeError(err)}\n`);
      return 1;
    }
    const log = createLogger({ level: config.log.level, format: config.log.format, ...(config.log.file ? { destination: config.log.file } : {}) });
    for (const w of config.warnings) log.warn({}, w);
    let agent;
    try {
      agent = await startAgent(config, { log });
    } catch (err) {
      log.error({ err: describeError(err) }, 'Agent failed to start');
      io.stderr.write(`Error: ${describeError(err)}\n`);
      return 1;
    }
    await new Promise<void>((resolve) => {
      const stop = (signal: string): void => {
        log.info({ signal }, 'Stopping agent');
        process.off('SIGINT', onInt);
        process.off('SIGTERM', onTerm);
        resolve();
      };
      const onInt = (): void => stop('SIGINT');
      const onTerm = (): void => stop('SIGTERM');
      process.on('SIGINT', onInt);
      process.on('SIGTERM', onTerm);
    });
    await agent.stop();
    return 0;
  },
};

export const validateCommand: Command = {
  synopsis: 'Validates a Herald agent configuration file',
  async run(args, io) {
    const f = flagsOrHelp(agentRunFlags, args, 'validate', io);
    if (!f) return 0;
    try {
      const config = await loadAgentConfig({ cwd: io.cwd, flags: f, env: io.env });
      for (const w of config.warnings) io.stderr.write(`Warning: ${w}\n`);
    } catch (err) {
      io.stderr.write(`${describeError(err)}\n`);
      return 1;
    }
    io.stdout.write('Configuration is valid.\n');
    return 0;
  },
};
