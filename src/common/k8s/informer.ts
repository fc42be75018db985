// client-go's reflector in miniature, over src/common/k8s/client.ts: list a
// collection, then watch it from the list's resourceVersion, keeping the
// objects in memory, so readers need no request of their own.
import { KubeApiError } from './client.ts';

/** What an informer needs of a client (src/common/k8s/client.ts's KubeClient). */
export interface WatchingClient {
  request<R = any>(method: string, path: string): Promise<R>;
  watch(path: string, onEvent: (e: { type: string; object: any }) => void, signal?: AbortSignal): Promise<void>;
}

interface Meta {
  readonly metadata?: { readonly uid?: string; readonly name?: string; readonly namespace?: string; readonly resourceVersion?: string };
}

export interface InformerOptions<T> {
  /** Collection path, e.g. /api/v1/pods. */
  readonly path: string;
  /** fieldSelector / labelSelector. */
  readonly query?: URLSearchParams;
  /** Called after each change with the object (DELETED: the last state); also once per object after every (re)list. */
  readonly onChange?: (type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: T) => void;
  /** After the first list and after each relist. */
  readonly onSync?: () => void;
  readonly onError?: (err: unknown) => void;
  /** Retry delay after a failed list or watch (ms), doubled up to 30 s. */
  readonly retryMs?: number;
  /** How long the server keeps one watch open before it ends it (and the informer resumes); default 4–6 min. */
  readonly watchTimeoutSeconds?: number;
}

/**
 * client-go's reflector in miniature: list, then watch from the list's
 * resourceVersion; a watch that ends is resumed from the last version seen,
 * a 410 Gone (version compacted away) lists again. Objects are keyed by
 * namespace/name.
 */
export class Informer<T extends Meta> {
  readonly #client: WatchingClient;
  readonly #opts: InformerOptions<T>;
  readonly #items = new Map<string, T>();
  readonly #abort = new AbortController();
  #synced!: () => void;
  /** Resolves after the first successful list. */
  readonly synced: Promise<void> = new Promise((ok) => (this.#synced = ok));
  #running: Promise<void> | undefined;

  constructor(client: WatchingClient, opts: InformerOptions<T>) {
    this.#client = client;
    this.#opts = opts;
  }

  start(): this {
    this.#running ??= this.#run();
    return this;
  }

  get items(): IterableIterator<T> {
    return this.#items.values();
  }

  get size(): number {
    return this.#items.size;
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    let delay = this.#opts.retryMs ?? 500;
    let rv: string | undefined;
    while (!signal.aborted) {
      try {
        if (rv === undefined) rv = await this.#list();
        delay = this.#opts.retryMs ?? 500;
        const q = new URLSearchParams(this.#opts.query);
        q.set('resourceVersion', rv);
        q.set('allowWatchBookmarks', 'true');
        q.set('timeoutSeconds', String(this.#opts.watchTimeoutSeconds ?? 240 + Math.floor(Math.random() * 120)));
        await this.#client.watch(`${this.#opts.path}?${q}`, (e: { type: string; object: T }) => {
          if (e.type === 'ERROR') {
            const status = (e.object as any)?.code;
            throw new KubeApiError('WATCH', this.#opts.path, status ?? 500, (e.object as any)?.reason ?? '', (e.object as any)?.message ?? 'error event');
          }
          rv = e.object.metadata?.resourceVersion ?? rv;
          if (e.type === 'BOOKMARK') return;
          const key = keyOf(e.object);
          if (e.type === 'DELETED') this.#items.delete(key);
          else this.#items.set(key, e.object);
          this.#opts.onChange?.(e.type as 'ADDED' | 'MODIFIED' | 'DELETED', e.object);
        }, signal);
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof KubeApiError && err.status === 410) {
          rv = undefined; // too old: list again, at once
          continue;
        }
        this.#opts.onError?.(err);
        await new Promise((ok) => setTimeout(ok, delay).unref());
        delay = Math.min(delay * 2, 30_000);
        rv = undefined;
      }
    }
  }

  async #list(): Promise<string> {
    const q = new URLSearchParams(this.#opts.query);
    const list = await this.#client.request<{ metadata?: { resourceVersion?: string }; items?: T[] }>('GET', `${this.#opts.path}?${q}`);
    const fresh = new Map<string, T>();
    for (const item of list.items ?? []) fresh.set(keyOf(item), item);
    const gone = [...this.#items.entries()].filter(([k]) => !fresh.has(k));
    this.#items.clear();
    for (const [k, v] of fresh) this.#items.set(k, v);
    for (const [, v] of gone) this.#opts.onChange?.('DELETED', v);
    for (const v of fresh.values()) this.#opts.onChange?.('MODIFIED', v);
    this.#synced();
    this.#opts.onSync?.();
    return list.metadata?.resourceVersion ?? '';
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#running?.catch(() => {});
  }
}

function keyOf(o: Meta): string {
  return `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}
