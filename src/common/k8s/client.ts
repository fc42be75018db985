// A small Kubernetes API client: JSON over HTTPS with a bearer token or a
// client certificate, configured from a kubeconfig file or, inside a pod,
// from the service account's mounted token (client-go's rest.InClusterConfig).
// What Herald's Kubernetes plugins need (TokenReview, get Pod/Node, patch a
// ConfigMap, list/watch), nothing more: no client-go-sized dependency.
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';

export interface KubeClientConfig {
  /** https://host:port of the API server. */
  readonly server: string;
  readonly caPem?: string;
  readonly insecureSkipTlsVerify?: boolean;
  readonly token?: string;
  /** Re-read on each request (projected tokens rotate). */
  readonly tokenFile?: string;
  readonly certPem?: string;
  readonly keyPem?: string;
}

/** A non-2xx answer of the API server, with its Status object's reason and message. */
export class KubeApiError extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(method: string, path: string, status: number, reason: string, message: string) {
    super(`kubernetes: ${method} ${path}: ${status} ${reason}${message ? `: ${message}` : ''}`);
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = reason;
  }
}

const IN_CLUSTER_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface RequestOptions {
  readonly body?: unknown;
  /** Default application/json; merge patches use application/merge-patch+json. */
  readonly contentType?: string;
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
}

export class KubeClient {
  readonly config: KubeClientConfig;

  constructor(config: KubeClientConfig) {
    if (!/^https?:\/\//.test(config.server)) throw new TypeError(`kubernetes: server ${JSON.stringify(config.server)} is not an http(s) URL`);
    this.config = config;
  }

  /** The client of a kubeconfig file (its current context, or `context`). */
  static fromKubeconfig(path: string, context?: string): KubeClient {
    return new KubeClient(parseKubeconfig(readFileSync(path, 'utf8'), dirname(resolve(path)), context, path));
  }

  /**
   * The pod's own service account: KUBERNETES_SERVICE_HOST/PORT and the token
   * and CA the kubelet mounts in `dir` (the token is re-read: it rotates).
   */
  static inCluster(env: NodeJS.ProcessEnv = process.env, dir = IN_CLUSTER_DIR): KubeClient {
    const host = env.KUBERNETES_SERVICE_HOST;
    const port = env.KUBERNETES_SERVICE_PORT;
    if (!host || !port) throw new Error('kubernetes: not running in a cluster (KUBERNETES_SERVICE_HOST/PORT unset) and no kubeconfig file configured');
    const h = host.includes(':') ? `[${host}]` : host;
    let caPem: string;
    try {
      caPem = readFileSync(`${dir}/ca.crt`, 'utf8');
    } catch (err) {
      throw new Error(`kubernetes: in-cluster config: cannot read ${dir}/ca.crt: ${(err as Error).message}`, { cause: err });
    }
    return new KubeClient({ server: `https://${h}:${port}`, caPem, tokenFile: `${dir}/token` });
  }

  /** A kubeconfig file when one is named, else the in-cluster config (what SPIRE's plugins do). */
  static load(kubeconfigPath?: string): KubeClient {
    return kubeconfigPath ? KubeClient.fromKubeconfig(kubeconfigPath) : KubeClient.inCluster();
  }

  get<T = any>(path: string, opts: RequestOptions = {}): Promise<T> { return this.request<T>('GET', path, opts); }
  create<T = any>(path: string, body: unknown, opts: RequestOptions = {}): Promise<T> { return this.request<T>('POST', path, { ...opts, body }); }
  mergePatch<T = any>(path: string, patch: unknown, opts: RequestOptions = {}): Promise<T> {
    return this.request<T>('PATCH', path, { ...opts, body: patch, contentType: 'application/merge-patch+json' });
  }
  delete<T = any>(path: string, opts: RequestOptions = {}): Promise<T> { return this.request<T>('DELETE', path, opts); }

  /** One request; resolves with the parsed JSON body, rejects with KubeApiError on a non-2xx status. */
  async request<T = any>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.send(method, path, opts);
    const text = await readBody(res);
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw statusError(method, path, res, text);
    if (!text) return undefined as T;
    // /readyz and /version-style endpoints answer text/plain.
    return (String(res.headers['content-type'] ?? '').includes('json') ? JSON.parse(text) : text) as T;
  }

