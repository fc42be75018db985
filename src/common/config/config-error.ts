// The one error a config load throws: every problem found, each rendered as
// `file:line key.path: problem` (or `flag -name (key.path): problem`).
import { HeraldError } from '../errors.ts';
import { MAX_LISTED_PROBLEMS } from './limits.ts';

/** Where a value came from. */
export interface ConfigLocation {
  /** The config file name as given to the loader. */
  readonly file?: string;
  /** 1-based line in the file. */
  readonly line?: number;
  /** The command-line flag (without dash) that supplied the value. */
  readonly flag?: string;
}

export interface ConfigProblem extends ConfigLocation {
  /** Full key path, e.g. `server.federation.federates_with["a.org"].bundle_endpoint_url`; '' for syntax errors. */
  readonly path: string;
  readonly message: string;
}

export function formatProblem(p: ConfigProblem): string {
  // Paths and messages quote the input in excerpts; this caps whatever a validator quoted in full.
  const path = clip(p.path, 300);
  const message = clip(p.message, 500);
  const key = path === '' ? '' : `${path}: `;
  if (p.flag !== undefined) return `flag -${p.flag}${path === '' ? '' : ` (${path})`}: ${message}`;
  const file = p.file ?? '<config>';
  if (p.line !== undefined) return `${file}:${p.line}${path === '' ? ':' : ''} ${key}${message}`;
  return `${file}: ${key}${message}`;
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

export class ConfigError extends HeraldError {
  readonly problems: readonly ConfigProblem[];

  constructor(problems: readonly ConfigProblem[], options: { cause?: unknown } = {}) {
    if (problems.length === 0) throw new TypeError('ConfigError: needs at least one problem');
    const lines = problems.slice(0, MAX_LISTED_PROBLEMS).map(formatProblem);
    const more = problems.length - lines.length;
    if (more > 0) lines.push(`… and ${more} more`);
    const message =
      problems.length === 1
        ? `config: ${lines[0]}`
        : `config: ${problems.length} problems:\n${lines.map((l) => `  ${l}`).join('\n')}`;
    super('ERR_CONFIG_INVALID', message, options);
    this.problems = Object.freeze(problems.map((p) => Object.freeze({ ...p })));
  }
}
