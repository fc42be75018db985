// Notifier plugins (SPIRE's plugin/server/notifier): told when the trust
// bundle changes. Herald has none built in yet; a plugin goes in
// notifier/<name>/plugin.ts and one line of the server catalog's BuiltIns.

export interface Notifier {
  /** Called after this trust domain's bundle was updated (SPIRE's BundleUpdated event). */
  bundleUpdated?(bundle: { readonly trustDomain: string; readonly sequenceNumber: number }): Promise<void>;
  close?(): Promise<void> | void;
}
