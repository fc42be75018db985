// Tells the Notifier plugins about the trust domain's own bundle, as SPIRE's
// CA manager does: "bundle loaded" once when the server starts (a failure
// stops the server: the notifiers advise) and "bundle updated" after every
// change the datastore reports (a failure is logged; the next change tries
// again). Calls are serialized so a notifier never sees an older bundle after
// a newer one.
import { X509Certificate } from 'node:crypto';
import { errorMessage } from '../common/errors.ts';
import { LogField, type LogFields } from '../common/log-fields.ts';
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

/** Runs one event on every notifier; resolves with the errors (each logged as SPIRE does). */
async function notifyAll(notifiers: readonly Notifier[], event: 'bundle loaded' | 'bundle updated', log: Logger, call: (n: Notifier) => Promise<void> | undefined): Promise<unknown[]> {
  const errors: unknown[] = [];
  for (const n of notifiers) {
    const fields = { [LogField.PluginName]: n.name, [LogField.Event]: event } satisfies LogFields;
    try {
      await call(n);
      log.debug(fields, 'Notifier handled event');
    } catch (err) {
      errors.push(err);
      log[event === 'bundle loaded' ? 'error' : 'warn']({ ...fields, err }, 'Notifier failed to handle event');
    }
  }
  return errors;
}

/** Notifies "bundle loaded" now (throws when a notifier fails); returns the function that stops the "bundle updated" notifications. */
export async function startNotifiers(notifiers: readonly Notifier[], own: OwnBundle, trustDomain: string, log: Logger): Promise<() => void> {
  if (notifiers.length === 0) return () => undefined;
  const loaded = snapshot(own, trustDomain);
  const errors = await notifyAll(notifiers, 'bundle loaded', log, (n) => n.bundleLoaded?.(loaded));
  if (errors.length > 0) throw new Error(`notifier: bundle loaded: ${errors.map(errorMessage).join('; ')}`, { cause: errors[0] });
  let chain = Promise.resolve();
  return own.onChange(() => {
    const bundle = snapshot(own, trustDomain);
    chain = chain.then(async () => { await notifyAll(notifiers, 'bundle updated', log, (n) => n.bundleUpdated?.(bundle)); });
  });
}
