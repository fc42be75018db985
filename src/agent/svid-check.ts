// What the agent checks before it hands a server-issued SVID to workloads:
// it is a valid X509-SVID for the entry's SPIFFE ID, it chains to the trust
// bundle, and it certifies the key the agent generated. A server bug or a
// tampered response then costs one renewal, not a broken workload.
import type { KeyObject, X509Certificate } from 'node:crypto';
import { errorMessage, HeraldError } from '../common/errors.ts';
import type { X509BundleSource } from '../spiffe/bundle/x509-bundle.ts';
import type { SpiffeId } from '../spiffe/id.ts';
import { verify } from '../spiffe/x509-verify.ts';

export class IssuedSvidError extends HeraldError {}

export function checkIssuedSvid(chain: readonly X509Certificate[], want: { id: SpiffeId; privateKey: KeyObject; bundles: X509BundleSource; now: number }): void {
  let id: SpiffeId;
  try {
    id = verify(chain, want.bundles, { at: want.now }).id;
  } catch (err) {
    throw new IssuedSvidError('ERR_INTERNAL_ISSUED_SVID', `the server sent an X509-SVID that does not verify against the trust bundle: ${errorMessage(err)}`, { cause: err });
  }
  if (!id.equals(want.id)) throw new IssuedSvidError('ERR_INTERNAL_ISSUED_SVID', `the server sent an X509-SVID for ${id}, expected ${want.id}`);
  if (!chain[0]!.checkPrivateKey(want.privateKey)) throw new IssuedSvidError('ERR_INTERNAL_ISSUED_SVID', 'the server sent an X509-SVID for a different key than the CSR\'s');
}
