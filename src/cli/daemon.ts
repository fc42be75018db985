// `run` and `validate` for the two daemons (herald-server, herald-agent):
// load and check the config, start, stop cleanly on SIGINT/SIGTERM.
import { ConfigError } from '../common/config/index.ts';
import { createLogger, type Logger, type LogFormat, type LogLevel } from '../common/log.ts';
import { describeError, flagsOrHelp, type CliIo, type Command } from './command.ts';
import type { FlagSpecs, ParsedFlags } from './flags.ts';

export interface DaemonSpec<S extends FlagSpecs, C extends { log: { level: LogLevel; format: LogFormat; file: string | undefined }; warnings: readonly string[] }> {
  /** "server" or "agent", for messages. */
  name: string;
  flags: S;
  load(flags: Extract<ParsedFlags<S>, { help: false }>, io: CliIo): Promise<C>;
  start(config: C, log: Logger): Promise<{ stop(): Promise<void> }>;
}

export function daemonCommands<S extends FlagSpecs, C extends { log: { level: LogLevel; format: LogFormat; file: string | undefined }; warnings: readonly string[] }>(spec: DaemonSpec<S, C>): { run: Command; validate: Command } {
  const Name = spec.name[0]!.toUpperCase() + spec.name.slice(1);
  return {
    run: {
      synopsis: `Runs the ${spec.name}`,
      async run(args, io) {
        const f = flagsOrHelp(spec.flags, args, 'run', io);
        if (!f) return 0;
        let config: C;
        try {
          config = await spec.load(f, io);
        } catch (err) {
          io.stderr.write(`${err instanceof ConfigError ? err.message : describeError(err)}\n`);
          return 1;
        }
        const log = createLogger({ level: config.log.level, format: config.log.format, ...(config.log.file ? { destination: config.log.file } : {}) });
        for (const w of config.warnings) log.warn({}, w);
        let running;
        try {
          running = await spec.start(config, log);
        } catch (err) {
          log.error({ err: describeError(err) }, `${Name} failed to start`);
          io.stderr.write(`Error: ${describeError(err)}\n`);
          return 1;
        }
        await new Promise<void>((resolve) => {
          const stop = (signal: string): void => {
            log.info({ signal }, `Stopping ${spec.name}`);
            process.off('SIGINT', onInt);
            process.off('SIGTERM', onTerm);
            resolve();
          };
          const onInt = (): void => stop('SIGINT');
          const onTerm = (): void => stop('SIGTERM');
          process.on('SIGINT', onInt);
          process.on('SIGTERM', onTerm);
        });
        await running.stop();
        return 0;
      },
    },
    validate: {
      synopsis: `Validates a Herald ${spec.name} configuration file`,
      async run(args, io) {
        const f = flagsOrHelp(spec.flags, args, 'validate', io);
        if (!f) return 0;
        try {
          const config = await spec.load(f, io);
          for (const w of config.warnings) io.stderr.write(`Warning: ${w}\n`);
        } catch (err) {
          io.stderr.write(`${describeError(err)}\n`);
          return 1;
        }
        io.stdout.write('Configuration is valid.\n');
        return 0;
      },
    },
  };
}
