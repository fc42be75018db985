// join_token: the token itself is the attestation data; no challenge.
import { HeraldError } from '../../../../common/errors.ts';
import type { NodeAttestorClient } from '../types.ts';

export function joinTokenAttestor(token: string): NodeAttestorClient {
  return {
    type: 'join_token',
    canReattest: false,
    attestationData: async () => Buffer.from(token),
    answer: async () => {
      throw new HeraldError('ERR_ATTESTATION_FAILED_CHALLENGE', 'server sent an attestation challenge; join_token attestation has none');
    },
  };
}
