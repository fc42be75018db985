// A small command tree in the style of SPIRE's CLI (`spire-server entry
// create …`): each leaf command parses its own Go-style flags and returns an
// exit code; unknown commands print the available ones.
import { HeraldError, errorMessage } from '../common/errors.ts';
import { rpcErrorText } from './grpc-status-text.ts';
import { FlagError, parseFlags, type FlagSpecs, type ParsedFlags } from './flags.ts';

export interface CliIo {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown };
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
}

export interface Command {
  readonly synopsis: string;
  run(args: readonly string[], io: CliIo): Promise<number>;
}

export type CommandTree = { readonly [name: string]: Command | CommandTree };

function isCommand(x: Command | CommandTree): x is Command {
  return typeof (x as Command).run === 'function';
}

export async function runCli(binary: string, tree: CommandTree, argv: readonly string[], io: CliIo): Promise<number> {
  let node: Command | CommandTree = tree;
  const path: string[] = [];
  let i = 0;
  while (!isCommand(node)) {
    const name = argv[i];
    const child: Command | CommandTree | undefined = name === undefined ? undefined : node[name];
    if (!child) {
      const help = name === undefined || name === '-h' || name === '-help' || name === '--help';
      (help ? io.stdout : io.stderr).write(usageOf(binary, path, node) + '\n');
      return help ? 0 : 127;
    }
    path.push(name!);
    node = child;
    i++;
  }
  try {
    return await node.run(argv.slice(i), io);
  } catch (err) {
    if (err instanceof FlagError) {
      // As Go's flag package: the error, then the usage (which ends in a newline).
      io.stderr.write(`${err.goMessage}\n${err.usage}`);
      return 1;
    }
    // spire-agent's API commands print their errors bare (no "Error: ").
    io.stderr.write((err as { bare?: unknown }).bare === true ? `${describeError(err)}\n` : `Error: ${describeError(err)}\n`);
    return 1;
  }
}

function usageOf(binary: string, path: string[], tree: CommandTree): string {
  const lines = [`Usage: ${[binary, ...path].join(' ')} <command> [<args>]`, '', 'Available commands are:'];
  const names = Object.keys(tree).sort();
  const width = Math.max(...names.map((n) => n.length));
  for (const name of names) {
    const sub = tree[name]!;
    lines.push(`    ${name.padEnd(width)}    ${isCommand(sub) ? sub.synopsis : `${name} commands`}`);
  }
  return lines.join('\n');
}

/** An error for the user: a HeraldError's message, or a gRPC status as Go prints it (`rpc error: code = NotFound desc = …`, SPIRE's CLI). */
export function describeError(err: unknown): string {
  if (err instanceof HeraldError) return err.message;
  const e = err as { code?: number; details?: string };
  if (typeof e?.code === 'number' && typeof e.details === 'string') return rpcErrorText({ code: e.code, details: e.details });
  return errorMessage(err);
}

/** Parses flags; returns undefined after printing usage for -h. */
export function flagsOrHelp<const S extends FlagSpecs>(specs: S, args: readonly string[], command: string, io: CliIo): Extract<ParsedFlags<S>, { help: false }> | undefined {
  const parsed = parseFlags(specs, args, { command });
  if (parsed.help) {
    io.stdout.write(parsed.usage + '\n');
    return undefined;
  }
  return parsed;
}

/** SPIRE's "Label   : value" blocks. */
export function labelled(rows: readonly (readonly [string, string | number])[], width = 17): string {
  return rows.map(([k, v]) => `${k.padEnd(width)}: ${v}`).join('\n') + '\n';
}
