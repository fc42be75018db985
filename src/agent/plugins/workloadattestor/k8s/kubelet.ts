// The kubelet's /pods endpoint, as SPIRE's k8s workload attestor reads it:
// the read-only port over plain HTTP on 127.0.0.1, or the secure port over
// TLS with a bearer token (re-read every reload_interval), a client
// certificate, or nothing (use_anonymous_authentication). On the secure port
// the kubelet's certificate is checked against kubelet_ca_path (default: the
// cluster CA), except with skip_kubelet_verification; without a node name the
// kubelet is reached on 127.0.0.1 and only the chain is checked, not the name
// (as SPIRE does: the kubelet's serving certificate names the node).

import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { Pod } from './selectors.ts';

export const DEFAULT_KUBELET_CA_PATH = '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt';
export const DEFAULT_TOKEN_PATH = '/var/run/secrets/kubernetes.io/serviceaccount/token';
const REQUEST_TIMEOUT_MS = 10_000;
const MAX_BODY_BYTES = 64 * 1024 * 1024;

export interface KubeletClientConfig {
  readonly secure: boolean;
  readonly port: number;
  /** Empty: 127.0.0.1. */
  readonly nodeName: string;
  readonly skipKubeletVerification: boolean;
  readonly kubeletCaPath: string;
  readonly tokenPath: string;
  readonly certificatePath: string;
  readonly privateKeyPath: string;
  readonly useAnonymousAuthentication: boolean;
  readonly reloadIntervalMs: number;
}

interface Credentials {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly token?: string;
  readonly loadedAt: number;
}

export class KubeletClient {
  readonly #c: KubeletClientConfig;
  #creds: Credentials | undefined;

  constructor(config: KubeletClientConfig) {
    this.#c = config;
    if (config.secure) this.#load(); // configuration errors surface at start-up
  }

  #load(): Credentials {
    const c = this.#c;
    const now = Date.now();
    if (this.#creds && now - this.#creds.loadedAt < c.reloadIntervalMs) return this.#creds;
    const read = (what: string, path: string): string => {
      try {
        return readFileSync(path, 'utf8');
      } catch (err) {
        throw new Error(`unable to load ${what}: ${(err as Error).message}`, { cause: err });
      }
    };
    let creds: Credentials = { loadedAt: now };
    if (!c.skipKubeletVerification) creds = { ...creds, ca: read('kubelet CA', c.kubeletCaPath || DEFAULT_KUBELET_CA_PATH) };
    if (!c.useAnonymousAuthentication) {
      if (c.certificatePath !== '' || c.privateKeyPath !== '') {
        creds = { ...creds, cert: read('certificate', c.certificatePath), key: read('private key', c.privateKeyPath) };
      } else {
        creds = { ...creds, token: read('token', c.tokenPath || DEFAULT_TOKEN_PATH).trim() };
      }
    }
    this.#creds = creds;
    return creds;
  }

  /** The kubelet's pod list. */
  async pods(): Promise<Pod[]> {
    const c = this.#c;
    const host = c.secure ? c.nodeName || '127.0.0.1' : '127.0.0.1';
    const creds = c.secure ? this.#load() : undefined;
    const opts: RequestOptions = {
      method: 'GET',
      host,
      port: c.port,
      path: '/pods',
      timeout: REQUEST_TIMEOUT_MS,
      headers: { Accept: 'application/json', ...(creds?.token ? { Authorization: `Bearer ${creds.token}` } : {}) },
    };
    if (c.secure) {
      Object.assign(opts, {
        ca: creds?.ca,
        cert: creds?.cert,
        key: creds?.key,
        rejectUnauthorized: !c.skipKubeletVerification,
        // Reached on 127.0.0.1: the chain is checked (ca), the name is not.
        ...(c.nodeName === '' && !c.skipKubeletVerification ? { checkServerIdentity: () => undefined } : {}),
      });
    }
    const body = await new Promise<string>((ok, fail) => {
      const req = (c.secure ? httpsRequest : httpRequest)(opts, (res) => {
        const parts: Buffer[] = [];
        let size = 0;
        res.on('data', (d: Buffer) => {
          size += d.length;
          if (size > MAX_BODY_BYTES) req.destroy(new Error(`kubelet pods response larger than ${MAX_BODY_BYTES} bytes`));
          else parts.push(d);
        });
        res.once('end', () => {
          const text = Buffer.concat(parts).toString('utf8');
          if (res.statusCode !== 200) fail(new Error(`unexpected status code on pods response: ${res.statusCode} ${text.slice(0, 1024)}`));
          else ok(text);
        });
        res.once('error', fail);
      });
      req.once('timeout', () => req.destroy(new Error(`kubelet did not answer within ${REQUEST_TIMEOUT_MS} ms`)));
      req.once('error', (err) => fail(new Error(`unable to perform request: ${err.message}`, { cause: err })));
      req.end();
    });
    let list: { items?: Pod[] };
    try {
      list = JSON.parse(body);
    } catch (err) {
      throw new Error(`unable to parse kubelet response: ${(err as Error).message}`, { cause: err });
    }
    return (list.items ?? []).filter((p) => p.metadata?.uid);
  }
}

