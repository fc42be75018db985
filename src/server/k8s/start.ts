// Starts the controller_manager module in herald-server: a Kubernetes client
// from kube_config_file (or in-cluster) and the entry controller. The server
// does not wait for the API server: the controller lists and watches in the
// background and retries, so a cluster outage never stops the server.
import type { Logger } from 'pino';
import { KubeClient } from '../../common/k8s/client.ts';
import type { TrustDomain } from '../../spiffe/trust-domain.ts';
import type { DataStore } from '../datastore/datastore.ts';
import type { ControllerManagerConfig } from './config.ts';
import { EntryController } from './controller.ts';

/** Starts the controller; resolves with its stop function. */
export function startControllerManager(config: ControllerManagerConfig, deps: { ds: DataStore; trustDomain: TrustDomain; log: Logger }): () => Promise<void> {
  const client = KubeClient.load(config.kubeConfigFile || undefined);
  const controller = new EntryController(config, { client, ...deps });
  deps.log.info({ cluster: config.clusterName, entry_id_prefix: config.entryIdPrefix }, 'Starting controller manager');
  controller.onReconcile((r) => deps.log.debug(r, 'Reconciled entries'));
  controller.start().then(
    () => deps.log.info('Controller manager synced'),
    (err) => deps.log.error({ err }, 'Controller manager failed to start'),
  );
  return async () => {
    await controller.stop();
  };
}
