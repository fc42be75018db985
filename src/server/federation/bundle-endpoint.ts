// The SPIFFE bundle endpoint (SPIRE pkg/server/endpoints/bundle): this
// trust domain's bundle as SPIFFE bundle JSON over HTTPS, for other
// domains to federate with. https_spiffe authenticates with the server's
// own X509-SVID; https_web with a certificate from files.
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { Logger } from 'pino';
import { HeraldError, errorMessage } from '../../common/errors.ts';
import type { BundleEndpointConfig } from '../config-runtime.ts';
import { storedToSpiffeBundle } from '../bundle-convert.ts';
import type { OwnBundle } from '../own-bundle.ts';
import type { ServerSvid } from '../svid/rotator.ts';

export interface BundleEndpoint {
  readonly port: number;
  close(): Promise<void>;
}

export async function startBundleEndpoint(cfg: BundleEndpointConfig, deps: { ownBundle: OwnBundle; serverSvid: ServerSvid; log: Logger }): Promise<BundleEndpoint> {
  const { log } = deps;
  let identity: { cert: string; key: string };
  let fileTimer: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;
  const loadFiles = async (files: { certFilePath: string; keyFilePath: string }): Promise<{ cert: string; key: string }> => {
    try {
      return { cert: await readFile(files.certFilePath, 'utf8'), key: await readFile(files.keyFilePath, 'utf8') };
    } catch (err) {
      throw new HeraldError('ERR_CONFIG_BUNDLE_ENDPOINT', `bundle endpoint: cannot read serving certificate files: ${errorMessage(err)}`, { cause: err });
    }
  };
  if (cfg.profile.type === 'https_spiffe') {
    const cur = deps.serverSvid.current;
    identity = { cert: cur.certChainPem, key: cur.privateKeyPem };
  } else {
    identity = await loadFiles(cfg.profile.servingCertFile);
  }

  const server: Server = createServer({ ...identity, minVersion: 'TLSv1.2' }, (req, res) => {
    if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    const stored = deps.ownBundle.stored;
    if (!stored) {
      res.writeHead(503, { 'content-type': 'text/plain' }).end('bundle not available\n');
      return;
    }
    const body = storedToSpiffeBundle(stored).marshal();
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;

  if (cfg.profile.type === 'https_spiffe') {
    unsubscribe = deps.serverSvid.onRenew((svid) => server.setSecureContext({ cert: svid.certChainPem, key: svid.privateKeyPem, minVersion: 'TLSv1.2' }));
  } else {
    const files = cfg.profile.servingCertFile;
    // Re-read the files periodically so a renewed certificate is picked up without restart.
    fileTimer = setInterval(() => {
      loadFiles(files)
        .then((id) => server.setSecureContext({ ...id, minVersion: 'TLSv1.2' }))
        .catch((err) => log.warn({ err: errorMessage(err) }, 'Failed to reload the bundle endpoint certificate; keeping the current one'));
    }, files.fileSyncIntervalMs);
    fileTimer.unref();
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new HeraldError('ERR_UNAVAILABLE_LISTEN', `bundle endpoint: cannot listen on ${cfg.address}:${cfg.port}: ${errorMessage(err)}`, { cause: err })));
    server.listen(cfg.port, cfg.address, resolve);
  });
  const port = (server.address() as { port: number }).port;
  log.info({ address: `${cfg.address}:${port}`, profile: cfg.profile.type }, 'Serving bundle endpoint');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        unsubscribe?.();
        if (fileTimer) clearInterval(fileTimer);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
