// WorkloadAttestor "unix" (SPIRE's plugin/agent/workloadattestor/unix).
import { definePlugin } from '../../../../common/catalog/catalog.ts';
import { s } from '../../../../common/config/index.ts';
import type { AgentPluginDeps } from '../../../catalog/deps.ts';
import type { WorkloadAttestor } from '../types.ts';

export interface UnixWorkloadAttestorConfig {
  readonly discoverWorkloadPath: boolean;
  readonly workloadSizeLimit: number;
}

export const plugin = definePlugin({
  type: 'WorkloadAttestor',
  name: 'unix',
  configSchema: s.section(
    {
      discover_workload_path: s.bool({ description: 'Add unix:path and unix:sha256 selectors from the caller\'s binary', default: false }),
      workload_size_limit: s.int({ description: 'Largest binary hashed for unix:sha256, in bytes (0: no limit)', default: 0, min: 0 }),
    },
    { description: 'Unix process attributes: uid, gid, user, group, path, sha256' },
  ),
  configure: (data): UnixWorkloadAttestorConfig => ({ discoverWorkloadPath: data.discover_workload_path, workloadSizeLimit: data.workload_size_limit }),
  create: async (config, _deps: AgentPluginDeps): Promise<WorkloadAttestor> => new (await import('./unix.ts')).UnixWorkloadAttestor(config),
});
