// The k8s workload attestor against a real kube-apiserver (pod_source =
// api_server) and real processes in kubelet-style cgroups: every layout the
// kubelet produces (cgroupfs and systemd drivers, cgroup v1 and v2,
// containerd / CRI-O / docker), Pod objects whose UIDs match, container
// statuses patched through the status subresource as a kubelet would.
//
// The kubelet pod source (SPIRE's default) is not exercised here: it needs a
// kubelet serving /pods, and a kubelet cannot run pods on this machine (no
// container runtime; see docs/kubernetes-workloads.md). Its parsing is the same code
// (selectors.ts), covered by SPIRE's pod-list vectors in container.test.ts.
import { readFileSync } from 'node:fs';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiServerPodSource, K8sWorkloadAttestor } from '../../../../../src/agent/plugins/workloadattestor/k8s/k8s.ts';
import { processStartTimeSync } from '../../../../../src/common/grpc/process-start-time.ts';
import { startKubeApiserver, type KubeApiserver } from '../../../../helpers/kube-apiserver.ts';
import { cgroupSupport, kubeletCgroups, type CgroupDriver, type CgroupVersion, type ContainerRuntime, type KubeletContainer, type KubeletCgroups } from '../../../../helpers/kubelet-cgroups.ts';
import { startProcess, type RunningProcess } from '../../../../helpers/process.ts';
import { waitFor } from '../../../../helpers/wait.ts';

const NODE = 'node-1';
const NS = 'k8s-attestor';
const log = pino({ level: 'silent' });
const unsupported = cgroupSupport('v1') ?? cgroupSupport('v2');

