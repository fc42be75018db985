// The agent's end of Herald's entry watch (server api/entry-watch-service.ts):
// one stream on the current server client, over which the server says "your
// entries changed". The manager opens it after each successful sync (so a
// stream that ended, or one on a channel the SVID rotation replaced, is
// reopened at most once per sync) and syncs on each nudge. A SPIRE server
// answers UNIMPLEMENTED: then it is never tried again by this process.
import type { Logger } from 'pino';
import { GrpcCode } from '../common/errors.ts';
import { describeServerError, grpcCodeOf, type ServerClient } from './client/server-client.ts';

export class EntryWatch {
  readonly #log: Logger;
  readonly #onNudge: () => void;
  #open: { readonly client: ServerClient; cancel: () => void } | undefined;
  #unsupported = false;
  #closed = false;

  constructor(opts: { log: Logger; onNudge: () => void }) {
    this.#log = opts.log;
    this.#onNudge = opts.onNudge;
  }

  /** Whether a stream is open on some client. */
  get isOpen(): boolean {
    return this.#open !== undefined;
  }

  /** Opens the watch on `client` unless it is open there already (or the server has none). */
  ensureOpen(client: ServerClient): void {
    if (this.#closed || this.#unsupported || this.#open?.client === client) return;
    // A stream on a replaced client is on a closed channel: let it go.
    this.#open?.cancel();
    const open = { client, cancel: () => {} };
    this.#open = open;
    open.cancel = client.watchEntries(this.#onNudge, (err) => {
      if (this.#open === open) this.#open = undefined;
      if (grpcCodeOf(err) === GrpcCode.UNIMPLEMENTED) {
        this.#unsupported = true;
        this.#log.debug({}, 'The server offers no entry watch (a SPIRE server); entries are synced every sync_interval');
      } else {
        this.#log.debug({ err: err === undefined ? 'ended by the server' : describeServerError(err) }, 'Entry watch ended; reopening after the next sync');
      }
    });
  }

  close(): void {
    this.#closed = true;
    this.#open?.cancel();
    this.#open = undefined;
  }
}
