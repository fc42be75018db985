// UpstreamAuthority "disk" (SPIRE's plugin/server/upstreamauthority/disk):
// the CA is an intermediate of a CA whose certificate and key are files.
import { definePlugin } from '../../../../common/catalog/catalog.ts';
import { s } from '../../../../common/config/index.ts';
import type { X509CaMinter } from '../../../ca/manager.ts';
import type { ServerPluginDepsWithDataStore } from '../../../catalog/deps.ts';

export interface DiskUpstreamAuthorityConfig {
  /** Absolute. */
  readonly certFilePath: string;
  readonly keyFilePath: string;
  readonly bundleFilePath: string | undefined;
}

const configSchema = s.section(
  {
    cert_file_path: s.path({ description: 'Upstream CA certificate (PEM)', required: true }),
    key_file_path: s.path({ description: 'Upstream CA private key (PEM)', required: true }),
    bundle_file_path: s.path({ description: 'Upstream trust bundle (PEM; default: the certificate)' }),
  },
  { description: 'Upstream CA key and certificate on disk' },
);

export const plugin = definePlugin({
  type: 'UpstreamAuthority',
  name: 'disk',
  configSchema,
  configure: (data, ctx): DiskUpstreamAuthorityConfig => ({
    certFilePath: ctx.abs(data.cert_file_path),
    keyFilePath: ctx.abs(data.key_file_path),
    bundleFilePath: data.bundle_file_path === undefined ? undefined : ctx.abs(data.bundle_file_path),
  }),
  create: async (config, deps: ServerPluginDepsWithDataStore): Promise<X509CaMinter> =>
    (await import('./disk-upstream-minter.ts')).DiskUpstreamMinter.load({ trustDomain: deps.trustDomain, subject: deps.caSubject, ...config }),
});