  /**
   * A watch (`?watch=1` is added): calls `onEvent` for each event until the
   * server ends the stream or `signal` aborts; resolves then.
   */
  async watch(path: string, onEvent: (event: { type: string; object: any }) => void, signal?: AbortSignal): Promise<void> {
    const sep = path.includes('?') ? '&' : '?';
    const res = await this.send('GET', `${path}${sep}watch=1`, { signal, timeoutMs: 0 });
    if ((res.statusCode ?? 0) >= 300) {
      throw statusError('GET', path, res, await readBody(res));
    }
    let buf = '';
    try {
      for await (const chunk of res) {
        buf += (chunk as Buffer).toString('utf8');
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line) onEvent(JSON.parse(line) as { type: string; object: any });
        }
      }
    } catch (err) {
      if (!signal?.aborted) throw err;
    }
  }

  private send(method: string, path: string, opts: RequestOptions): Promise<IncomingMessage> {
    const url = new URL(path, this.config.server);
    const headers: Record<string, string> = { accept: 'application/json' };
    const token = this.config.tokenFile ? readFileSync(this.config.tokenFile, 'utf8').trim() : this.config.token;
    if (token) headers.authorization = `Bearer ${token}`;
    let payload: Buffer | undefined;
    if (opts.body !== undefined) {
      payload = Buffer.from(JSON.stringify(opts.body));
      headers['content-type'] = opts.contentType ?? 'application/json';
      headers['content-length'] = String(payload.length);
    }
    const tls = url.protocol === 'https:';
    const doRequest = tls ? httpsRequest : httpRequest;
    return new Promise((resolvePromise, reject) => {
      const req = doRequest(url, {
        method,
        headers,
        signal: opts.signal,
        ...(tls ? { ca: this.config.caPem, cert: this.config.certPem, key: this.config.keyPem, rejectUnauthorized: !this.config.insecureSkipTlsVerify } : {}),
      }, resolvePromise);
      const timeoutMs = opts.timeoutMs ?? 30_000;
      if (timeoutMs > 0) req.setTimeout(timeoutMs, () => req.destroy(new Error(`kubernetes: ${method} ${url.pathname}: no answer within ${timeoutMs} ms`)));
      req.on('error', (err) => reject(err.message.startsWith('kubernetes:') ? err : new Error(`kubernetes: ${method} ${url.pathname}: ${err.message}`, { cause: err })));
      req.end(payload);
    });
  }
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolvePromise(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
  });
}

/** A kubeconfig's context as a client config (files named in it are relative to the kubeconfig). */
export function parseKubeconfig(text: string, baseDir: string, context?: string, source = 'kubeconfig'): KubeClientConfig {
  const doc = parseYaml(text) as any;
  const fail = (what: string): never => { throw new Error(`kubernetes: ${source}: ${what}`); };
  if (doc === null || typeof doc !== 'object') fail('not a kubeconfig (no YAML mapping)');
  const named = (list: unknown, name: string, kind: string): any => {
    const item = Array.isArray(list) ? list.find((x: any) => x?.name === name) : undefined;
    return item?.[kind] ?? fail(`${kind} ${JSON.stringify(name)} not found`);
  };
  const ctxName: string = context ?? doc['current-context'] ?? fail('no current-context');
  const ctx = named(doc.contexts, ctxName, 'context');
  const cluster = named(doc.clusters, ctx.cluster, 'cluster');
  const user = ctx.user ? named(doc.users, ctx.user, 'user') : {};
  const file = (p: string) => readFileSync(resolve(baseDir, p), 'utf8');
  const data = (inline: unknown, path: unknown): string | undefined =>
    typeof inline === 'string' ? Buffer.from(inline, 'base64').toString('utf8') : typeof path === 'string' ? file(path) : undefined;
  return {
    server: cluster.server ?? fail(`cluster ${JSON.stringify(ctx.cluster)} has no server`),
    caPem: data(cluster['certificate-authority-data'], cluster['certificate-authority']),
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'] === true,
    token: typeof user.token === 'string' ? user.token : undefined,
    tokenFile: typeof user.tokenFile === 'string' ? resolve(baseDir, user.tokenFile) : undefined,
    certPem: data(user['client-certificate-data'], user['client-certificate']),
    keyPem: data(user['client-key-data'], user['client-key']),
  };
}

/** A kubeconfig (YAML) for a server, CA and bearer token: what tests and users hand to kubectl and plugins. */
export function kubeconfigYaml(server: string, caPem: string, token: string, name = 'herald'): string {
  const ca = Buffer.from(caPem).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    `clusters: [{name: ${name}, cluster: {server: "${server}", certificate-authority-data: ${ca}}}]`,
    `users: [{name: ${name}, user: {token: "${token}"}}]`,
    `contexts: [{name: ${name}, context: {cluster: ${name}, user: ${name}}}]`,
    `current-context: ${name}`,
    '',
  ].join('\n');
}

/** A refused request's error: the API server's Status (reason, message) when the body is one, else the start of the body. */
function statusError(method: string, path: string, res: IncomingMessage, text: string): KubeApiError {
  let reason = res.statusMessage ?? '';
  let message = text.slice(0, 500);
  try {
    const s = JSON.parse(text) as { reason?: string; message?: string };
    reason = s.reason ?? reason;
    message = s.message ?? message;
  } catch { /* not a Status object */ }
  return new KubeApiError(method, path, res.statusCode ?? 0, reason, message);
}
