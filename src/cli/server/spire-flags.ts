// SPIRE's CLI conventions that need no protos: Go's gRPC code names, the
// errors its runner prints, and its flag parsing. Apart from spire-output.ts
// so that `healthcheck` loads neither protobufjs nor grpc-js.
import { HeraldError } from '../../common/errors.ts';
import type { CliIo } from '../command.ts';
import { FlagError, flagUsage, parseFlags, type FlagSpecs, type ParsedFlags } from '../flags.ts';

/** gRPC code names as Go's codes.Code.String(). */
export { grpcCodeName as codeName } from '../grpc-status-text.ts';

/** An error spire-agent's API commands print as it is, without "Error: " (their adapter's ErrPrintln). */
export class BareCliError extends HeraldError {
  readonly bare = true;
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ERR_CLI', message, options);
  }
}

/** The error SPIRE's CLI prints after "Error: " (the message only; the runner adds the prefix). */
export class SpireCliError extends HeraldError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('ERR_CLI', message, options);
  }
}

/**
 * Parses flags as SPIRE's commands do. `-h`: the usage on stderr, then
 * "flag: help requested" (spire-server) or an empty line (spire-agent), and
 * exit 0 (returns undefined). spire-agent's API commands also repeat a flag
 * error after the usage.
 */
export function spireFlags<const S extends FlagSpecs>(specs: S, args: readonly string[], command: string, io: CliIo, kind: 'server' | 'agent'): Extract<ParsedFlags<S>, { help: false }> | undefined {
  let parsed: ParsedFlags<S>;
  try {
    parsed = parseFlags(specs, args, { command });
    // cliprinter's -output (and spire-agent's -format) reject an unknown format while parsing.
    if (!parsed.help) {
      for (const name of ['output', 'format'] as const) {
        const v = (parsed.values as Record<string, unknown>)[name];
        if (!('output' in specs) || typeof v !== 'string' || !parsed.set.has(name as never) || (name === 'format' && !(specs[name] as { goVar?: unknown }).goVar)) continue;
        if (!/^(json|pretty|prettyprint)$/i.test(v)) {
          const message = `invalid value ${JSON.stringify(v)} for flag -${name}: bad formatter flag: unknown format option: ${JSON.stringify(v)}`;
          throw new FlagError(message, name, flagUsage(specs, { command }));
        }
      }
    }
  } catch (err) {
    if (kind === 'agent' && err instanceof FlagError) throw new BareCliError(`${err.goMessage}\n${err.usage}${err.goMessage}`, { cause: err });
    throw err;
  }
  if (parsed.help) {
    io.stderr.write(parsed.usage + (kind === 'server' ? 'flag: help requested\n' : '\n'));
    return undefined;
  }
  return parsed;
}
