// Bundles and tokens for ext_authz inside herald-agent: straight from the
// agent's cache. The caller of Check (Envoy) is attested like any workload;
// its selectors are remembered per connection for a few seconds.
import type * as grpc from '@grpc/grpc-js';
import { HeraldError } from '../../../common/errors.ts';
import type { Selector } from '../../../common/selector.ts';
import { BundleSet } from '../../../spiffe/bundle/set.ts';
import { orderByDefault } from '../../cache/workload-cache.ts';
import type { CallerAttestation } from '../attestation.ts';
import type { AgentManager } from '../../manager.ts';
import type { AuthzSource } from './service.ts';

const ATTESTATION_TTL_MS = 5_000;

export function agentAuthzSource(manager: AgentManager, attestation: CallerAttestation): AuthzSource {
  let set: { generation: number; source: BundleSet } | undefined;
  const attested = new Map<string, { selectors: Selector[]; until: number }>();
  const selectorsOf = async (call: grpc.ServerUnaryCall<unknown, unknown>): Promise<Selector[]> => {
    const key = call.getPeer();
    const hit = attested.get(key);
    if (hit && hit.until > Date.now()) return hit.selectors;
    const { selectors } = await attestation.attest(call);
    attested.set(key, { selectors, until: Date.now() + ATTESTATION_TTL_MS });
    if (attested.size > 1024) attested.delete(attested.keys().next().value!);
    return selectors;
  };
  return {
    bundles: () => {
      const generation = manager.cache.bundleGeneration;
      if (set?.generation !== generation) set = { generation, source: new BundleSet([manager.cache.bundle(), ...manager.cache.federatedBundles().values()]) };
      return set;
    },
    injectToken: async (call, audience) => {
      const entry = orderByDefault(manager.cache.matchingEntries(await selectorsOf(call)))[0];
      if (!entry) throw new HeraldError('ERR_NO_IDENTITY', 'no identity issued to the calling workload');
      return (await manager.jwt.fetch(entry.id, [audience])).token;
    },
  };
}
