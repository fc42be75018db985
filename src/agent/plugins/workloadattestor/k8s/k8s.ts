// The `k8s` workload attestor (SPIRE's pkg/agent/plugin/workloadattestor/k8s):
// the caller's pod UID and container ID from its cgroups, then its Pod from
// one of two sources — the kubelet's /pods (SPIRE's way, one HTTP request per
// poll, cached for half a poll interval) or, Herald's addition, the API
// server: the pods with spec.nodeName = this node, listed once and watched,
// so an attestation reads a local cache. Selectors and polling as SPIRE.

import type { Logger } from 'pino';
import { readFileSync } from 'node:fs';
import type { PeerCredentials } from '../../../../common/grpc/peer.ts';
import { parseProcStatStartTime } from '../../../../common/grpc/process-start-time.ts';
import type { KubeClient } from '../../../../common/k8s/client.ts';
import { Informer } from '../../../../common/k8s/informer.ts';
import type { Selector } from '../../../../common/selector.ts';
import { WorkloadAttestationError, WorkloadAttestationErrorCode, type WorkloadAttestor } from '../types.ts';
import { ContainerConflictError, locateContainer, type PodContainer } from './container.ts';
import { KubeletClient, type KubeletClientConfig } from './kubelet.ts';
import { containerSelectorValues, findContainer, podSelectorValues, type Pod } from './selectors.ts';

/** Where pods are looked up. */
export interface PodSource {
  /** The node's pods now; `podUid` (when known) lets a source skip the rest. */
  pods(podUid: string): Promise<Iterable<Pod>>;
  close(): Promise<void>;
}

export interface K8sAttestorOptions {
  readonly source: PodSource;
  readonly maxPollAttempts: number;
  readonly pollRetryIntervalMs: number;
  readonly disableContainerSelectors: boolean;
  readonly useNewContainerLocator: boolean;
  readonly verboseContainerLocatorLogs: boolean;
  readonly log: Logger;
  /** Where procfs is mounted (tests). */
  readonly procRoot?: string;
}

export class K8sWorkloadAttestor implements WorkloadAttestor {
  readonly name = 'k8s';
  readonly #o: K8sAttestorOptions;
  readonly #procRoot: string;

  constructor(options: K8sAttestorOptions) {
    this.#o = options;
    this.#procRoot = options.procRoot ?? '/proc';
  }

