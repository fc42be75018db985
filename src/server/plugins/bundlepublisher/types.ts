// BundlePublisher plugins (SPIRE's plugin/server/bundlepublisher): publish
// the trust bundle somewhere (a bucket, a ConfigMap…) when it changes.
// Herald has none built in yet; a plugin goes in bundlepublisher/<name>/plugin.ts
// and one line of the server catalog's BuiltIns.
import type { X509Certificate } from 'node:crypto';

export interface BundlePublisher {
  publishBundle(bundle: { readonly trustDomain: string; readonly x509Authorities: readonly X509Certificate[]; readonly sequenceNumber: number }): Promise<void>;
  close?(): Promise<void> | void;
}
