// Tells the Notifier plugins about the trust domain's own bundle: once when
// the server starts (a failure stops it, as SPIRE's BundleLoaded does) and
// after every change the datastore reports (a failure is logged; the next
// change tries again). Calls are serialized so notifiers never see an older
// bundle after a newer one.
import { X509Certificate } from 'node:crypto';
import type { Logger } from '../common/log.ts';
import type { OwnBundle } from './own-bundle.ts';
import type { NotifiedBundle, Notifier } from './plugins/notifier/types.ts';

function snapshot(own: OwnBundle, trustDomain: string): NotifiedBundle {
  const stored = own.stored;
  return {
    trustDomain,
    sequenceNumber: Number(stored?.sequenceNumber ?? 0),
    x509Authorities: (stored?.x509Authorities ?? []).map((a) => new X509Certificate(a.der)),
  };
}

/** Notifies `bundleLoaded` now; returns the function that stops the `bundleUpdated` notifications. */
export async function startNotifiers(notifiers: readonly Notifier[], own: OwnBundle, trustDomain: string, log: Logger): Promise<() => void> {
  if (notifiers.length === 0) return () => undefined;
  const loaded = snapshot(own, trustDomain);
  for (const n of notifiers) await n.bundleLoaded?.(loaded);
  let chain = Promise.resolve();
  return own.onChange(() => {
    const bundle = snapshot(own, trustDomain);
    chain = chain.then(async () => {
      for (const n of notifiers) {
        await n.bundleUpdated?.(bundle).catch((err: unknown) => log.error({ err, sequence_number: bundle.sequenceNumber }, 'Notifier failed to handle the bundle update'));
      }
    });
  });
}
