// Bundles and tokens for a standalone ext_authz server (bin/herald-authz):
// a Workload API client of a herald-agent (or SPIRE agent). JWT bundles
// arrive on a FetchJWTBundles stream, re-opened with backoff when it drops;
// injected tokens are this process's own JWT-SVIDs, cached to half-life.
import type { Logger } from 'pino';
import { systemClock } from '../../../common/clock.ts';
import { HeraldError, errorMessage } from '../../../common/errors.ts';
import { followJwtBundles, workloadApiClient, workloadApiMetadata } from '../../../common/wire/workload-api-client.ts';
import { JwtBundle } from '../../../spiffe/bundle/jwt-bundle.ts';
import { BundleSet } from '../../../spiffe/bundle/set.ts';
import { SpiffeBundle } from '../../../spiffe/bundle/spiffe-bundle.ts';
import { TrustDomain } from '../../../spiffe/trust-domain.ts';
import { JwtSvidCache } from '../../../spiffe/jwt-svid-cache.ts';
import type { AuthzSource } from './service.ts';

export interface WorkloadApiSource extends AuthzSource {
  /** Resolves once the first bundles arrived. */
  ready(): Promise<void>;
  close(): void;
}

export function workloadApiSource(socketPath: string, log: Logger): WorkloadApiSource {
  const client = workloadApiClient(socketPath);
  let bundles = { source: new BundleSet(), generation: 0 };
  let markReady!: () => void;
  const ready = new Promise<void>((r) => (markReady = r));
  const follower = followJwtBundles(client, {
    log,
    keeping: 'keeping the current bundles',
    onBundles: (jwksByDomain) => {
      try {
        const set = new BundleSet(Object.entries(jwksByDomain).map(([key, jwks]) => SpiffeBundle.fromJwtBundle(JwtBundle.parse(TrustDomain.fromString(key), jwks))));
        bundles = { source: set, generation: bundles.generation + 1 };
        markReady();
      } catch (err) {
        log.error({ err: errorMessage(err) }, 'Ignoring an unparseable JWT bundles message');
      }
    },
  });

  const tokens = new JwtSvidCache({
    clock: systemClock,
    mint: (_entry, audience) =>
      new Promise((resolve, reject) => {
        client.FetchJWTSVID({ audience: [...audience], spiffe_id: '' }, workloadApiMetadata(), { deadline: Date.now() + 5000 }, (err, res) => {
          if (err) return reject(new HeraldError('ERR_UNAVAILABLE_JWT_SVID', `cannot fetch a JWT-SVID from the Workload API: ${err.details || err.message}`));
          const token = res?.svids[0]?.svid;
          if (!token) return reject(new HeraldError('ERR_UNAVAILABLE_JWT_SVID', 'the Workload API returned no JWT-SVID'));
          const exp = Number(JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString() || '{}').exp);
          resolve({ token, expires_at: String(Number.isFinite(exp) ? exp : Math.floor(Date.now() / 1000) + 60) });
        });
      }),
  });

  return {
    bundles: () => bundles,
    injectToken: async (_call, audience) => (await tokens.fetch('', [audience])).token,
    ready: () => ready,
    close: () => {
      follower.close();
      client.close();
    },
  };
}
