// The ext_authz gRPC service inside herald-agent: bundles from the agent's
// cache, token injection from its JWT-SVID cache, callers attested like any
// workload (cached per connection for a few seconds).
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { HeraldError } from '../common/errors.ts';
import { toServiceError } from '../common/grpc/status.ts';
import type { Metrics } from '../common/metrics.ts';
import type { Selector } from '../common/selector.ts';
import { BundleSet } from '../spiffe/bundle/set.ts';
import { orderByDefault } from '../agent/cache/workload-cache.ts';
import type { CallerAttestation } from '../agent/endpoints/attestation.ts';
import type { AgentManager } from '../agent/manager.ts';
import type { AgentAuthzConfig } from '../agent/config-runtime.ts';
import { check } from './check.ts';
import { JwtSvidValidator } from './jwt-validator.ts';
import { PolicyFile } from './policy-file.ts';

const ATTESTATION_TTL_MS = 5_000;

export interface AuthzService {
  implementation: grpc.UntypedServiceImplementation;
  validator: JwtSvidValidator;
  policyFile: PolicyFile | undefined;
  close(): void;
}

export function createAuthzService(opts: { config: AgentAuthzConfig; manager: AgentManager; attestation: CallerAttestation; log: Logger; metrics: Metrics }): AuthzService {
  const { manager, log } = opts;
  let set: { generation: number; source: BundleSet } | undefined;
  const validator = new JwtSvidValidator({
    bundles: () => {
      const generation = manager.cache.bundleGeneration;
      if (set?.generation !== generation) set = { generation, source: new BundleSet([manager.cache.bundle(), ...manager.cache.federatedBundles().values()]) };
      return set;
    },
    now: () => Date.now(),
  });
  const policyFile = opts.config.policyFile ? new PolicyFile(opts.config.policyFile, log) : undefined;
  policyFile?.watch();

  const attested = new Map<string, { selectors: Selector[]; until: number }>();
  const selectorsOf = async (call: grpc.ServerUnaryCall<unknown, unknown>): Promise<Selector[]> => {
    const key = call.getPeer();
    const hit = attested.get(key);
    if (hit && hit.until > Date.now()) return hit.selectors;
    const { selectors } = await opts.attestation.attest(call);
    attested.set(key, { selectors, until: Date.now() + ATTESTATION_TTL_MS });
    if (attested.size > 1024) attested.delete(attested.keys().next().value!);
    return selectors;
  };

  const deps = {
    config: opts.config,
    validator,
    policy: () => policyFile?.policy,
    injectToken: async (call: grpc.ServerUnaryCall<unknown, unknown>, audience: string) => {
      const entry = orderByDefault(manager.cache.matchingEntries(await selectorsOf(call)))[0];
      if (!entry) throw new HeraldError('ERR_NO_IDENTITY', 'no identity issued to the calling workload');
      return (await manager.jwt.fetch(entry.id, [audience])).token;
    },
    log,
    metrics: opts.metrics,
  };

  return {
    validator,
    policyFile,
    implementation: {
      Check: (call: grpc.ServerUnaryCall<Parameters<typeof check>[0]["request"], unknown>, cb: grpc.sendUnaryData<unknown>) => {
        check(call, deps).then(
          (res) => cb(null, res),
          (err) => cb(toServiceError(err, log, call.getPath()) as grpc.ServiceError),
        );
      },
    },
    close: () => policyFile?.close(),
  };
}
