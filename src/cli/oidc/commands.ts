// herald-oidc: `run` and `validate`, as SPIRE's oidc-discovery-provider
// (`-config`, `-expandEnv`), through the daemons' shared run loop.
import { loadConfigFile } from '../../common/config/index.ts';
import { parseLogFormat, parseLogLevel } from '../../common/log.ts';
import { oidcConfigSchema, toOidcConfig, type OidcConfig } from '../../oidc/config.ts';
import { daemonCommands } from '../daemon.ts';
import type { FlagSpecs } from '../flags.ts';

export const DEFAULT_OIDC_CONFIG_PATH = 'oidc-discovery-provider.conf';

const flags = {
  config: { type: 'string', usage: 'Path to a herald-oidc (SPIRE oidc-discovery-provider) config file', default: DEFAULT_OIDC_CONFIG_PATH },
  expandEnv: { type: 'bool', usage: 'Expand environment variables in the config file' },
} as const satisfies FlagSpecs;

type Loaded = OidcConfig & { log: { level: ReturnType<typeof parseLogLevel>; format: ReturnType<typeof parseLogFormat>; file: undefined }; warnings: readonly string[] };

export const oidcCommands = daemonCommands('oidc discovery provider', async () => ({
  flags,
  async load(f, io): Promise<Loaded> {
    const file = await loadConfigFile(oidcConfigSchema, f.values.config, { expandEnv: f.values.expandEnv, env: io.env });
    const cfg = toOidcConfig(file, io.cwd);
    return { ...cfg, log: { level: parseLogLevel(cfg.logLevel), format: parseLogFormat(cfg.logFormat), file: undefined }, warnings: [] };
  },
  async start(config, log) {
    const provider = await (await import('../../oidc/provider.ts')).startOidcProvider(config, log.child({ component: 'oidc' }));
    return { stop: () => provider.stop() };
  },
}));