  async attest(peer: PeerCredentials): Promise<Selector[]> {
    const { pid, startTime } = peer;
    if (startTime === undefined) {
      throw new WorkloadAttestationError(WorkloadAttestationErrorCode.UNAVAILABLE, `process ${pid} had exited before its connection was accepted`);
    }
    let where: PodContainer;
    try {
      where = locateContainer(this.#procRoot, pid, !this.#o.useNewContainerLocator);
    } catch (err) {
      const why = err instanceof ContainerConflictError ? err.message : `unable to obtain cgroups: ${(err as Error).message}`;
      throw new WorkloadAttestationError(WorkloadAttestationErrorCode.INTERNAL, `k8s: ${why}`, { cause: err });
    }
    if (this.#o.verboseContainerLocatorLogs) this.#o.log.debug({ pid, podUid: where.podUid, containerId: where.containerId }, 'k8s: container located');
    // Not in a container: not a Kubernetes workload, no selectors (SPIRE).
    const values = where.containerId === '' ? [] : await this.#poll(where);
    // Everything was looked up by pid: it described the caller only if the pid still names it.
    if (this.#startTime(pid) !== startTime) {
      throw new WorkloadAttestationError(WorkloadAttestationErrorCode.UNAVAILABLE, `process ${pid} exited or its pid was reused during attestation`);
    }
    return values.map((value) => ({ type: 'k8s', value }));
  }

  async #poll({ podUid, containerId }: PodContainer): Promise<string[]> {
    const log = this.#o.log.child({ podUid, containerId });
    for (let attempt = 1; ; attempt++) {
      let pods: Iterable<Pod>;
      try {
        pods = await this.#o.source.pods(podUid);
      } catch (err) {
        throw new WorkloadAttestationError(WorkloadAttestationErrorCode.INTERNAL, `k8s: ${(err as Error).message}`, { cause: err });
      }
      let found: string[] | undefined;
      for (const pod of pods) {
        if (podUid !== '' && pod.metadata?.uid !== podUid) continue;
        const cs = findContainer(pod, containerId);
        let values: string[] = [];
        if (cs) {
          values = podSelectorValues(pod);
          if (!this.#o.disableContainerSelectors) values.push(...containerSelectorValues(cs));
        } else if (podUid !== '' && this.#o.disableContainerSelectors) {
          // Container not running yet, but the pod is known and its selectors suffice.
          values = podSelectorValues(pod);
        }
        if (values.length > 0) {
          if (found) {
            log.warn('Two pods found with same container Id');
            throw new WorkloadAttestationError(WorkloadAttestationErrorCode.INTERNAL, 'k8s: two pods found with same container Id');
          }
          found = values;
        }
      }
      if (found) return found;
      if (attempt >= this.#o.maxPollAttempts) {
        log.warn('Container id not found; giving up');
        throw new WorkloadAttestationError(WorkloadAttestationErrorCode.UNAVAILABLE, 'k8s: no selectors found after max poll attempts');
      }
      log.debug({ attempt, retryIntervalMs: this.#o.pollRetryIntervalMs }, 'Container id not found');
      await new Promise((ok) => setTimeout(ok, this.#o.pollRetryIntervalMs));
    }
  }

  #startTime(pid: number): number | undefined {
    try {
      return parseProcStatStartTime(readFileSync(`${this.#procRoot}/${pid}/stat`, 'utf8'), pid);
    } catch {
      return undefined;
    }
  }

  close(): Promise<void> {
    return this.#o.source.close();
  }
}

/** SPIRE's source: the kubelet's /pods, one request shared by concurrent attestations and cached for `cacheMs`. */
export class KubeletPodSource implements PodSource {
  readonly #client: KubeletClient;
  readonly #cacheMs: number;
  #cached: { pods: Promise<Pod[]>; until: number } | undefined;

  constructor(config: KubeletClientConfig, cacheMs: number) {
    this.#client = new KubeletClient(config);
    this.#cacheMs = cacheMs;
  }

  pods(): Promise<Pod[]> {
    const now = Date.now();
    if (this.#cached && now < this.#cached.until) return this.#cached.pods;
    const pods = this.#client.pods();
    // In flight counts as cached (SPIRE's singleflight); a failure is not kept.
    const entry = { pods, until: Number.POSITIVE_INFINITY };
    this.#cached = entry;
    pods.then(
      () => (entry.until = Date.now() + this.#cacheMs),
      () => {
        if (this.#cached === entry) this.#cached = undefined;
      },
    );
    return pods;
  }

  async close(): Promise<void> {}
}

/** How long the first list of the node's pods may take before attestations fail. */
const API_SYNC_TIMEOUT_MS = 30_000;

/** Herald's source: the node's pods from the API server, listed once and then watched. */
export class ApiServerPodSource implements PodSource {
  readonly #informer: Informer<Pod & { metadata?: { resourceVersion?: string } }>;
  readonly #byUid = new Map<string, Pod>();
  readonly #nodeName: string;

  constructor(client: KubeClient, nodeName: string, log: Logger) {
    this.#nodeName = nodeName;
    this.#informer = new Informer(client, {
      path: '/api/v1/pods',
      query: new URLSearchParams({ fieldSelector: `spec.nodeName=${nodeName}` }),
      onChange: (type, pod) => {
        const uid = pod.metadata?.uid;
        if (!uid) return;
        if (type === 'DELETED') this.#byUid.delete(uid);
        else this.#byUid.set(uid, pod);
      },
      onError: (err) => log.warn({ err: (err as Error).message }, 'k8s: listing or watching this node\'s pods failed; retrying'),
    }).start();
  }

  async pods(podUid: string): Promise<Iterable<Pod>> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#informer.synced,
      new Promise((_, fail) => {
        timer = setTimeout(() => fail(new Error(`the pods of node ${this.#nodeName} could not be listed from the API server within ${API_SYNC_TIMEOUT_MS / 1000} s`)), API_SYNC_TIMEOUT_MS);
      }),
    ]).finally(() => clearTimeout(timer));
    if (podUid !== '') {
      const pod = this.#byUid.get(podUid);
      return pod ? [pod] : [];
    }
    return this.#byUid.values();
  }

  async close(): Promise<void> {
    await this.#informer.stop();
  }
}
