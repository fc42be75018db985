// The SPIFFE Workload API (SpiffeWorkloadAPI, no package) as SPIRE's agent
// serves it (pkg/agent/endpoints/workload): security header first, then
// workload attestation, then full snapshots on every change.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Clock } from '../../../common/clock.ts';
import { HeraldError } from '../../../common/errors.ts';
import { failStream, toServiceError } from '../../../common/grpc/status.ts';
import { responseSerializer, Services } from '../../../common/grpc/protos.ts';
import { toStruct } from '../../../common/grpc/struct.ts';
import type { AgentMetrics } from '../../telemetry.ts';
import { BundleSet } from '../../../spiffe/bundle/set.ts';
import type { SpiffeBundle } from '../../../spiffe/bundle/spiffe-bundle.ts';
import { concatDer } from '../../../spiffe/bundle/der.ts';
import { SpiffeId } from '../../../spiffe/id.ts';
import { parseAndValidate } from '../../../spiffe/jwtsvid.ts';
import { SECURITY_HEADER } from '../../../spiffe/workload-api.ts';
import { errorMessage } from '../../../common/errors.ts';
import type { WorkloadUpdate } from '../../cache/types.ts';
import type { AgentManager } from '../../manager.ts';
import type { CallerAttestation } from '../attestation.ts';

export interface WorkloadApiDeps {
  manager: AgentManager;
  attestation: CallerAttestation;
  clock: Clock;
  log: Logger;
  metrics: AgentMetrics;
}

type Call = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>;

function checkHeader(call: Call): void {
  const values = call.metadata.get(SECURITY_HEADER);
  if (values.length !== 1 || values[0] !== 'true') {
    throw new HeraldError('ERR_INVALID_ARGUMENT_SECURITY_HEADER', 'security header missing from request');
  }
}

const noIdentity = () => new HeraldError('ERR_NO_IDENTITY', 'no identity issued');

function tdKey(name: string): string {
  return `spiffe://${name}`;
}

function x509Response(u: WorkloadUpdate): object {
  const bundle = concatDer(u.bundle.x509Authorities);
  return {
    svids: u.identities.map((i) => ({
      spiffe_id: i.svid.id.toString(),
      x509_svid: i.svid.certificates,
      x509_svid_key: i.svid.privateKey,
      bundle,
      hint: i.entry.hint,
    })),
    crl: [],
    federated_bundles: Object.fromEntries(sortedByTrustDomain([...u.federatedBundles.values()]).map((b) => [tdKey(b.trustDomain.name), concatDer(b.x509Authorities)])),
  };
}

/**
 * Renders and encodes a snapshot once for every stream that shares it (all
 * streams of one workload kind get the same snapshot object from the
 * cache): 1,000 streams cost one encoding, not 1,000.
 */
function memo(render: (u: WorkloadUpdate) => object, encode: (m: object) => Buffer): (u: WorkloadUpdate) => Buffer {
  const cache = new WeakMap<WorkloadUpdate, Buffer>();
  return (u) => {
    let m = cache.get(u);
    if (!m) {
      m = encode(render(u));
      cache.set(u, m);
    }
    return m;
  };
}

/** Map fields in a fixed order, so equal content encodes to equal bytes. */
function sortedByTrustDomain(bundles: SpiffeBundle[]): SpiffeBundle[] {
  return bundles.sort((a, b) => (a.trustDomain.name < b.trustDomain.name ? -1 : a.trustDomain.name > b.trustDomain.name ? 1 : 0));
}

function allBundles(u: WorkloadUpdate): SpiffeBundle[] {
  return sortedByTrustDomain([u.bundle, ...u.federatedBundles.values()]);
}

