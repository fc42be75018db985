// CredentialComposer "module": a composer from a TypeScript/JavaScript
// module named in the config (docs/credential-composer.md).
import { definePlugin } from '../../../../common/catalog/catalog.ts';
import { s } from '../../../../common/config/index.ts';
import type { ServerPluginDepsWithDataStore } from '../../../catalog/deps.ts';
import type { CredentialComposer } from '../types.ts';
import { NAME, type ModuleComposerConfig } from './module.ts';

const configSchema = s.section(
  {
    path: s.path({ description: 'The module (.ts, .mjs or .js) exporting createComposer(options, { trustDomain })', required: true }),
    options: s.map(s.string({ description: 'Option value', required: true }), { description: "Strings handed to the module's createComposer" }),
  },
  { description: "A third party's composer: a module loaded with a dynamic import (docs/credential-composer.md)" },
);

export const plugin = definePlugin({
  type: 'CredentialComposer',
  name: NAME,
  configSchema,
  configure: (data, ctx): ModuleComposerConfig => ({ path: ctx.abs(data.path), options: data.options ?? {} }),
  create: async (config, deps: ServerPluginDepsWithDataStore): Promise<CredentialComposer> =>
    (await import('./module.ts')).loadModuleComposer(config, { trustDomain: deps.trustDomain.name }),
});