describe.skipIf(unsupported !== undefined)(`k8s workload attestor, pod_source = api_server${unsupported ? ` (cannot run here: ${unsupported})` : ''}`, () => {
  let k8s: KubeApiserver;
  let cgroups: KubeletCgroups;
  let source: ApiServerPodSource;
  const procs: RunningProcess[] = [];
  let seq = 0;

  const attestor = (opts: { legacy?: boolean; disableContainerSelectors?: boolean; maxPollAttempts?: number } = {}) =>
    new K8sWorkloadAttestor({
      source,
      maxPollAttempts: opts.maxPollAttempts ?? 60,
      pollRetryIntervalMs: 100,
      disableContainerSelectors: opts.disableContainerSelectors ?? false,
      useNewContainerLocator: !opts.legacy,
      verboseContainerLocatorLogs: false,
      log,
    });
  const peer = (pid: number) => ({ pid, uid: 0, gid: 0, startTime: processStartTimeSync(pid) });
  const values = (sels: { type: string; value: string }[]) => {
    expect(new Set(sels.map((s) => s.type))).toEqual(new Set(sels.length ? ['k8s'] : []));
    return sels.map((s) => s.value).sort();
  };

  /** A sleeping process in `c`'s cgroup, once it is there. */
  const runIn = async (c: KubeletContainer): Promise<RunningProcess> => {
    const p = c.start('sleep', ['300']);
    procs.push(p);
    await waitFor('the process in its container cgroup', () => readFileSync(`/proc/${p.pid}/cgroup`, 'utf8').includes(c.containerId));
    return p;
  };

  /** A Pod (with an owner) on NODE; the status is the kubelet's report of one running container. */
  const makePod = async (labels: Record<string, string> = { app: 'web' }) => {
    const name = `web-${++seq}`;
    await k8s.ensureServiceAccount(NS, 'workloada');
    const pod = await k8s.client.create(`/api/v1/namespaces/${NS}/pods`, {
      metadata: { name, labels, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-6658cb9566', uid: '349d135e-3781-43e3-bc25-c900aedf1d0c' }] },
      spec: { serviceAccountName: 'workloada', nodeName: NODE, containers: [{ name: 'main', image: 'registry.example/web:1.0' }, { name: 'sidecar', image: 'registry.example/proxy:2.0' }] },
    });
    return { name, uid: pod.metadata.uid as string };
  };
  const runningStatus = (c: KubeletContainer) => ({
    phase: 'Running',
    containerStatuses: [
      { name: 'main', ready: true, restartCount: 0, image: 'registry.example/web:1.0', imageID: 'registry.example/web@sha256:1111111111111111111111111111111111111111111111111111111111111111', containerID: c.statusContainerId, state: { running: {} } },
      { name: 'sidecar', ready: true, restartCount: 0, image: 'registry.example/proxy:2.0', imageID: 'registry.example/proxy@sha256:2222222222222222222222222222222222222222222222222222222222222222', containerID: `containerd://${'f'.repeat(64)}`, state: { running: {} } },
    ],
  });
  const expected = (pod: { name: string; uid: string }) =>
    [
      `sa:workloada`,
      `ns:${NS}`,
      `node-name:${NODE}`,
      `pod-uid:${pod.uid}`,
      `pod-name:${pod.name}`,
      'pod-image-count:2',
      'pod-init-image-count:0',
      'pod-image:registry.example/web:1.0',
      'pod-image:registry.example/web@sha256:1111111111111111111111111111111111111111111111111111111111111111',
      'pod-image:registry.example/proxy:2.0',
      'pod-image:registry.example/proxy@sha256:2222222222222222222222222222222222222222222222222222222222222222',
      'pod-label:app:web',
      'pod-owner:ReplicaSet:web-6658cb9566',
      'pod-owner-uid:ReplicaSet:349d135e-3781-43e3-bc25-c900aedf1d0c',
      'container-name:main',
      'container-image:registry.example/web:1.0',
      'container-image:registry.example/web@sha256:1111111111111111111111111111111111111111111111111111111111111111',
    ].sort();

  beforeAll(async () => {
    k8s = await startKubeApiserver();
    await k8s.createNode(NODE);
    await k8s.createNode('node-2');
    cgroups = kubeletCgroups();
    source = new ApiServerPodSource(k8s.client, NODE, log);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop('SIGKILL')));
    await cgroups?.cleanup();
    await source?.close();
    await k8s?.stop();
  });

  const layouts: [CgroupVersion, CgroupDriver, ContainerRuntime][] = [
    ['v1', 'cgroupfs', 'docker'],
    ['v1', 'systemd', 'containerd'],
    ['v1', 'systemd', 'cri-o'],
    ['v2', 'cgroupfs', 'containerd'],
    ['v2', 'systemd', 'containerd'],
    ['v2', 'systemd', 'cri-o'],
    // No pod UID in the cgroup: the pod is found by container ID among all of the node's pods.
    ['v2', 'kubeedge', 'cri-o'],
  ];
  it.each(layouts)('cgroup %s, %s driver, %s: the pod\'s and the container\'s selectors', async (version, driver, runtime) => {
    const pod = await makePod();
    const c = cgroups.container({ version, driver, runtime, podUid: pod.uid });
    await k8s.patchPodStatus(NS, pod.name, runningStatus(c));
    const p = await runIn(c);
    expect(values(await attestor().attest(peer(p.pid)))).toEqual(expected(pod));
    expect(values(await attestor({ legacy: true }).attest(peer(p.pid)))).toEqual(expected(pod));
  }, 30_000);

  it('a process outside any pod gets no selectors', async () => {
    const p = startProcess('sleep', ['300']);
    procs.push(p);
    expect(await attestor().attest(peer(p.pid))).toEqual([]);
  });

  it('waits for the kubelet to report the container (the watch delivers the status), then attests', async () => {
    const pod = await makePod();
    const c = cgroups.container({ version: 'v2', driver: 'systemd', runtime: 'containerd', podUid: pod.uid });
    const p = await runIn(c);
    const pending = attestor().attest(peer(p.pid));
    // Reported only after the attestation started polling.
    await k8s.patchPodStatus(NS, pod.name, runningStatus(c));
    expect(values(await pending)).toEqual(expected(pod));
  }, 30_000);

  it('gives up after max_poll_attempts when the container is never reported; disable_container_selectors attests the pod alone', async () => {
    const pod = await makePod();
    const c = cgroups.container({ version: 'v1', driver: 'cgroupfs', runtime: 'containerd', podUid: pod.uid });
    const p = await runIn(c);
    await expect(attestor({ maxPollAttempts: 3 }).attest(peer(p.pid))).rejects.toThrow('k8s: no selectors found after max poll attempts');
    // No status at all: no images, no container.
    const podOnly = [...expected(pod).filter((v) => !v.startsWith('container-') && !v.startsWith('pod-image')), 'pod-image-count:0'].sort();
    expect(values(await attestor({ disableContainerSelectors: true, maxPollAttempts: 3 }).attest(peer(p.pid)))).toEqual(podOnly);
  }, 30_000);

  it('a pod of another node is not this agent\'s: its process gets no selectors', async () => {
    await k8s.ensureServiceAccount(NS, 'workloada');
    const other = await k8s.createPod({ namespace: NS, name: 'elsewhere', serviceAccount: 'workloada', nodeName: 'node-2' });
    const c = cgroups.container({ version: 'v2', driver: 'cgroupfs', runtime: 'containerd', podUid: other.metadata.uid });
    await k8s.patchPodStatus(NS, 'elsewhere', runningStatus(c));
    const p = await runIn(c);
    await expect(attestor({ maxPollAttempts: 2 }).attest(peer(p.pid))).rejects.toThrow('no selectors found');
  }, 30_000);

  it('a deleted pod\'s process is no longer attested (the watch removes it)', async () => {
    const pod = await makePod({ app: 'web', tier: 'gone' });
    const c = cgroups.container({ version: 'v1', driver: 'systemd', runtime: 'containerd', podUid: pod.uid });
    await k8s.patchPodStatus(NS, pod.name, runningStatus(c));
    const p = await runIn(c);
    expect(values(await attestor().attest(peer(p.pid)))).toContain('pod-label:tier:gone');
    await k8s.forceDeletePod(NS, pod.name);
    await waitFor('the deletion to reach the agent', async () => (await attestor({ maxPollAttempts: 1 }).attest(peer(p.pid)).then(() => false, () => true)));
  }, 30_000);

  it('an exited caller is refused (its pid could be reused)', async () => {
    const pod = await makePod();
    const c = cgroups.container({ version: 'v1', driver: 'cgroupfs', runtime: 'docker', podUid: pod.uid });
    await k8s.patchPodStatus(NS, pod.name, runningStatus(c));
    const p = await runIn(c);
    const creds = peer(p.pid);
    await p.stop('SIGKILL');
    await expect(attestor().attest(creds)).rejects.toThrow(/exited/);
  }, 30_000);
});

