// CredentialComposer "uniqueid" (SPIRE's plugin/server/credentialcomposer/uniqueid).
// Herald loads it unless the config declares it with `enabled = false`
// (ServerPluginTypes' defaults): its x500UniqueIdentifier is in every
// X509-SVID subject Herald has ever issued (seed 000).
import { definePlugin } from '../../../../common/catalog/catalog.ts';
import { s } from '../../../../common/config/index.ts';
import type { ServerPluginDepsWithDataStore } from '../../../catalog/deps.ts';
import type { CredentialComposer } from '../types.ts';
import { NAME, UniqueIdComposer } from './uniqueid.ts';

export const plugin = definePlugin({
  type: 'CredentialComposer',
  name: NAME,
  configSchema: s.section(
    {},
    { description: 'Adds x500UniqueIdentifier (a hash of the SPIFFE ID) to X509-SVID subjects; on unless declared with enabled = false' },
  ),
  create: (_config, _deps: ServerPluginDepsWithDataStore): CredentialComposer => new UniqueIdComposer(),
});
