// WorkloadAttestor "k8s" (SPIRE's plugin/agent/workloadattestor/k8s), plus
// Herald's pod_source = "api_server" (the node's pods watched through the API
// server instead of polling the kubelet).
import { definePlugin } from '../../../../common/catalog/catalog.ts';
import { s } from '../../../../common/config/index.ts';
import type { AgentPluginDeps } from '../../../catalog/deps.ts';
import type { WorkloadAttestor } from '../types.ts';

const DEFAULT_SECURE_KUBELET_PORT = 10250;
const DEFAULT_NODE_NAME_ENV = 'MY_NODE_NAME';

export interface K8sWorkloadAttestorConfig {
  readonly podSource: 'kubelet' | 'api_server';
  readonly kubeConfigFile: string;
  readonly secure: boolean;
  readonly port: number;
  readonly maxPollAttempts: number;
  readonly pollRetryIntervalMs: number;
  readonly kubeletCaPath: string;
  readonly skipKubeletVerification: boolean;
  readonly tokenPath: string;
  readonly certificatePath: string;
  readonly privateKeyPath: string;
  readonly useAnonymousAuthentication: boolean;
  readonly nodeNameEnv: string;
  readonly nodeName: string;
  readonly reloadIntervalMs: number;
  readonly disableContainerSelectors: boolean;
  readonly useNewContainerLocator: boolean;
  readonly verboseContainerLocatorLogs: boolean;
}

export const plugin = definePlugin({
  type: 'WorkloadAttestor',
  name: 'k8s',
  configSchema: s.section(
    {
      kubelet_read_only_port: s.int({ description: 'The kubelet\'s read-only port (plain HTTP on 127.0.0.1); exclusive with kubelet_secure_port', default: 0, min: 0, max: 65535 }),
      kubelet_secure_port: s.int({ description: 'The kubelet\'s secure port (0: 10250 unless kubelet_read_only_port is set)', default: 0, min: 0, max: 65535 }),
      max_poll_attempts: s.int({ description: 'How many times to look for the caller\'s container before failing (0: 60)', default: 0, min: 0 }),
      poll_retry_interval: s.duration({ description: 'Time between two looks for the caller\'s container (0: 500ms)', default: '0s' }),
      kubelet_ca_path: s.path({ description: 'CA certificates that verify the kubelet\'s serving certificate (default: the service account\'s ca.crt)', default: '' }),
      skip_kubelet_verification: s.bool({ description: 'Do not verify the kubelet\'s serving certificate', default: false }),
      token_path: s.path({ description: 'Bearer token for the kubelet\'s secure port (default: the service account token)', default: '' }),
      certificate_path: s.path({ description: 'Client certificate for the kubelet\'s secure port (with private_key_path)', default: '' }),
      private_key_path: s.path({ description: 'Private key of certificate_path', default: '' }),
      use_anonymous_authentication: s.bool({ description: 'Send no credentials to the kubelet\'s secure port', default: false }),
      node_name_env: s.string({ description: 'Environment variable holding the node name (default MY_NODE_NAME)', default: '' }),
      node_name: s.string({ description: 'The node name; overrides node_name_env. Kubelet: the host to contact (empty: 127.0.0.1). API server: whose pods to watch (required)', default: '' }),
      reload_interval: s.duration({ description: 'How often the kubelet credentials are read again from disk (0: 1m)', default: '0s' }),
      disable_container_selectors: s.bool({ description: 'Attest with the pod\'s selectors only when the container is not running yet (no container-name / container-image)', default: false }),
      use_new_container_locator: s.bool({ description: 'Locate the container from mountinfo, then cgroups (false: SPIRE\'s legacy cgroup regexes)', default: true }),
      verbose_container_locator_logs: s.bool({ description: 'Log the pod UID and container ID found for each caller (debug)', default: false }),
      pod_source: s.enum(['kubelet', 'api_server'] as const, {
        description: 'Herald: where pods are looked up — kubelet (SPIRE: GET /pods per attestation) or api_server (the pods with spec.nodeName = node_name, listed once and watched; needs get/list/watch on pods)',
        default: 'kubelet',
      }),
      kube_config_file: s.path({ description: 'Herald, pod_source = api_server: kubeconfig of the API server (empty: in-cluster service account)', default: '' }),
      experimental: s.unsupported('sigstore image signature verification is not implemented'),
    },
    {
      description: 'Kubernetes pod and container of the caller: ns, sa, pod-name, pod-uid, pod-label, pod-owner, pod-image, container-name, container-image, node-name …',
      validate: (v) => {
        if (v.kubelet_read_only_port > 0 && v.kubelet_secure_port > 0) return 'cannot use both the read-only and secure port';
        if ((v.certificate_path === '') !== (v.private_key_path === '')) {
          return v.certificate_path === '' ? 'the certificate path is required with the private key path' : 'the private key path is required with the certificate path';
        }
        if (v.pod_source === 'kubelet' && v.kube_config_file !== '') return 'kube_config_file is only used with pod_source = "api_server"';
        return undefined;
      },
    },
  ),
  configure: (d, ctx): K8sWorkloadAttestorConfig => {
    const secure = d.kubelet_read_only_port <= 0;
    const abs = (p: string): string => (p === '' ? '' : ctx.abs(p));
    return {
      podSource: d.pod_source,
      kubeConfigFile: abs(d.kube_config_file),
      secure,
      port: secure ? d.kubelet_secure_port || DEFAULT_SECURE_KUBELET_PORT : d.kubelet_read_only_port,
      maxPollAttempts: d.max_poll_attempts || 60,
      pollRetryIntervalMs: d.poll_retry_interval || 500,
      kubeletCaPath: abs(d.kubelet_ca_path),
      skipKubeletVerification: d.skip_kubelet_verification,
      tokenPath: abs(d.token_path),
      certificatePath: abs(d.certificate_path),
      privateKeyPath: abs(d.private_key_path),
      useAnonymousAuthentication: d.use_anonymous_authentication,
      nodeNameEnv: d.node_name_env,
      nodeName: d.node_name,
      reloadIntervalMs: d.reload_interval || 60_000,
      disableContainerSelectors: d.disable_container_selectors,
      useNewContainerLocator: d.use_new_container_locator,
      verboseContainerLocatorLogs: d.verbose_container_locator_logs,
    };
  },
  create: async (c, deps: AgentPluginDeps): Promise<WorkloadAttestor> => {
    const { K8sWorkloadAttestor, KubeletPodSource, ApiServerPodSource } = await import('./k8s.ts');
    // SPIRE reads the environment when configured, not when the config file is loaded.
    const nodeName = c.nodeName || process.env[c.nodeNameEnv || DEFAULT_NODE_NAME_ENV] || '';
    const log = deps.log.child({ plugin: 'k8s' });
    let source;
    if (c.podSource === 'api_server') {
      if (nodeName === '') {
        throw new Error(`pod_source = "api_server" needs the node name: set node_name, or ${c.nodeNameEnv || DEFAULT_NODE_NAME_ENV} in the environment (fieldRef spec.nodeName)`);
      }
      const { KubeClient } = await import('../../../../common/k8s/client.ts');
      source = new ApiServerPodSource(KubeClient.load(c.kubeConfigFile || undefined), nodeName, log);
    } else {
      source = new KubeletPodSource({ ...c, nodeName }, c.pollRetryIntervalMs / 2);
    }
    return new K8sWorkloadAttestor({ ...c, source, log });
  },
});
