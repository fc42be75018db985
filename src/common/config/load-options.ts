// What loading a daemon's config takes (herald-server and herald-agent
// alike), and reading the file with SPIRE's messages.
import { errorMessage } from '../errors.ts';
import { ConfigError, type ConfigOverride, type Env } from './index.ts';
import { readConfigFileText } from './read-text.ts';

/** Parsed flags as parseFlags returns them (only explicitly set flags override the file). */
export interface ParsedRunFlags {
  readonly values: Readonly<Record<string, unknown>>;
  readonly set: ReadonlySet<string>;
}

export interface LoadConfigOptions {
  /** Working directory: relative paths (config file, data_dir, sockets, other files) resolve against it. Absolute. */
  readonly cwd: string;
  /** The `run` flags; supply configPath, expandEnv and overrides unless those are given below. */
  readonly flags?: ParsedRunFlags;
  /** Config file path (default: -config, else the shipped file's path). */
  readonly configPath?: string;
  /** Config text to use instead of reading configPath (configPath then only names it in messages). */
  readonly text?: string;
  /** SPIRE's -expandEnv (default: the flag). */
  readonly expandEnv?: boolean;
  /** Environment for expandEnv (pass process.env from the CLI). */
  readonly env?: Env;
  /** Extra overrides, applied after the flags'. */
  readonly overrides?: readonly ConfigOverride[];
}

export async function readConfigText(shown: string, abs: string): Promise<string> {
  try {
    return await readConfigFileText(abs, shown);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
    const message = missing ? `could not find config file ${abs}: please use the -config flag` : `cannot read config file: ${errorMessage(err)}`;
    throw new ConfigError([{ file: shown, path: '', message }], { cause: err });
  }
}
