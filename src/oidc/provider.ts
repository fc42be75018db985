// herald-oidc: the OIDC discovery provider (SPIRE's oidc-discovery-provider)
// as its own process, not a listener of herald-server. Why: it faces the
// internet (cloud IAM fetches the JWKS over public HTTPS) while the server
// should not, and it needs nothing secret — through an agent's Workload API
// it runs on any node with no access to the server at all. The same split
// SPIRE makes, with SPIRE's config keys.
import { once } from 'node:events';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { OidcConfig } from './config.ts';
import { createOidcHandler } from './handler.ts';
import { serverApiJwksSource, workloadApiJwksSource, type JwksSource } from './key-sources.ts';
import { fileServingCert, type ServingCertSource } from './serving-cert.ts';

export interface RunningProvider {
  /** host:port, or the socket path. */
  readonly address: string;
  readonly source: JwksSource;
  stop(): Promise<void>;
}

export async function startOidcProvider(cfg: OidcConfig, log: Logger): Promise<RunningProvider> {
  const source = cfg.source.kind === 'workload_api' ? workloadApiJwksSource(cfg.source.socketPath, cfg.source.trustDomain, log) : serverApiJwksSource(cfg.source.socketPath, cfg.source.pollIntervalMs, log);
  let certs: ServingCertSource | undefined;
  let server: Server | undefined;
  try {
    const handler = createOidcHandler(cfg, source, log);
    const l = cfg.listener;
    if (l.kind === 'https') {
      certs = await fileServingCert({ certFile: l.certFile, keyFile: l.keyFile, intervalMs: l.fileSyncIntervalMs }, log);
      const https = createHttpsServer({ ...certs.current(), minVersion: 'TLSv1.2' }, handler);
      certs.onChange((c) => https.setSecureContext({ ...c, minVersion: 'TLSv1.2' }));
      server = https;
    } else {
      server = createHttpServer(handler);
    }
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    if (l.kind === 'unix') {
      await rm(l.socketPath, { force: true });
      server.listen(l.socketPath);
    } else {
      server.listen(l.port, l.host);
    }
    await once(server, 'listening');
    const a = server.address();
    const address = typeof a === 'string' ? a : `${(a as AddressInfo).address}:${(a as AddressInfo).port}`;
    log.info({ address, scheme: l.kind === 'https' ? 'https' : 'http', source: cfg.source.kind }, 'Serving OIDC discovery');
    const srv = server;
    return {
      address,
      source,
      async stop() {
        certs?.close();
        source.close();
        srv.closeAllConnections();
        await new Promise<void>((r) => srv.close(() => r()));
      },
    };
  } catch (err) {
    certs?.close();
    source.close();
    server?.close();
    throw err;
  }
}
