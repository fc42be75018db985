// k8sbundle: writes the bundle's X.509 authorities (PEM) to a ConfigMap key,
// read-modify-write with the ConfigMap's resourceVersion so that servers
// racing on the same ConfigMap (HA) retry on a conflict instead of one
// silently overwriting a newer bundle with an older one.
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
}

/** client-go's retry.DefaultRetry: 5 attempts. */
const CONFLICT_ATTEMPTS = 5;

export function bundlePem(bundle: NotifiedBundle): string {
  return bundle.x509Authorities.map((c) => c.toString()).join('');
}

export class K8sBundleNotifier implements Notifier {
  readonly name = 'k8sbundle';
  readonly #config: K8sBundleConfig;
  readonly #log: Logger;

  constructor(config: K8sBundleConfig, log: Logger) {
    this.#config = config;
    this.#log = log;
  }

  bundleLoaded(bundle: NotifiedBundle): Promise<void> { return this.#update(bundle); }
  bundleUpdated(bundle: NotifiedBundle): Promise<void> { return this.#update(bundle); }

  async #update(bundle: NotifiedBundle): Promise<void> {
    const { namespace, configMap, configMapKey } = this.#config;
    const name = `${namespace}/${configMap}`;
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps/${encodeURIComponent(configMap)}`;
    const pem = bundlePem(bundle);
    try {
      // The kubeconfig is read each time: its credentials may rotate.
      const client = KubeClient.load(this.#config.kubeConfigFile);
      for (let attempt = 1; ; attempt++) {
        const current = await client.get(path).catch((err: unknown) => { throw new Error(`unable to get object ${name}: ${errorMessage(err)}`, { cause: err }); });
        if (current?.data?.[configMapKey] === pem) return;
        try {
          await client.mergePatch(path, { metadata: { resourceVersion: current.metadata.resourceVersion }, data: { [configMapKey]: pem } });
          this.#log.info({ [LogField.Path]: `configmaps/${name}/${configMapKey}`, [LogField.Count]: bundle.x509Authorities.length }, 'Bundle written to the ConfigMap');
          return;
        } catch (err) {
          if (!(err instanceof KubeApiError && err.status === 409) || attempt >= CONFLICT_ATTEMPTS) throw err;
        }
      }
    } catch (err) {
      throw new Error(`k8sbundle: unable to update: ${name}: ${errorMessage(err)}`, { cause: err });
    }
  }
}
