// The policy file, reloaded when it changes. A reload that fails to parse
// is refused: requests keep being decided by the last good policy.
import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import type { Logger } from 'pino';
import { errorMessage } from '../../../common/errors.ts';
import { parsePolicy, type Policy } from './policy.ts';

export class PolicyFile {
  readonly path: string;
  #policy: Policy;
  readonly #log: Logger;
  #listener: ((cur: Stats, prev: Stats) => void) | undefined;
  reloads = 0;
  rejectedReloads = 0;

  /** Loads the file now; throws PolicyError (naming the problem) if it is invalid. */
  constructor(path: string, log: Logger) {
    this.path = path;
    this.#log = log;
    this.#policy = parsePolicy(readFileSync(path, 'utf8'), path);
  }

  get policy(): Policy {
    return this.#policy;
  }

  /** Polls the file's mtime (works across editors' rename-on-save and bind mounts). */
  watch(intervalMs = 1000): void {
    this.#listener = (cur, prev) => {
      if (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size && cur.ino === prev.ino) return;
      this.reload();
    };
    watchFile(this.path, { interval: intervalMs, persistent: false }, this.#listener);
  }

  reload(): void {
    try {
      this.#policy = parsePolicy(readFileSync(this.path, 'utf8'), this.path);
      this.reloads++;
      this.#log.info({ path: this.path, rules: this.#policy.rules.length }, 'Authorization policy reloaded');
    } catch (err) {
      this.rejectedReloads++;
      this.#log.error({ path: this.path, err: errorMessage(err) }, 'Authorization policy reload refused; keeping the previous policy');
    }
  }

  close(): void {
    if (this.#listener) unwatchFile(this.path, this.#listener);
  }
}
