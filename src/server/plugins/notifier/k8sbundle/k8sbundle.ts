// k8sbundle: writes the bundle's X.509 authorities (PEM) to a ConfigMap key
// and, with webhook_label / api_service_label, to the caBundle of every
// webhook configuration and APIService labelled `<label>=true` (SPIRE's
// objects and patches). Each write is read-modify-write with the object's
// resourceVersion, so servers racing on the same object (HA) retry on a
// conflict instead of one overwriting a newer bundle with an older one.
// Labelled objects created later are watched and given the current bundle.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../../../common/log.ts';
import { LogField } from '../../../../common/log-fields.ts';
import { errorMessage } from '../../../../common/errors.ts';
import { KubeApiError, KubeClient } from '../../../../common/k8s/client.ts';
import type { NotifiedBundle, Notifier } from '../types.ts';

export interface K8sBundleConfig {
  readonly namespace: string;
  readonly configMap: string;
  readonly configMapKey: string;
  /** Undefined: the in-cluster config. */
  readonly kubeConfigFile: string | undefined;
  /** Mutating and validating webhook configurations labelled `<label>=true` get the bundle as caBundle. */
  readonly webhookLabel?: string | undefined;
  /** APIServices labelled `<label>=true` get the bundle as caBundle. */
  readonly apiServiceLabel?: string | undefined;
}

/** client-go's retry.DefaultRetry: 5 attempts. */
const CONFLICT_ATTEMPTS = 5;
/** A watch the API server ended (they time out) is started again after this long. */
const REWATCH_MS = 1_000;

export function bundlePem(bundle: NotifiedBundle): string {
  return bundle.x509Authorities.map((c) => c.toString()).join('');
}

/** One kind of object that holds the bundle. */
interface Target {
  /** The collection's path (a list, or the one ConfigMap's collection). */
  readonly collection: string;
  /** `?labelSelector=…` for labelled kinds; undefined for the ConfigMap. */
  readonly labelSelector?: string;
  readonly contentType: string;
  /** The patch that puts `pem` in `obj`, or undefined when it holds it already. */
  patch(obj: any, pem: string): object | undefined;
}

const b64 = (pem: string) => Buffer.from(pem).toString('base64');

/** SPIRE's webhook patch: every webhook's clientConfig.caBundle, merged by webhook name. */
function webhookTarget(kind: 'mutatingwebhookconfigurations' | 'validatingwebhookconfigurations', label: string): Target {
  return {
    collection: `/apis/admissionregistration.k8s.io/v1/${kind}`,
    labelSelector: `${label}=true`,
    contentType: 'application/strategic-merge-patch+json',
    patch(obj, pem) {
      const webhooks: any[] = obj.webhooks ?? [];
      if (webhooks.every((w) => w.clientConfig?.caBundle === b64(pem))) return undefined;
      return {
        metadata: { resourceVersion: obj.metadata.resourceVersion },
        webhooks: webhooks.map((w) => ({ name: w.name, admissionReviewVersions: w.admissionReviewVersions, sideEffects: w.sideEffects, clientConfig: { caBundle: b64(pem) } })),
      };
    },
  };
}

export class K8sBundleNotifier implements Notifier {
  readonly name = 'k8sbundle';
  readonly #config: K8sBundleConfig;
  readonly #log: Logger;
  readonly #configMap: Target;
  readonly #labelled: readonly Target[];
  #pem: string | undefined;
  readonly #stop = new AbortController();
  #watching = false;

