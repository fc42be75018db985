// The k8s workload attestor's selectors, from a Pod object (as the kubelet's
// /pods or the API server returns it): SPIRE's getSelectorValuesFromPodInfo
// and getSelectorValuesFromWorkloadContainerStatus, same values, same order.

/** The fields of a core/v1 Pod the selectors use. */
export interface Pod {
  readonly metadata?: {
    readonly name?: string;
    readonly namespace?: string;
    readonly uid?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly ownerReferences?: readonly { readonly kind?: string; readonly name?: string; readonly uid?: string }[];
  };
  readonly spec?: { readonly serviceAccountName?: string; readonly nodeName?: string };
  readonly status?: {
    readonly containerStatuses?: readonly ContainerStatus[];
    readonly initContainerStatuses?: readonly ContainerStatus[];
  };
}

export interface ContainerStatus {
  readonly name?: string;
  readonly image?: string;
  readonly imageID?: string;
  /** `<runtime>://<id>`, e.g. `containerd://0123…`; empty until the container runs. */
  readonly containerID?: string;
}

/** The status of the container `containerId` in `pod` (regular containers first, then init containers). */
export function findContainer(pod: Pod, containerId: string): ContainerStatus | undefined {
  for (const list of [pod.status?.containerStatuses, pod.status?.initContainerStatuses]) {
    for (const cs of list ?? []) {
      if (!cs.containerID) continue;
      // SPIRE parses it as a URL and compares the host: `containerd://<id>` → <id>.
      if (containerIdOf(cs.containerID) === containerId) return cs;
    }
  }
  return undefined;
}

function containerIdOf(statusId: string): string | undefined {
  const i = statusId.indexOf('://');
  if (i < 0) return undefined;
  const rest = statusId.slice(i + 3);
  const end = rest.search(/[/?#]/);
  return end < 0 ? rest : rest.slice(0, end);
}

/** Image and image ID of each status, once each (SPIRE dedups through a map). */
function images(statuses: readonly ContainerStatus[]): string[] {
  const set = new Set<string>();
  for (const cs of statuses) {
    set.add(cs.imageID ?? '');
    set.add(cs.image ?? '');
  }
  return [...set];
}

/** Pod selectors: sa, ns, node-name, pod-uid, pod-name, image counts, images, labels, owners. */
export function podSelectorValues(pod: Pod): string[] {
  const containers = pod.status?.containerStatuses ?? [];
  const inits = pod.status?.initContainerStatuses ?? [];
  const values = [
    `sa:${pod.spec?.serviceAccountName ?? ''}`,
    `ns:${pod.metadata?.namespace ?? ''}`,
    `node-name:${pod.spec?.nodeName ?? ''}`,
    `pod-uid:${pod.metadata?.uid ?? ''}`,
    `pod-name:${pod.metadata?.name ?? ''}`,
    `pod-image-count:${containers.length}`,
    `pod-init-image-count:${inits.length}`,
  ];
  for (const image of images(containers)) values.push(`pod-image:${image}`);
  for (const image of images(inits)) values.push(`pod-init-image:${image}`);
  for (const [k, v] of Object.entries(pod.metadata?.labels ?? {})) values.push(`pod-label:${k}:${v}`);
  for (const o of pod.metadata?.ownerReferences ?? []) {
    values.push(`pod-owner:${o.kind ?? ''}:${o.name ?? ''}`);
    values.push(`pod-owner-uid:${o.kind ?? ''}:${o.uid ?? ''}`);
  }
  return values;
}

/** Workload container selectors: container-name, container-image (image and image ID). */
export function containerSelectorValues(cs: ContainerStatus): string[] {
  return [`container-name:${cs.name ?? ''}`, ...images([cs]).map((i) => `container-image:${i}`)];
}
