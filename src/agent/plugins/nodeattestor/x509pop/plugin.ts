// NodeAttestor "x509pop" (SPIRE's plugin/agent/nodeattestor/x509pop),
// "private" mode. Its files are checked when the agent starts and read again
// on every attestation.
import { definePlugin } from '../../../../common/catalog/catalog.ts';
import { s } from '../../../../common/config/index.ts';
import type { AgentPluginDeps } from '../../../catalog/deps.ts';
import type { NodeAttestorClient } from '../types.ts';
import type { X509PopPaths } from './x509pop.ts';

export const plugin = definePlugin({
  type: 'NodeAttestor',
  name: 'x509pop',
  configSchema: s.section(
    {
      private_key_path: s.path({ description: 'PEM file of the node certificate\'s private key', required: true }),
      certificate_path: s.path({ description: 'PEM file of the node certificate (and, optionally, intermediates after it)', required: true }),
      intermediates_path: s.path({ description: 'PEM file of intermediate CA certificates to send with it' }),
      mode: s.unsupported('only the default "private" mode is implemented'),
      svid_prefix: s.unsupported('only the default "private" mode is implemented'),
    },
    { description: 'Proves possession of an X.509 certificate\'s key (SPIRE\'s x509pop); attests again by itself when needed. -joinToken, if given, is used instead' },
  ),
  configure: (data, ctx): X509PopPaths => ({
    privateKeyPath: ctx.abs(data.private_key_path),
    certificatePath: ctx.abs(data.certificate_path),
    intermediatesPath: data.intermediates_path === undefined ? undefined : ctx.abs(data.intermediates_path),
  }),
  create: async (config, _deps: AgentPluginDeps): Promise<NodeAttestorClient> => {
    const { loadX509PopMaterial, x509PopAttestor } = await import('./x509pop.ts');
    await loadX509PopMaterial(config);
    return x509PopAttestor(config);
  },
});
