// A small Kubernetes API client: JSON requests and list+watch informers over
// node:https, credentials from a kubeconfig file or from the pod's service
// account (in-cluster). Only what Herald's Kubernetes plugins need; no
// generated types.

import { readFileSync } from 'node:fs';
import { Agent, request as httpsRequest, type RequestOptions } from 'node:https';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { isAbsolute, dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** Service-account tokens are rotated by the kubelet: read the file again after this long. */
const TOKEN_RELOAD_MS = 60_000;

export interface KubeClientConfig {
  /** https://host:port */
  readonly server: string;
  /** PEM; undefined: the system roots. */
  readonly ca?: string;
  /** Bearer token, or a file holding it (re-read every minute). */
  readonly token?: string;
  readonly tokenFile?: string;
  /** PEM client certificate and key. */
  readonly cert?: string;
  readonly key?: string;
}

/** A non-2xx answer from the API server, with its status code and Status reason. */
export class KubeApiError extends Error {
  readonly status: number;
  readonly reason: string;

  constructor(status: number, reason: string, message: string) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

/** kubeconfig (current context, or `context`) → client config. Relative file paths are relative to the kubeconfig. */
export function kubeconfigClientConfig(path: string, context?: string): KubeClientConfig {
  let doc: any;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read kubeconfig ${path}: ${(err as Error).message}`, { cause: err });
  }
  const ctxName = context ?? doc?.['current-context'];
  const named = (list: unknown, name: unknown, what: string): any => {
    const found = Array.isArray(list) ? list.find((x: any) => x?.name === name) : undefined;
    if (!found) throw new Error(`kubeconfig ${path}: no ${what} named ${JSON.stringify(name)}`);
    return found[what];
  };
  const ctx = named(doc?.contexts, ctxName, 'context');
  const cluster = named(doc?.clusters, ctx?.cluster, 'cluster');
  const user = ctx?.user === undefined ? {} : named(doc?.users, ctx.user, 'user');
  const base = dirname(path);
  const file = (p: string | undefined): string | undefined => (p ? readFileSync(isAbsolute(p) ? p : resolve(base, p), 'utf8') : undefined);
  const data = (b64: string | undefined): string | undefined => (b64 ? Buffer.from(b64, 'base64').toString('utf8') : undefined);
  if (typeof cluster?.server !== 'string') throw new Error(`kubeconfig ${path}: cluster ${JSON.stringify(ctx?.cluster)} has no server`);
  return {
    server: cluster.server,
    ca: data(cluster['certificate-authority-data']) ?? file(cluster['certificate-authority']),
    token: user?.token,
    tokenFile: user?.tokenFile ?? user?.['token-file'],
    cert: data(user?.['client-certificate-data']) ?? file(user?.['client-certificate']),
    key: data(user?.['client-key-data']) ?? file(user?.['client-key']),
  };
}

/** The pod's own service account, as client-go's rest.InClusterConfig. */
export function inClusterClientConfig(env: NodeJS.ProcessEnv = process.env): KubeClientConfig {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) {
    throw new Error('not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set): set kube_config_file');
  }
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ca: readFileSync(`${SA_DIR}/ca.crt`, 'utf8'),
    tokenFile: `${SA_DIR}/token`,
  };
}

/** A kubeconfig file if given, else in-cluster. */
export function clientConfigFrom(kubeconfigPath: string | undefined): KubeClientConfig {
  return kubeconfigPath ? kubeconfigClientConfig(kubeconfigPath) : inClusterClientConfig();
}

export class KubeClient {
  readonly #url: URL;
  readonly #agent: Agent | undefined;
  readonly #config: KubeClientConfig;
  #token: { value: string | undefined; readAt: number } = { value: undefined, readAt: 0 };

  constructor(config: KubeClientConfig) {
    this.#config = config;
    this.#url = new URL(config.server);
    if (this.#url.protocol !== 'https:' && this.#url.protocol !== 'http:') {
      throw new Error(`Kubernetes API server ${JSON.stringify(config.server)} is not an http(s) URL`);
    }
    this.#agent =
      this.#url.protocol === 'https:'
        ? new Agent({ keepAlive: true, ...(config.ca ? { ca: config.ca } : {}), ...(config.cert ? { cert: config.cert, key: config.key } : {}) })
        : undefined;
  }

  #bearer(): string | undefined {
    if (this.#config.token) return this.#config.token;
    if (!this.#config.tokenFile) return undefined;
    const now = Date.now();
    if (this.#token.value === undefined || now - this.#token.readAt > TOKEN_RELOAD_MS) {
      this.#token = { value: readFileSync(this.#config.tokenFile, 'utf8').trim(), readAt: now };
    }
    return this.#token.value;
  }

  #open(method: string, path: string, headers: Record<string, string>, signal?: AbortSignal): { req: ReturnType<typeof httpsRequest>; res: Promise<IncomingMessage> } {
    const token = this.#bearer();
    const opts: RequestOptions = {
      method,
      protocol: this.#url.protocol,
      hostname: this.#url.hostname.replace(/^\[|\]$/g, ''),
      port: this.#url.port,
      path: this.#url.pathname.replace(/\/$/, '') + path,
      headers: { Accept: 'application/json', ...headers, ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      ...(this.#agent ? { agent: this.#agent } : {}),
      ...(signal ? { signal } : {}),
    };
    const req = (this.#url.protocol === 'https:' ? httpsRequest : httpRequest)(opts);
    const res = new Promise<IncomingMessage>((ok, fail) => {
      req.once('response', ok);
      req.once('error', fail);
    });
    return { req, res };
  }

  /** One JSON request; non-2xx → KubeApiError. */
  async request<T = any>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const { req, res } = this.#open(method, path, payload === undefined ? {} : { 'Content-Type': contentType });
    req.end(payload);
    const r = await res;
    const text = await readAll(r);
    if ((r.statusCode ?? 0) < 200 || (r.statusCode ?? 0) >= 300) throw apiError(r.statusCode ?? 0, text, `${method} ${path}`);
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  /** Streams watch events (`watch=1` is added to `path`) until the server ends the watch or `signal` aborts. */
  async watch(path: string, onEvent: (e: { type: string; object: any }) => void, signal?: AbortSignal): Promise<void> {
    const { req, res } = this.#open('GET', `${path}${path.includes('?') ? '&' : '?'}watch=1`, {}, signal);
    req.end();
    const r = await res;
    if ((r.statusCode ?? 0) !== 200) throw apiError(r.statusCode ?? 0, await readAll(r), `watch ${path}`);
    let buf = '';
    r.setEncoding('utf8');
    for await (const chunk of r) {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.trim() !== '') onEvent(JSON.parse(line));
      }
    }
  }

  close(): void {
    this.#agent?.destroy();
  }
}

function readAll(r: IncomingMessage): Promise<string> {
  return new Promise((ok, fail) => {
    const parts: Buffer[] = [];
    r.on('data', (c: Buffer) => parts.push(c));
    r.once('end', () => ok(Buffer.concat(parts).toString('utf8')));
    r.once('error', fail);
  });
}

function apiError(status: number, body: string, what: string): KubeApiError {
  let reason = '';
  let message = body.slice(0, 500);
  try {
    const s = JSON.parse(body);
    reason = s?.reason ?? '';
    message = s?.message ?? message;
  } catch {
    // not a Status object
  }
  return new KubeApiError(status, reason, `${what}: HTTP ${status}${reason ? ` ${reason}` : ''}: ${message}`);
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
}

/**
 * client-go's reflector in miniature: list, then watch from the list's
 * resourceVersion; a watch that ends is resumed from the last version seen,
 * a 410 Gone (version compacted away) lists again. Objects are keyed by
 * namespace/name.
 */
/** What an informer needs of a client. */
export interface WatchingClient {
  request<R = any>(method: string, path: string): Promise<R>;
  watch(path: string, onEvent: (e: { type: string; object: any }) => void, signal?: AbortSignal): Promise<void>;
}

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
        q.set('timeoutSeconds', String(240 + Math.floor(Math.random() * 120)));
        await this.#client.watch(`${this.#opts.path}?${q}`, (e: { type: string; object: T }) => {
          if (e.type === 'ERROR') {
            const status = (e.object as any)?.code;
            throw new KubeApiError(status ?? 500, (e.object as any)?.reason ?? '', `watch ${this.#opts.path}: ${(e.object as any)?.message ?? 'error event'}`);
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
