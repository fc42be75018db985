// The k8s workload attestor with pod_source = "api_server", against a real
// kube-apiserver and a real process in a kubelet-style cgroup:
//   sync        the first list of the node's pods (at plugin start);
//   attest      one attestation (cgroup lookup + the watched pod cache), the
//               process among --pods pods on the node (kubelet default max 110);
//   locate      the cgroup lookup alone (mountinfo, then cgroup);
//   propagate   a container status patched in the API server → the first
//               attestation that sees it (watch latency, polling every 10 ms).
// The kubelet pod source (one GET /pods per poll) is not measured: no kubelet
// runs here (docs/kubernetes-workloads.md).
//   npm run bench:k8s-workload [-- --pods 110 --attests 2000 --rounds 3]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { locateContainer } from '../../src/agent/plugins/workloadattestor/k8s/container.ts';
import { ApiServerPodSource, K8sWorkloadAttestor } from '../../src/agent/plugins/workloadattestor/k8s/k8s.ts';
import { processStartTimeSync } from '../../src/common/grpc/process-start-time.ts';
import { percentile } from '../lib/percentile.ts';
import { startKubeApiserver } from '../../test/helpers/kube-apiserver.ts';
import { cgroupSupport, kubeletCgroups } from '../../test/helpers/kubelet-cgroups.ts';
import { waitFor } from '../../test/helpers/wait.ts';

const { values: args } = parseArgs({ options: { pods: { type: 'string', default: '110' }, attests: { type: 'string', default: '2000' }, rounds: { type: 'string', default: '3' } } });
const PODS = Number(args.pods);
const ATTESTS = Number(args.attests);
const ROUNDS = Number(args.rounds);
const why = cgroupSupport('v2');
if (why) throw new Error(`bench:k8s-workload needs kubelet-style cgroups: ${why}`);

const log = pino({ level: 'silent' });
const k8s = await startKubeApiserver();
const cgroups = kubeletCgroups();
const status = (cid: string) => ({ phase: 'Running', containerStatuses: [{ name: 'main', ready: true, restartCount: 0, image: 'registry.example/web:1.0', imageID: `registry.example/web@sha256:${'1'.repeat(64)}`, containerID: `containerd://${cid}`, state: { running: {} } }] });
const ms = (ns: bigint) => Number(ns) / 1e6;
const fmt = (raw: number[]) => { const xs = [...raw].sort((a, b) => a - b); return `p50 ${percentile(xs, 50).toFixed(3)} ms, p99 ${percentile(xs, 99).toFixed(3)} ms (n=${xs.length})`; };
try {
  await k8s.createNode('node-1');
  await k8s.ensureServiceAccount('bench', 'workload');
  const uids: string[] = [];
  for (let i = 0; i < PODS; i++) {
    const pod = await k8s.createPod({ namespace: 'bench', name: `p-${i}`, serviceAccount: 'workload', nodeName: 'node-1', labels: { app: `a${i}` }, status: status(`${i}`.padStart(64, 'a')) });
    uids.push(pod.metadata.uid);
  }
  const c = cgroups.container({ version: 'v2', driver: 'systemd', runtime: 'containerd', podUid: uids[PODS - 1]! });
  await k8s.patchPodStatus('bench', `p-${PODS - 1}`, status(c.containerId));
  const proc = c.start('sleep', ['600']);
  await waitFor('the process in its cgroup', () => readFileSync(`/proc/${proc.pid}/cgroup`, 'utf8').includes(c.containerId));
  const peer = { pid: proc.pid, uid: 0, gid: 0, startTime: processStartTimeSync(proc.pid) };

  const sync: number[] = [];
  const attest: number[] = [];
  const locate: number[] = [];
  const propagate: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    const source = new ApiServerPodSource(k8s.client, 'node-1', log);
    const attestor = new K8sWorkloadAttestor({ source, maxPollAttempts: 1000, pollRetryIntervalMs: 10, disableContainerSelectors: false, useNewContainerLocator: true, verboseContainerLocatorLogs: false, log });
    await source.pods('');
    sync.push(ms(process.hrtime.bigint() - t0));
    for (let i = 0; i < ATTESTS; i++) {
      const t = process.hrtime.bigint();
      const sels = await attestor.attest(peer);
      attest.push(ms(process.hrtime.bigint() - t));
      if (sels.length === 0) throw new Error('no selectors');
    }
    for (let i = 0; i < ATTESTS; i++) {
      const t = process.hrtime.bigint();
      locateContainer('/proc', proc.pid);
      locate.push(ms(process.hrtime.bigint() - t));
    }
    // Un-report the container, then report it again and time until an attestation sees it.
    await k8s.patchPodStatus('bench', `p-${PODS - 1}`, { containerStatuses: [{ ...status(c.containerId).containerStatuses[0], containerID: '' }] });
    await waitFor('the container to be unknown', async () => [...(await source.pods(c.podUid))][0]?.status?.containerStatuses?.[0]?.containerID ? undefined : true);
    const t1 = process.hrtime.bigint();
    await k8s.patchPodStatus('bench', `p-${PODS - 1}`, status(c.containerId));
    await attestor.attest(peer);
    propagate.push(ms(process.hrtime.bigint() - t1));
    await attestor.close();
  }
  console.log(`k8s attestor, pod_source = api_server, ${PODS} pods on the node, ${ROUNDS} rounds`);
  console.log(`  sync       ${fmt(sync)}`);
  console.log(`  attest     ${fmt(attest)}`);
  console.log(`  locate     ${fmt(locate)}`);
  console.log(`  propagate  ${fmt(propagate)} (status patch → attestation sees it)`);
  await proc.stop('SIGKILL');
} finally {
  await cgroups.cleanup();
  await k8s.stop();
}
