// Attests the caller of a Workload API / SDS call: kernel credentials of
// the socket peer → every configured attestor's selectors.
import { HeraldError } from '../../common/errors.ts';
import { peerCredentials, type PeerAddressSource } from '../../common/grpc/peer.ts';
import type { Selector } from '../../common/selector.ts';
import type { WorkloadAttestor } from '../plugins/workloadattestor/types.ts';

export interface AttestedCaller {
  selectors: Selector[];
  pid: number;
}

export class CallerAttestation {
  readonly #attestors: readonly WorkloadAttestor[];

  constructor(attestors: readonly WorkloadAttestor[]) {
    this.#attestors = attestors;
  }

  async attest(call: PeerAddressSource): Promise<AttestedCaller> {
    const peer = peerCredentials(call);
    if (!peer) throw new HeraldError('ERR_UNAVAILABLE_NO_PEER', 'workload attestation failed: the caller\'s process credentials are unknown');
    const selectors = (await Promise.all(this.#attestors.map((a) => a.attest(peer)))).flat();
    return { selectors, pid: peer.pid };
  }
}
