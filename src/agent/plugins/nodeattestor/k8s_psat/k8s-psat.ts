// k8s_psat on the agent: the payload is SPIRE's JSON {"cluster","token"};
// no challenge follows.
import { readFile } from 'node:fs/promises';
import { HeraldError, errorMessage } from '../../../../common/errors.ts';
import { K8S_PSAT, type PsatAttestationData } from '../../../../common/k8s/psat.ts';
import type { NodeAttestorClient } from '../types.ts';

export function k8sPsatAttestor(config: { readonly cluster: string; readonly tokenPath: string }): NodeAttestorClient {
  return {
    type: K8S_PSAT,
    canReattest: true,
    async attestationData() {
      let token: string;
      try {
        token = await readFile(config.tokenPath, 'utf8');
        if (token.length === 0) throw new Error(`${JSON.stringify(config.tokenPath)} is empty`);
      } catch (err) {
        throw new HeraldError('ERR_INVALID_ARGUMENT_K8S_PSAT', `k8s_psat: unable to load token from ${config.tokenPath}: ${errorMessage(err)}`, { cause: err });
      }
      const data: PsatAttestationData = { cluster: config.cluster, token };
      return Buffer.from(JSON.stringify(data));
    },
    answer() {
      return Promise.reject(new HeraldError('ERR_INVALID_ARGUMENT_K8S_PSAT', 'k8s_psat: the server sent a challenge; k8s_psat has none'));
    },
  };
}
