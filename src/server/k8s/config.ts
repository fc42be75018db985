// The `controller_manager` section of herald-server's config: automatic
// registration from Kubernetes (spire-controller-manager's job, its
// ControllerManagerConfig keys in SPIRE's snake_case). Absent: off.
import { s } from '../../common/config/index.ts';
import type { Infer } from '../../common/config/index.ts';
import { GoTemplate } from './template.ts';
import { DEFAULT_PARENT_ID_TEMPLATE } from './cluster-spiffeid.ts';
import type { ControllerConfig } from './controller.ts';

const templateProblem = (v: string): string | undefined => {
  try {
    new GoTemplate(v, 'parent_id_template');
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
};

export const controllerManagerSection = s.section(
  {
    cluster_name: s.string({ description: 'Name of the cluster ({{ .ClusterName }} in templates, e.g. in the k8s_psat agent IDs of the default parent_id_template)', required: true, validate: (v) => (v === '' ? 'must not be empty' : undefined) }),
    cluster_domain: s.string({ description: 'The cluster\'s DNS domain ({{ .ClusterDomain }}), e.g. cluster.local', default: '' }),
    kube_config_file: s.path({ description: 'kubeconfig of the API server (empty: in-cluster service account)', default: '' }),
    parent_id_template: s.string({ description: 'Parent ID of a pod\'s entry, from its node ({{ .NodeMeta.UID }}, {{ .NodeMeta.Name }} …); a node alias ID for alias-based registration', default: DEFAULT_PARENT_ID_TEMPLATE, validate: templateProblem }),
    entry_id_prefix: s.string({
      description: 'Entries the controller creates have IDs `<prefix>.<uuid>`; it only updates or deletes entries with that prefix, never hand-made ones (empty: cluster_name)',
      default: '',
      validate: (v) => (/^[A-Za-z0-9_-]*$/.test(v) ? undefined : 'only letters, digits, `-` and `_`'),
    }),
    class_name: s.string({ description: 'Only ClusterSPIFFEIDs with this spec.className (empty: only those without one)', default: '' }),
    watch_classless: s.bool({ description: 'With class_name: also ClusterSPIFFEIDs without a className', default: false }),
    ignore_namespaces: s.stringList({ description: 'Namespaces never registered (regular expressions, unanchored as SCM\'s)', default: ['kube-system', 'kube-public', 'spire-system'] }),
    gc_interval: s.duration({ description: 'Full reconciliation when no watch event arrived (repairs entries changed by hand)', default: '10s', min: '1s' }),
  },
  {
    description: 'Automatic registration from Kubernetes ClusterSPIFFEIDs and Pods (spire-controller-manager\'s job); absent: off',
    optional: true,
    validate: (v) => {
      if (v === undefined) return undefined;
      for (const r of v.ignore_namespaces) {
        try {
          new RegExp(r);
        } catch (err) {
          return [{ key: 'ignore_namespaces', message: `unable to compile ignore namespaces regex: ${(err as Error).message}` }];
        }
      }
      return undefined;
    },
  },
);

export interface ControllerManagerConfig extends ControllerConfig {
  /** Absolute; empty: in-cluster. */
  readonly kubeConfigFile: string;
}

export function toControllerManagerConfig(v: Infer<typeof controllerManagerSection>, abs: (p: string) => string): ControllerManagerConfig | undefined {
  if (v === undefined) return undefined;
  return {
    clusterName: v.cluster_name,
    clusterDomain: v.cluster_domain,
    kubeConfigFile: v.kube_config_file === '' ? '' : abs(v.kube_config_file),
    parentIdTemplate: v.parent_id_template,
    entryIdPrefix: v.entry_id_prefix || v.cluster_name,
    className: v.class_name,
    watchClassless: v.watch_classless,
    ignoreNamespaces: [...v.ignore_namespaces],
    gcIntervalMs: v.gc_interval,
  };
}
