// `run` and `validate` for the two daemons (herald-server, herald-agent):
// load and check the config, start, stop cleanly on SIGINT/SIGTERM/SIGHUP.
// SIGHUP is what a closing terminal sends to `herald-server run &`; SPIRE
// 1.13 does not handle it (Go's default: exit at once, no log, sockets left
// behind). Herald logs it and stops as for SIGTERM.
// The daemon's modules (config schema, plugins, logger) load only when `run`
// or `validate` runs: the other commands of the binary never pay for them.
import type { Logger, LogFormat, LogLevel } from '../common/log.ts';
import type { LogFields } from '../common/log-fields.ts';
import { describeError, flagsOrHelp, type CliIo, type Command } from './command.ts';
import type { FlagSpecs, ParsedFlags } from './flags.ts';

export interface DaemonSpec<S extends FlagSpecs, C extends { log: { level: LogLevel; format: LogFormat; file: string | undefined; sourceLocation?: boolean }; warnings: readonly string[] }> {
  flags: S;
  load(flags: Extract<ParsedFlags<S>, { help: false }>, io: CliIo): Promise<C>;
  /** `failed` resolves if the daemon must stop by itself (e.g. a banned agent); run then exits 1. */
  start(config: C, log: Logger): Promise<{ stop(): Promise<void>; failed?: Promise<Error> }>;
}

/** `name` is "server" or "agent", for messages; `loadSpec` loads the daemon's modules. */
export function daemonCommands<S extends FlagSpecs, C extends { log: { level: LogLevel; format: LogFormat; file: string | undefined; sourceLocation?: boolean }; warnings: readonly string[] }>(
  name: string,
  loadSpec: () => Promise<DaemonSpec<S, C>>,
): { run: Command; validate: Command } {
  const Name = name[0]!.toUpperCase() + name.slice(1);
  const isConfigError = async (err: unknown) => err instanceof (await import('../common/config/index.ts')).ConfigError;
  return {
    run: {
      synopsis: `Runs the ${name}`,
      async run(args, io) {
        const spec = await loadSpec();
        const f = flagsOrHelp(spec.flags, args, 'run', io);
        if (!f) return 0;
        let config: C;
        try {
          config = await spec.load(f, io);
        } catch (err) {
          io.stderr.write(`${(await isConfigError(err)) ? (err as Error).message : describeError(err)}\n`);
          return 1;
        }
        const { createLogger } = await import('../common/log.ts');
        const log = createLogger({ level: config.log.level, format: config.log.format, ...(config.log.file ? { destination: config.log.file } : {}), ...(config.log.sourceLocation ? { sourceLocation: true } : {}) });
        for (const w of config.warnings) log.warn({}, w);
        // Loaded before the start: from there until the signal handlers are
        // in place, nothing may wait (a SIGTERM meanwhile would kill the daemon
        // unlogged), nor fail after the servers are up.
        const idleGcOff = /^(off|false|0|no)$/i.test(io.env.HERALD_IDLE_GC ?? '');
        const idleGcModule = idleGcOff ? undefined : await import('../common/idle-gc.ts');
        let running;
        try {
          running = await spec.start(config, log);
        } catch (err) {
          log.error({ err: describeError(err) }, `${Name} failed to start`);
          io.stderr.write(`Error: ${describeError(err)}\n`);
          return 1;
        }
        // Memory a burst left behind goes back once the daemon is quiet (src/common/idle-gc.ts);
        // HERALD_IDLE_GC=off for a daemon whose rare request must never wait for that GC.
        const idleGc = idleGcModule?.startIdleGc({}, (gcMs) => log.debug({ elapsed_time: Math.round(gcMs) } satisfies LogFields, 'Collected garbage while idle'));
        const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
        const handlers = new Map<NodeJS.Signals, () => void>();
        const failure = await new Promise<Error | undefined>((resolve) => {
          for (const signal of signals) {
            const onSignal = (): void => {
              log.info({ signal }, `Stopping ${name}`);
              resolve(undefined);
            };
            handlers.set(signal, onSignal);
            process.on(signal, onSignal);
          }
          void running.failed?.then(resolve);
        });
        for (const [signal, fn] of handlers) process.off(signal, fn);
        idleGc?.stop();
        await running.stop();
        if (failure) {
          io.stderr.write(`Error: ${describeError(failure)}\n`);
          return 1;
        }
        return 0;
      },
    },
    validate: {
      synopsis: `Validates a Herald ${name} configuration file`,
      async run(args, io) {
        const spec = await loadSpec();
        const f = flagsOrHelp(spec.flags, args, 'validate', io);
        if (!f) return 0;
        try {
          const config = await spec.load(f, io);
          for (const w of config.warnings) io.stderr.write(`Warning: ${w}\n`);
        } catch (err) {
          // SPIRE's first line ("SPIRE server configuration file is invalid: …", on stderr, exit 1)
          // with Herald's name and Herald's detail (file, line and key of each problem).
          io.stderr.write(`Herald ${name} configuration file is invalid: ${await invalidDetail(err)}\n`);
          return 1;
        }
        // SPIRE's wording ("SPIRE server configuration file is valid."), with Herald's name.
        io.stdout.write(`Herald ${name} configuration file is valid.\n`);
        return 0;
      },
    },
  };
}

/** The reason after validate's "… configuration file is invalid: " (a ConfigError without its `config: ` tag). */
async function invalidDetail(err: unknown): Promise<string> {
  const { ConfigError } = await import('../common/config/index.ts');
  if (!(err instanceof ConfigError)) return describeError(err);
  const [only] = err.problems;
  // A missing file: SPIRE's own sentence, which names the file already.
  if (err.problems.length === 1 && only!.path === '' && (err.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return only!.message;
  return err.message.replace(/^config: /, '');
}
