// Where herald-oidc's HTTPS certificate comes from. The interface is the
// plug point (SPIRE has serving_cert_file and ACME); Herald ships the file
// source: certificate and key read from PEM files, re-read when they
// change, so certbot, cert-manager or a spiffe-helper can renew them while
// the provider runs. New connections get the new certificate; a broken
// pair (half-written, key not matching) is logged and the old one kept.
import { createHash, X509Certificate, createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { errorMessage } from '../common/errors.ts';

export interface ServingCert {
  readonly cert: string;
  readonly key: string;
}

export interface ServingCertSource {
  current(): ServingCert;
  /** Called with each new certificate. */
  onChange(listener: (c: ServingCert) => void): void;
  close(): void;
}

async function readPair(certFile: string, keyFile: string): Promise<ServingCert> {
  const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
  const leaf = new X509Certificate(cert);
  if (!leaf.checkPrivateKey(createPrivateKey(key))) throw new Error(`the key in ${keyFile} does not match the certificate in ${certFile}`);
  return { cert, key };
}

/** Loads the pair now (a startup error when unreadable), then checks it every `intervalMs`. */
export async function fileServingCert(o: { certFile: string; keyFile: string; intervalMs: number }, log: Logger): Promise<ServingCertSource> {
  let current = await readPair(o.certFile, o.keyFile);
  const digest = (c: ServingCert) => createHash('sha256').update(c.cert).update('\0').update(c.key).digest('hex');
  let seen = digest(current);
  const listeners: ((c: ServingCert) => void)[] = [];
  const timer = setInterval(() => {
    readPair(o.certFile, o.keyFile).then(
      (next) => {
        const d = digest(next);
        if (d === seen) return;
        seen = d;
        current = next;
        log.info({ cert_file: o.certFile }, 'Serving certificate reloaded');
        for (const l of listeners) l(next);
      },
      (err: unknown) => log.warn({ err: errorMessage(err), cert_file: o.certFile }, 'Cannot reload the serving certificate; keeping the current one'),
    );
  }, o.intervalMs);
  timer.unref();
  return {
    current: () => current,
    onChange: (l) => void listeners.push(l),
    close: () => clearInterval(timer),
  };
}
