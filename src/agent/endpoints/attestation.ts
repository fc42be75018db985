// Attests the caller of a Workload API / SDS call: kernel credentials of
// the socket peer → every configured attestor's selectors.
import { HeraldError, grpcStatusFor } from '../../common/errors.ts';
import { peerCredentials, type PeerAddressSource } from '../../common/grpc/peer.ts';
import type { Selector } from '../../common/selector.ts';
import { statusName } from '../../common/telemetry/metrics.ts';
import type { WorkloadAttestor } from '../plugins/workloadattestor/types.ts';
import type { AgentMetrics } from '../telemetry.ts';

export interface AttestedCaller {
  selectors: Selector[];
  pid: number;
}

export class CallerAttestation {
  readonly #attestors: readonly WorkloadAttestor[];
  readonly #metrics: AgentMetrics | undefined;
  /**
   * Attestations under way, by peer address (pid, uid, gid and the pid's
   * start time at accept: one process). Calls of one process that arrive
   * while its attestation runs share it (an Envoy opens its SDS streams
   * together on one connection: one attestation, not one per stream); the
   * next call after it settles attests again, as SPIRE does per call.
   */
  readonly #inFlight = new Map<string, Promise<Selector[]>>();

  constructor(attestors: readonly WorkloadAttestor[], metrics?: AgentMetrics) {
    this.#attestors = attestors;
    this.#metrics = metrics;
  }

  async attest(call: PeerAddressSource): Promise<AttestedCaller> {
    const address = call.getPeer();
    const peer = peerCredentials(call);
    if (!peer) throw new HeraldError('ERR_UNAVAILABLE_NO_PEER', 'workload attestation failed: the caller\'s process credentials are unknown');
    let pending = this.#inFlight.get(address);
    if (!pending) {
      pending = Promise.all(this.#attestors.map((a) => this.#timed(a, peer))).then((all) => all.flat());
      this.#inFlight.set(address, pending);
      const settled = (): void => void this.#inFlight.delete(address);
      pending.then(settled, settled);
    }
    // A copy each: callers own their selectors.
    return { selectors: [...(await pending)], pid: peer.pid };
  }

  /** SPIRE's workload_api.workload_attestor call counter, per attestor. */
  async #timed(a: WorkloadAttestor, peer: Parameters<WorkloadAttestor['attest']>[0]): Promise<Selector[]> {
    const started = performance.now();
    try {
      const out = await a.attest(peer);
      this.#metrics?.workloadAttestor.done('OK', started, { attestor: a.name });
      return out;
    } catch (err) {
      this.#metrics?.workloadAttestor.done(statusName(grpcStatusFor(err)), started, { attestor: a.name });
      throw err;
    }
  }
}
