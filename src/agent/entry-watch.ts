// The agent's end of Herald's entry watch (server api/entry-watch-service.ts):
// one stream on the current server client, over which the server says "your
// entries changed". The manager opens it after each successful sync (so a
// stream that ended, or one on a channel the SVID rotation replaced, is
// reopened then) and syncs on each message. Opens are throttled: a stream
// that keeps ending (a proxy that resets it) is reopened at most once per
// `minReopenMs` on the same client. A server that answers UNIMPLEMENTED (a
// SPIRE server, or an older Herald) is asked again only on a new client or
// after UNSUPPORTED_RETRY_MS, so an agent that met one during a rolling
// upgrade gets its watch back.
import type { Logger } from 'pino';
import { GrpcCode } from '../common/errors.ts';
import { describeServerError, grpcCodeOf, type ServerClient } from './client/server-client.ts';

export const UNSUPPORTED_RETRY_MS = 10 * 60_000;

export interface EntryWatchOptions {
  log: Logger;
  onNudge: () => void;
  now: () => number;
  /** The least time between two opens on the same client (the agent's sync_interval). */
  minReopenMs: number;
}

export class EntryWatch {
  readonly #o: EntryWatchOptions;
  #open: { readonly client: ServerClient; cancel: () => void } | undefined;
  #lastOpen: { readonly client: ServerClient; readonly at: number } | undefined;
  #unsupported: { readonly client: ServerClient; readonly at: number } | undefined;
  #closed = false;

  constructor(opts: EntryWatchOptions) {
    this.#o = opts;
  }

  /** Whether a stream is open on some client. */
  get isOpen(): boolean {
    return this.#open !== undefined;
  }

  /** Opens the watch on `client` unless it is open there already, was opened there just now, or the server has none. */
  ensureOpen(client: ServerClient): void {
    if (this.#closed || this.#open?.client === client) return;
    const now = this.#o.now();
    const u = this.#unsupported;
    if (u !== undefined && u.client === client && now - u.at < UNSUPPORTED_RETRY_MS) return;
    const last = this.#lastOpen;
    if (last !== undefined && last.client === client && now - last.at < this.#o.minReopenMs) return;
    // A stream on a replaced client is on a closed channel: let it go.
    this.#open?.cancel();
    const open = { client, cancel: () => {} };
    this.#open = open;
    this.#lastOpen = { client, at: now };
    open.cancel = client.watchEntries(this.#o.onNudge, (err) => {
      if (this.#open === open) this.#open = undefined;
      if (grpcCodeOf(err) === GrpcCode.UNIMPLEMENTED) {
        if (this.#unsupported === undefined) this.#o.log.debug({}, 'The server offers no entry watch (a SPIRE server); entries are synced every sync_interval');
        this.#unsupported = { client, at: this.#o.now() };
      } else {
        this.#o.log.debug({ err: err === undefined ? 'ended by the server' : describeServerError(err) }, 'Entry watch ended; reopening after a later sync');
      }
    });
  }

  close(): void {
    this.#closed = true;
    this.#open?.cancel();
    this.#open = undefined;
  }
}