  constructor(config: K8sBundleConfig, log: Logger) {
    this.#config = config;
    this.#log = log;
    const key = config.configMapKey;
    this.#configMap = {
      collection: `/api/v1/namespaces/${encodeURIComponent(config.namespace)}/configmaps`,
      contentType: 'application/merge-patch+json',
      patch: (obj, pem) => (obj?.data?.[key] === pem ? undefined : { metadata: { resourceVersion: obj.metadata.resourceVersion }, data: { [key]: pem } }),
    };
    this.#labelled = [
      ...(config.webhookLabel ? [webhookTarget('mutatingwebhookconfigurations', config.webhookLabel), webhookTarget('validatingwebhookconfigurations', config.webhookLabel)] : []),
      ...(config.apiServiceLabel
        ? [{
            collection: '/apis/apiregistration.k8s.io/v1/apiservices',
            labelSelector: `${config.apiServiceLabel}=true`,
            contentType: 'application/merge-patch+json',
            patch: (obj: any, pem: string) => (obj.spec?.caBundle === b64(pem) ? undefined : { metadata: { resourceVersion: obj.metadata.resourceVersion }, spec: { caBundle: b64(pem) } }),
          }]
        : []),
    ];
  }

  async bundleLoaded(bundle: NotifiedBundle): Promise<void> {
    await this.bundleUpdated(bundle);
    // Objects labelled later get the bundle too (SPIRE's informers).
    if (!this.#watching) {
      this.#watching = true;
      for (const t of this.#labelled) void this.#watch(t);
    }
  }

  /** Every object that holds the bundle; the errors of each, joined (SPIRE's "unable to update: …"). */
  async bundleUpdated(bundle: NotifiedBundle): Promise<void> {
    const pem = bundlePem(bundle);
    this.#pem = pem;
    let client: KubeClient;
    try {
      // The kubeconfig is read each time: its credentials may rotate.
      client = this.#client();
    } catch (err) {
      throw new Error(`k8sbundle: unable to update: ${errorMessage(err)}`, { cause: err });
    }
    const errors: string[] = [];
    const update = async (t: Target, name: string) => {
      const changed = await this.#update(client, t, name, pem).catch((err: unknown) => { errors.push(`${this.#display(t, name)}: ${errorMessage(err)}`); return false; });
      if (changed) this.#log.info({ [LogField.Path]: `${t.collection}/${name}`, [LogField.Count]: bundle.x509Authorities.length }, 'Bundle written');
    };
    await update(this.#configMap, this.#config.configMap);
    for (const t of this.#labelled) {
      const list = await client.get(`${t.collection}?labelSelector=${encodeURIComponent(t.labelSelector!)}`).catch((err: unknown) => {
        errors.push(`unable to get list: ${errorMessage(err)}`);
        return { items: [] };
      });
      for (const item of list.items ?? []) await update(t, item.metadata.name);
    }
    if (errors.length > 0) throw new Error(`k8sbundle: unable to update: ${errors.join(', ')}`);
  }

  close(): void {
    this.#stop.abort();
  }

  #client(): KubeClient {
    return KubeClient.load(this.#config.kubeConfigFile);
  }

  #display(t: Target, name: string): string {
    return t === this.#configMap ? `${this.#config.namespace}/${name}` : name;
  }

  /** Read-modify-write of one object; resolves true when it was written. */
  async #update(client: KubeClient, t: Target, name: string, pem: string): Promise<boolean> {
    const path = `${t.collection}/${encodeURIComponent(name)}`;
    for (let attempt = 1; ; attempt++) {
      const current = await client.get(path).catch((err: unknown) => { throw new Error(`unable to get object ${this.#display(t, name)}: ${errorMessage(err)}`, { cause: err }); });
      const patch = t.patch(current, pem);
      if (patch === undefined) return false;
      try {
        await client.request('PATCH', path, { body: patch, contentType: t.contentType });
        return true;
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 409) || attempt >= CONFLICT_ATTEMPTS) throw err;
      }
    }
  }

  /** Gives every labelled object of `t` that appears or changes the current bundle, until close(). */
  async #watch(t: Target): Promise<void> {
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      try {
        const client = this.#client();
        await client.watch(`${t.collection}?labelSelector=${encodeURIComponent(t.labelSelector!)}`, (e) => {
          if ((e.type !== 'ADDED' && e.type !== 'MODIFIED') || this.#pem === undefined) return;
          const name: string = e.object.metadata.name;
          this.#update(client, t, name, this.#pem).then(
            (changed) => { if (changed) this.#log.info({ [LogField.Path]: `${t.collection}/${name}` }, 'Bundle written'); },
            (err: unknown) => this.#log.error({ [LogField.Path]: `${t.collection}/${name}`, err }, 'Unable to set bundle for object'),
          );
        }, signal);
      } catch (err) {
        if (!signal.aborted) this.#log.warn({ [LogField.Path]: t.collection, err }, 'Watch for labelled objects failed; watching again');
      }
      await sleep(REWATCH_MS, undefined, { signal }).catch(() => undefined);
    }
  }
}