export function workloadApi(d: WorkloadApiDeps): grpc.UntypedServiceImplementation {
  /** Header check, readiness, attestation and subscription, then `send` on every change. */
  const encoder = (method: string) => responseSerializer(Services.workload, method);
  const renderX509 = memo(x509Response, encoder('FetchX509SVID'));
  const renderX509Bundles = memo((u) => ({ crl: [], bundles: Object.fromEntries(allBundles(u).map((b) => [tdKey(b.trustDomain.name), concatDer(b.x509Authorities)])) }), encoder('FetchX509Bundles'));
  const renderJwtBundles = memo((u) => ({ bundles: Object.fromEntries(allBundles(u).map((b) => [tdKey(b.trustDomain.name), Buffer.from(spireJwks(b.toJwtBundle().marshal()))])) }), encoder('FetchJWTBundles'));

  /**
   * Header check, readiness, attestation and subscription, then a message on
   * every change. `dedupe` (bundle streams) skips a message whose content
   * equals the previous one, as SPIRE does.
   */
  const stream = (call: grpc.ServerWritableStream<unknown, unknown>, render: (u: WorkloadUpdate) => Buffer, requireIdentity: boolean, dedupe: boolean): void => {
    const log = d.log;
    (async () => {
      checkHeader(call);
      await d.manager.whenReady();
      const { selectors } = await d.attestation.attest(call);
      const sub = d.manager.subscribe(selectors);
      d.metrics.workloadApiConnection.inc();
      d.metrics.workloadApiConnections.inc();
      let last: Buffer | undefined;
      let ended = false;
      const end = (): void => {
        if (ended) return;
        ended = true;
        d.metrics.workloadApiConnections.dec();
        off();
        sub.close();
      };
      const send = (u: WorkloadUpdate, changed: boolean): void => {
        if (ended) return;
        if (requireIdentity && u.identities.length === 0) {
          failStream(call, noIdentity(), log);
          end();
          return;
        }
        const msg = render(u);
        if (dedupe) {
          if (last?.equals(msg)) return;
          last = msg;
        }
        call.write(msg);
        if (changed) d.metrics.workloadApiChangeToPush.observe(performance.now() - u.builtAt);
      };
      const off = sub.onChange((u) => send(u, true));
      call.on('cancelled', end);
      call.on('close', end);
      if (sub.current().identities.length === 0) {
        failStream(call, noIdentity(), log);
        end();
        return;
      }
      send(sub.current(), false);
    })().catch((err) => failStream(call, err, log));
  };

  return {
    FetchX509SVID: (call: grpc.ServerWritableStream<unknown, unknown>) => {
      d.metrics.workloadApiFetch.inc({ type: 'x509_svid' });
      stream(call, renderX509, true, false);
    },

    FetchX509Bundles: (call: grpc.ServerWritableStream<unknown, unknown>) =>
      stream(call, renderX509Bundles, false, true),

    FetchJWTBundles: (call: grpc.ServerWritableStream<unknown, unknown>) =>
      stream(call, renderJwtBundles, false, true),

    FetchJWTSVID: (call: grpc.ServerUnaryCall<{ audience: string[]; spiffe_id: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      (async () => {
        checkHeader(call);
        const audience = call.request.audience.filter((a) => a !== '');
        if (audience.length === 0) throw new HeraldError('ERR_INVALID_ARGUMENT_AUDIENCE', 'audience must be specified');
        let wanted: SpiffeId | undefined;
        if (call.request.spiffe_id) {
          try {
            wanted = SpiffeId.fromString(call.request.spiffe_id);
          } catch (err) {
            throw new HeraldError('ERR_INVALID_ARGUMENT_SPIFFE_ID', `invalid requested SPIFFE ID: ${errorMessage(err)}`);
          }
        }
        await d.manager.whenReady();
        const { selectors } = await d.attestation.attest(call);
        const sub = d.manager.subscribe(selectors);
        try {
          const identities = sub.current().identities.filter((i) => !wanted || i.svid.id.equals(wanted));
          if (identities.length === 0) throw noIdentity();
          const svids = await Promise.all(
            identities.map(async (i) => {
              // As SPIRE: a JWT-SVID the server could not issue (unreachable, refusing the agent) is UNAVAILABLE.
              const jwt = await d.manager.jwt.fetch(i.entry.id, audience).catch((err: unknown) => {
                if (err instanceof HeraldError) throw err;
                throw new HeraldError('ERR_UNAVAILABLE_FETCH_JWT_SVID', `could not fetch JWT-SVID: ${errorMessage(err)}`, { cause: err });
              });
              return { spiffe_id: i.svid.id.toString(), svid: jwt.token, hint: i.entry.hint };
            }),
          );
          d.metrics.workloadApiFetch.inc({ type: 'jwt_svid' });
          return { svids };
        } finally {
          sub.close();
        }
      })().then((res) => cb(null, res), (err) => cb(toServiceError(err, d.log, call.getPath()) as grpc.ServiceError));
    },

    ValidateJWTSVID: (call: grpc.ServerUnaryCall<{ audience: string; svid: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      (async () => {
        checkHeader(call);
        if (!call.request.audience) throw new HeraldError('ERR_INVALID_ARGUMENT_AUDIENCE', 'audience must be specified');
        if (!call.request.svid) throw new HeraldError('ERR_INVALID_ARGUMENT_SVID', 'svid must be specified');
        await d.manager.whenReady();
        // Validation uses every bundle the agent holds (own and federated), as SPIRE does.
        const set = new BundleSet([d.manager.cache.bundle(), ...d.manager.cache.federatedBundles().values()]);
        let svid;
        try {
          svid = await parseAndValidate(call.request.svid, set, [call.request.audience], { now: d.clock.now() });
        } catch (err) {
          throw new HeraldError('ERR_INVALID_ARGUMENT_JWT', spireValidationMessage(errorMessage(err)));
        }
        const claims = { ...svid.claims };
        if (typeof claims.aud === 'string') claims.aud = [claims.aud];
        return { spiffe_id: svid.id.toString(), claims: toStruct(claims) };
      })().then((res) => cb(null, res), (err) => cb(toServiceError(err, d.log, call.getPath()) as grpc.ServiceError));
    },
  };
}

/** go-jose's JWK member order. */
const JWK_ORDER = ['use', 'kty', 'kid', 'crv', 'alg', 'k', 'x', 'y', 'n', 'e', 'x5c'];

/** A JWKS as spire-agent serves it in FetchJWTBundles: go-jose's member order, indented by four spaces. */
export function spireJwks(json: string): string {
  const doc = JSON.parse(json) as { keys: Record<string, unknown>[] };
  const keys = doc.keys.map((k) => {
    const out: Record<string, unknown> = {};
    for (const name of JWK_ORDER) if (name in k) out[name] = k[name];
    for (const [name, v] of Object.entries(k)) if (!(name in out)) out[name] = v;
    return out;
  });
  return JSON.stringify({ keys }, null, 4);
}

/** ValidateJWTSVID's InvalidArgument text as spire-agent words it (no "jwtsvid: " prefix, go-jose's parse error). */
function spireValidationMessage(message: string): string {
  const m = message.replace(/^jwtsvid: /, '');
  if (m === 'unable to parse JWT token: compact JWS format must have three base64url parts') return 'unable to parse JWT token: go-jose/go-jose: compact JWS format must have three parts';
  return m;
}
