// Where herald-oidc gets the trust domain's JWT authorities: an agent's
// Workload API (a FetchJWTBundles stream: a rotation, taint or revocation
// reaches the JWKS as soon as the agent has it) or the server's admin
// socket (Bundle.GetBundle, polled). Both hand the handler a KeySet: the
// public keys as OIDC JWKs, with the time the set last changed (its
// Last-Modified) and a digest of it (its ETag).
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { errorMessage } from '../common/errors.ts';
import { Services } from '../common/grpc/protos.ts';
import { callUnary, udsClient } from '../cli/grpc-client.ts';
import { publicKeyToJwk } from '../spiffe/bundle/jwk.ts';
import { JwtBundle } from '../spiffe/bundle/jwt-bundle.ts';
import { algForKey } from '../spiffe/jwtsvid.ts';
import type { TrustDomain } from '../spiffe/trust-domain.ts';
import { followJwtBundles, workloadApiClient } from '../common/wire/workload-api-client.ts';

/** A public key as an OIDC consumer reads it: key material, kid, alg (and use with set_key_use). */
export type Jwk = Readonly<Record<string, string>>;

export interface KeySet {
  readonly keys: readonly Jwk[];
  readonly modified: Date;
  readonly etag: string;
}

export interface JwksSource {
  /** Undefined until the first bundle arrived. */
  current(): KeySet | undefined;
  /** Resolves with the first bundle. */
  ready(): Promise<void>;
  close(): void;
}

/**
 * A JWT authority as an OIDC JWK: key material, kid and the JWS algorithm it
 * signs with (SPIRE's cryptoutil.JoseAlgFromPublicKey), without SPIFFE's
 * `use: jwt-svid`, which OIDC clients skip.
 */
export function oidcJwk(key: KeyObject, kid: string): Jwk {
  return { ...(publicKeyToJwk(key) as Record<string, string>), kid, alg: algForKey(key) };
}

/** A trust domain's JWT authorities as OIDC JWKs. */
const oidcJwks = (authorities: ReadonlyMap<string, KeyObject>): Jwk[] => [...authorities].map(([kid, key]) => oidcJwk(key, kid));

/** Keeps `prev` (and so its Last-Modified) when the keys did not change. */
function keySet(prev: KeySet | undefined, keys: Jwk[], now: Date): KeySet {
  keys.sort((a, b) => (a.kid! < b.kid! ? -1 : a.kid! > b.kid! ? 1 : 0));
  const etag = `"${createHash('sha256').update(JSON.stringify(keys)).digest('base64url').slice(0, 27)}"`;
  if (prev?.etag === etag) return prev;
  // Whole seconds: Last-Modified has no finer resolution, and If-Modified-Since compares to it.
  return Object.freeze({ keys: Object.freeze(keys), modified: new Date(Math.floor(now.getTime() / 1000) * 1000), etag });
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** The trust domain's JWT bundle from an agent's FetchJWTBundles stream, re-opened with backoff when it drops. */
export function workloadApiJwksSource(socketPath: string, trustDomain: TrustDomain, log: Logger): JwksSource {
  const client = workloadApiClient(socketPath);
  let set: KeySet | undefined;
  const first = deferred();
  const follower = followJwtBundles(client, {
    log,
    keeping: 'serving the last keys',
    onBundles: (bundles) => {
      // Keyed by trust domain ID (spiffe://example.org), as the Workload API spec says; a bare name too.
      const jwks = bundles[trustDomain.idString()] ?? bundles[trustDomain.name];
      if (jwks === undefined) {
        log.warn({ trust_domain: trustDomain.name }, 'The Workload API sent no JWT bundle for the trust domain');
        return;
      }
      try {
        set = keySet(set, oidcJwks(JwtBundle.parse(trustDomain, jwks).jwtAuthorities), new Date());
        first.resolve();
        log.debug({ keys: set.keys.map((k) => k.kid) }, 'JWT bundle updated');
      } catch (err) {
        log.error({ err: errorMessage(err) }, 'Ignoring an unparseable JWT bundle');
      }
    },
  });
  return {
    current: () => set,
    ready: () => first.promise,
    close() {
      follower.close();
      client.close();
    },
  };
}

interface WireJwtAuthority {
  public_key: Buffer;
  key_id: string;
}

/** The JWT authorities from the server's admin socket (Bundle.GetBundle), every `pollIntervalMs`. */
export function serverApiJwksSource(socketPath: string, pollIntervalMs: number, log: Logger): JwksSource {
  const client = udsClient(Services.bundle, socketPath);
  let set: KeySet | undefined;
  const first = deferred();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const poll = async (): Promise<void> => {
    try {
      const b = await callUnary<{ jwt_authorities: WireJwtAuthority[] }>(client, 'GetBundle', {}, undefined, Math.max(5000, pollIntervalMs));
      const keys = oidcJwks(new Map(b.jwt_authorities.map((a) => [a.key_id, createPublicKey({ key: a.public_key, format: 'der', type: 'spki' })])));
      const prev = set;
      set = keySet(set, keys, new Date());
      if (set !== prev) log.debug({ keys: set.keys.map((k) => k.kid) }, 'JWT authorities updated');
      first.resolve();
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'Failed to fetch the bundle from the server API; serving the last keys');
    }
    if (!closed) timer = setTimeout(() => void poll(), pollIntervalMs);
  };
  void poll();
  return {
    current: () => set,
    ready: () => first.promise,
    close() {
      closed = true;
      clearTimeout(timer);
      client.close();
    },
  };
}
