// A Workload API client over the agent's Unix socket, and its
// FetchJWTBundles stream kept open: re-opened with go-spiffe's backoff
// (linear, capped at 30 s) whenever it fails, while the caller keeps what
// it last had. Used by herald-authz and herald-oidc.
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { serviceClient, Services } from '../grpc/protos.ts';
import { SECURITY_HEADER } from '../../spiffe/workload-api.ts';
import type { WireClient } from './types.ts';

export type WorkloadApiClient = WireClient<typeof Services.workload>;

export function workloadApiClient(socketPath: string): WorkloadApiClient {
  return new (serviceClient(Services.workload))(`unix:${socketPath}`, grpc.credentials.createInsecure());
}

/** The security header every Workload API request carries. */
export function workloadApiMetadata(): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set(SECURITY_HEADER, 'true');
  return md;
}

export interface JwtBundlesFollower {
  /** Stops the stream (the client stays open: its owner closes it). */
  close(): void;
}

/**
 * Calls `onBundles` with every FetchJWTBundles message (JWKS by trust
 * domain key). `onFailure` is the log line's end, saying what the caller
 * keeps meanwhile.
 */
export function followJwtBundles(
  client: WorkloadApiClient,
  opts: { readonly log: Logger; readonly onBundles: (bundles: Record<string, Buffer>) => void; readonly keeping: string },
): JwtBundlesFollower {
  let closed = false;
  let failures = 0;
  let stream: grpc.ClientReadableStream<unknown> | undefined;
  const open = (): void => {
    if (closed) return;
    const call = client.FetchJWTBundles({}, workloadApiMetadata());
    stream = call;
    call.on('data', (m: { bundles: Record<string, Buffer> }) => {
      failures = 0;
      opts.onBundles(m.bundles);
    });
    call.on('error', (err: grpc.ServiceError) => {
      if (closed) return;
      failures++;
      const delay = Math.min(30_000, 1000 * failures);
      opts.log.warn({ err: err.details || err.message, retry_in_ms: delay }, `Workload API JWT bundle stream failed; ${opts.keeping}`);
      setTimeout(open, delay).unref();
    });
  };
  open();
  return {
    close() {
      closed = true;
      stream?.cancel();
    },
  };
}
