// Notifier plugins (SPIRE's plugin/server/notifier): told when the trust
// bundle is loaded at startup and whenever it changes. A plugin goes in
// notifier/<name>/plugin.ts and one line of the server catalog's BuiltIns.
import type { X509Certificate } from 'node:crypto';

/** The trust domain's own bundle as notifiers see it. */
export interface NotifiedBundle {
  readonly trustDomain: string;
  readonly sequenceNumber: number;
  readonly x509Authorities: readonly X509Certificate[];
}

export interface Notifier {
  /** The plugin name, for logs. */
  readonly name: string;
  /** At startup, once the bundle is loaded (SPIRE's NotifyAndAdvise BundleLoaded): a failure stops the server. */
  bundleLoaded?(bundle: NotifiedBundle): Promise<void>;
  /** After the bundle was updated (SPIRE's BundleUpdated event): a failure is logged. */
  bundleUpdated?(bundle: NotifiedBundle): Promise<void>;
  close?(): Promise<void> | void;
}
