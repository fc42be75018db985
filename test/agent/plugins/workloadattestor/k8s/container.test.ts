// The k8s attestor's parsers against SPIRE v1.13.3's own test vectors
// (testdata/ is copied from pkg/common/containerinfo/testdata and
// pkg/agent/plugin/workloadattestor/k8s/testdata): the container locators
// (new and legacy) and the selectors made from the kubelet's pod lists.
import { mkdtempSync, mkdirSync, copyFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ContainerConflictError,
  extractFromPath,
  legacyCombine,
  legacyFromPath,
  locateContainer,
  parseCgroupFile,
} from '../../../../../src/agent/plugins/workloadattestor/k8s/container.ts';
import { containerSelectorValues, findContainer, podSelectorValues, type Pod } from '../../../../../src/agent/plugins/workloadattestor/k8s/selectors.ts';

const TESTDATA = join(import.meta.dirname, 'testdata');
const POD_UID = '00000000-1111-2222-3333-444444444444';
const CID = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';

describe('new container locator (SPIRE containerinfo vectors)', () => {
  const root = (c: string): string => join(TESTDATA, 'containerinfo', c, 'proc');
  it.each([
    ['cgroups v1', 'k8s/v1', POD_UID, CID],
    ['cgroups v2', 'k8s/v2', POD_UID, CID],
    ['ignore non-pod UID entry after pod UID found', 'k8s/pod-uid-override', POD_UID, CID],
    ['falls back to cgroup file', 'other/fallback', '', CID],
    ['no cgroup mount', 'k8s/no-cgroup-mount', '', ''],
    ['cgroup mount does not match expected format', 'other/malformed', '', ''],
    ['failed to read mountinfo', 'does-not-exist', '', ''],
    ['docker v1 (container ID only)', 'docker/v1', '', CID],
    ['docker v2 (container ID only)', 'docker/v2', '', CID],
  ])('%s', (_name, dir, podUid, containerId) => {
    expect(locateContainer(root(dir), 123)).toEqual({ podUid, containerId });
  });
  it.each([
    ['pod UID conflict', 'k8s/pod-uid-conflict', 'multiple pod UIDs found'],
    ['container ID conflict', 'k8s/container-id-conflict', 'multiple container IDs found'],
    ['docker container ID conflict', 'docker/container-id-conflict', 'multiple container IDs found'],
  ])('%s', (_name, dir, message) => {
    expect(() => locateContainer(root(dir), 123)).toThrow(ContainerConflictError);
    expect(() => locateContainer(root(dir), 123)).toThrow(message);
  });
});

// SPIRE's TestGetPodUIDAndContainerIDFromCGroupPath: each layout the kubelet
// produces. The new locator agrees with the legacy one on all of them.
const PATH_VECTORS: [name: string, path: string, podUid: string, containerId: string][] = [
  ['without QOS', '/kubepods/pod2c48913c-b29f-11e7-9350-020968147796/9bca8d63d5fa610783847915bcff0ecac1273e5b4bed3f6fa1b07350e0135961', '2c48913c-b29f-11e7-9350-020968147796', '9bca8d63d5fa610783847915bcff0ecac1273e5b4bed3f6fa1b07350e0135961'],
  ['with QOS', '/kubepods/burstable/pod2c48913c-b29f-11e7-9350-020968147796/34a2062fd26c805aa8cf814cdfe479322b791f80afb9ea4db02d50375df14b41', '2c48913c-b29f-11e7-9350-020968147796', '34a2062fd26c805aa8cf814cdfe479322b791f80afb9ea4db02d50375df14b41'],
  ['docker for desktop with QOS', '/kubepods/kubepods/besteffort/pod6bd2a4d3-a55a-4450-b6fd-2a7ecc72c904/a55d9ac3b312d8a2627824b6d6dd8af66fbec439bf4e0ec22d6d9945ad337a38', '6bd2a4d3-a55a-4450-b6fd-2a7ecc72c904', 'a55d9ac3b312d8a2627824b6d6dd8af66fbec439bf4e0ec22d6d9945ad337a38'],
  ['kind with QOS', '/docker/93529524695bb00d91c1f6dba692ea8d3550c3b94fb2463af7bc9ec82f992d26/kubepods/besteffort/poda2830d0d-b0f0-4ff0-81b5-0ee4e299cf80/09bc3d7ade839efec32b6bec4ec79d099027a668ddba043083ec21d3c3b8f1e6', 'a2830d0d-b0f0-4ff0-81b5-0ee4e299cf80', '09bc3d7ade839efec32b6bec4ec79d099027a668ddba043083ec21d3c3b8f1e6'],
  ['systemd with QOS and container runtime', '/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod2c48913c-b29f-11e7-9350-020968147796.slice/docker-9bca8d63d5fa610783847915bcff0ecac1273e5b4bed3f6fa1b07350e0135961.scope', '2c48913c-b29f-11e7-9350-020968147796', '9bca8d63d5fa610783847915bcff0ecac1273e5b4bed3f6fa1b07350e0135961'],
  ['from a different cgroup namespace', '/../../../burstable/pod095e82d2-713c-467a-a18a-cbb50a075296/6d1234da0f5aa7fa0ccae4c7d2d109929eb9a81694e6357bcd4547ab3985911b', '095e82d2-713c-467a-a18a-cbb50a075296', '6d1234da0f5aa7fa0ccae4c7d2d109929eb9a81694e6357bcd4547ab3985911b'],
  ['not kubepods', '/something/poda2830d0d-b0f0-4ff0-81b5-0ee4e299cf80/09bc3d7ade839efec32b6bec4ec79d099027a668ddba043083ec21d3c3b8f1e6', 'a2830d0d-b0f0-4ff0-81b5-0ee4e299cf80', '09bc3d7ade839efec32b6bec4ec79d099027a668ddba043083ec21d3c3b8f1e6'],
  ['just pod uid and container', '/poda2830d0d-b0f0-4ff0-81b5-0ee4e299cf80/09bc3d7ade839efec32b6bec4ec79d099027a668ddba043083ec21d3c3b8f1e6', 'a2830d0d-b0f0-4ff0-81b5-0ee4e299cf80', '09bc3d7ade839efec32b6bec4ec79d099027a668ddba043083ec21d3c3b8f1e6'],
  ['cri-containerd (systemd, colon-separated)', '/kubepods-besteffort-pod72f7f152_440c_66ac_9084_e0fc1d8a910c.slice:cri-containerd:b2a102854b4969b2ce98dc329c86b4fb2b06e4ad2cc8da9d8a7578c9cd2004a2', '72f7f152-440c-66ac-9084-e0fc1d8a910c', 'b2a102854b4969b2ce98dc329c86b4fb2b06e4ad2cc8da9d8a7578c9cd2004a2'],
  ['cri-o in combination with minikube', '9:devices:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod561fd272_d131_47ef_a01b_46a997a778f3.slice/crio-030ded69d4c98fcf69c988f75a5eb3a1b4357e1432bd5510c936a40d7e9a1198.scope', '561fd272-d131-47ef-a01b-46a997a778f3', '030ded69d4c98fcf69c988f75a5eb3a1b4357e1432bd5510c936a40d7e9a1198'],
  ['cri-o in combination with kubeedge (no pod UID)', '0::/../crio-45490e76e0878aaa4d9808f7d2eefba37f093c3efbba9838b6d8ab804d9bd814.scope', '', '45490e76e0878aaa4d9808f7d2eefba37f093c3efbba9838b6d8ab804d9bd814'],
];
const NO_CONTAINER_VECTORS: [name: string, path: string][] = [
  ['just container segment', '/09bc3d7ade839efec32b6bec4ec79d099027a668ddba043083ec21d3c3b8f1e6'],
  ['no container segment', '/kubepods/poda2830d0d-b0f0-4ff0-81b5-0ee4e299cf80'],
  ['no pod uid segment', '/kubepods/09bc3d7ade839efec32b6bec4ec79d099027a668ddba043083ec21d3c3b8f1e6'],
  ['uid generated by kubernetes', '/kubepods/pod2732ca68f6358eba7703fb6f82a25c94'],
];

describe('legacy container locator (SPIRE TestGetPodUIDAndContainerIDFromCGroupPath)', () => {
  it.each(PATH_VECTORS)('%s', (_name, path, podUid, containerId) => {
    expect(legacyFromPath(path)).toEqual({ podUid, containerId });
  });
  it.each(NO_CONTAINER_VECTORS)('%s: no container', (_name, path) => {
    expect(legacyFromPath(path)).toBeUndefined();
  });
  it('pod UID canonicalized from underscores', () => {
    expect(legacyCombine(['/user.slice', '/kubepods/pod2c48913c_b29f_11e7_9350_020968147796/9bca8d63d5fa610783847915bcff0ecac1273e5b4bed3f6fa1b07350e0135961'])).toEqual({
      podUid: '2c48913c-b29f-11e7-9350-020968147796',
      containerId: '9bca8d63d5fa610783847915bcff0ecac1273e5b4bed3f6fa1b07350e0135961',
    });
  });
  it('conflicts (SPIRE TestGetContainerIDFromCGroups)', () => {
    expect(() =>
      legacyCombine([
        '/user.slice',
        '/kubepods/pod2c48913c-b29f-11e7-9350-020968147796/9bca8d63d5fa610783847915bcff0ecac1273e5b4bed3f6fa1b07350e0135961',
        '/kubepods/kubepods/besteffort/pod2c48913c-b29f-11e7-9350-020968147796/a55d9ac3b312d8a2627824b6d6dd8af66fbec439bf4e0ec22d6d9945ad337a38',
      ]),
    ).toThrow('multiple container IDs found in cgroups (9bca8d63d5fa610783847915bcff0ecac1273e5b4bed3f6fa1b07350e0135961, a55d9ac3b312d8a2627824b6d6dd8af66fbec439bf4e0ec22d6d9945ad337a38)');
    expect(() =>
      legacyCombine([
        '/kubepods/pod11111111-b29f-11e7-9350-020968147796/9bca8d63d5fa610783847915bcff0ecac1273e5b4bed3f6fa1b07350e0135961',
        '/kubepods/kubepods/besteffort/pod22222222-b29f-11e7-9350-020968147796/9bca8d63d5fa610783847915bcff0ecac1273e5b4bed3f6fa1b07350e0135961',
      ]),
    ).toThrow('multiple pod UIDs found in cgroups (11111111-b29f-11e7-9350-020968147796, 22222222-b29f-11e7-9350-020968147796)');
    expect(legacyCombine([])).toEqual({ podUid: '', containerId: '' });
    expect(legacyCombine(['/user.slice'])).toEqual({ podUid: '', containerId: '' });
  });
  it('a long path of non-matching segments is rejected in linear time (no catastrophic backtracking)', () => {
    const path = `/${'a'.repeat(5_000)}crio-${'0'.repeat(63)}`;
    const t0 = performance.now();
    expect(legacyFromPath(path)).toBeUndefined();
    // Exponential backtracking would not finish at all; this bound is generous on a loaded machine.
    expect(performance.now() - t0).toBeLessThan(5_000);
  });
});

describe('new locator on the same paths', () => {
  it.each(PATH_VECTORS.filter(([n]) => !n.startsWith('cri-o in combination with minikube')))('%s', (_name, path, podUid, containerId) => {
    expect(extractFromPath(path)).toEqual({ podUid, containerId });
  });
  it('a whole /proc/PID/cgroup line (the minikube vector): the prefix is not part of a path', () => {
    const [cg] = parseCgroupFile('9:devices:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod561fd272_d131_47ef_a01b_46a997a778f3.slice/crio-030ded69d4c98fcf69c988f75a5eb3a1b4357e1432bd5510c936a40d7e9a1198.scope\n');
    expect(extractFromPath(cg!.path)).toEqual({ podUid: '561fd272-d131-47ef-a01b-46a997a778f3', containerId: '030ded69d4c98fcf69c988f75a5eb3a1b4357e1432bd5510c936a40d7e9a1198' });
  });
  it.each(NO_CONTAINER_VECTORS.filter(([n]) => n !== 'just container segment' && n !== 'no pod uid segment'))('%s: no container', (_name, path) => {
    expect(extractFromPath(path)).toEqual({ podUid: '', containerId: '' });
  });
  it('a container without a pod UID (plain docker) is a container, with no pod', () => {
    expect(extractFromPath('/09bc3d7ade839efec32b6bec4ec79d099027a668ddba043083ec21d3c3b8f1e6')).toEqual({ podUid: '', containerId: '09bc3d7ade839efec32b6bec4ec79d099027a668ddba043083ec21d3c3b8f1e6' });
  });
  it('a malformed cgroup line is an error naming it', () => {
    expect(() => parseCgroupFile('0:/x\n')).toThrow('invalid cgroup entry, contains 2 colon separated fields but expected at least 3: "0:/x"');
  });
});

// SPIRE's k8s_posix_test.go: a /proc/PID/cgroup file and the kubelet's pod
// list → the selectors. Both locators, since the files have no mountinfo.
describe('selectors from SPIRE\'s cgroup files and pod lists', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const procWith = (cgroupFile: string): string => {
    const d = mkdtempSync(join(tmpdir(), 'k8s-proc-'));
    dirs.push(d);
    mkdirSync(join(d, '123'));
    copyFileSync(join(TESTDATA, cgroupFile), join(d, '123', 'cgroup'));
    return d;
  };
  const pods = (file: string): Pod[] => JSON.parse(readFileSync(join(TESTDATA, file), 'utf8')).items;
  const select = (cgroupFile: string, podList: string, legacy: boolean): string[] => {
    const { podUid, containerId } = locateContainer(procWith(cgroupFile), 123, legacy);
    if (containerId === '') return [];
    const out: string[][] = [];
    for (const pod of pods(podList)) {
      if (podUid !== '' && pod.metadata?.uid !== podUid) continue;
      const cs = findContainer(pod, containerId);
      if (cs) out.push([...podSelectorValues(pod), ...containerSelectorValues(cs)]);
    }
    if (out.length > 1) throw new Error('two pods found with same container Id');
    return (out[0] ?? []).sort();
  };
  const podAndContainer = [
    'container-image:docker-pullable://localhost/spiffe/blog@sha256:0cfdaced91cb46dd7af48309799a3c351e4ca2d5e1ee9737ca0cbd932cb79898',
    'container-image:localhost/spiffe/blog:latest',
    'container-name:blog',
    'node-name:k8s-node-1',
    'ns:default',
    'pod-image-count:2',
    'pod-image:docker-pullable://localhost/spiffe/blog@sha256:0cfdaced91cb46dd7af48309799a3c351e4ca2d5e1ee9737ca0cbd932cb79898',
    'pod-image:docker-pullable://localhost/spiffe/ghostunnel@sha256:b2fc20676c92a433b9a91f3f4535faddec0c2c3613849ac12f02c1d5cfcd4c3a',
    'pod-image:localhost/spiffe/blog:latest',
    'pod-image:localhost/spiffe/ghostunnel:latest',
    'pod-init-image-count:0',
    'pod-label:k8s-app:blog',
    'pod-label:version:v0',
    'pod-name:blog-24ck7',
    'pod-owner-uid:ReplicationController:2c401175-b29f-11e7-9350-020968147796',
    'pod-owner:ReplicationController:blog',
    'pod-uid:2c48913c-b29f-11e7-9350-020968147796',
    'sa:default',
  ];
  const kind = [
    'container-image:gcr.io/spiffe-io/spire-agent:0.8.1',
    'container-image:gcr.io/spiffe-io/spire-agent@sha256:1e4c481d76e9ecbd3d8684891e0e46aa021a30920ca04936e1fdcc552747d941',
    'container-name:workload-api-client',
    'node-name:kind-control-plane',
    'ns:default',
    'pod-image-count:1',
    'pod-image:gcr.io/spiffe-io/spire-agent:0.8.1',
    'pod-image:gcr.io/spiffe-io/spire-agent@sha256:1e4c481d76e9ecbd3d8684891e0e46aa021a30920ca04936e1fdcc552747d941',
    'pod-init-image-count:0',
    'pod-label:app:sample-workload',
    'pod-label:pod-template-hash:6658cb9566',
    'pod-name:sample-workload-6658cb9566-5n4b4',
    'pod-owner-uid:ReplicaSet:349d135e-3781-43e3-bc25-c900aedf1d0c',
    'pod-owner:ReplicaSet:sample-workload-6658cb9566',
    'pod-uid:a2830d0d-b0f0-4ff0-81b5-0ee4e299cf80',
    'sa:default',
  ];
  const crio = kind.map((v) =>
    v === 'node-name:kind-control-plane' ? 'node-name:a37b7d23-d32a-4932-8f33-40950ac16ee9' : v === 'ns:default' ? 'ns:sfh-199' : v,
  ).sort();
  const init = [
    'container-image:docker-pullable://quay.io/coreos/flannel@sha256:1b401bf0c30bada9a539389c3be652b58fe38463361edf488e6543c8761d4970',
    'container-image:quay.io/coreos/flannel:v0.9.0-amd64',
    'container-name:install-cni',
    'node-name:k8s-node-1',
    'ns:kube-system',
    'pod-image-count:1',
    'pod-image:docker-pullable://quay.io/coreos/flannel@sha256:1b401bf0c30bada9a539389c3be652b58fe38463361edf488e6543c8761d4970',
    'pod-image:quay.io/coreos/flannel:v0.9.0-amd64',
    'pod-init-image-count:1',
    'pod-init-image:docker-pullable://quay.io/coreos/flannel@sha256:1b401bf0c30bada9a539389c3be652b58fe38463361edf488e6543c8761d4970',
    'pod-init-image:quay.io/coreos/flannel:v0.9.0-amd64',
    'pod-label:app:flannel',
    'pod-label:controller-revision-hash:1846323910',
    'pod-label:pod-template-generation:1',
    'pod-label:tier:node',
    'pod-name:kube-flannel-ds-gp1g9',
    'pod-owner-uid:DaemonSet:2f0350fc-b29d-11e7-9350-020968147796',
    'pod-owner:DaemonSet:kube-flannel-ds',
    'pod-uid:d488cae9-b2a0-11e7-9350-020968147796',
    'sa:flannel',
  ];
  for (const legacy of [false, true]) {
    describe(legacy ? 'legacy locator' : 'new locator', () => {
      it.each([
        ['cgroupfs v1', 'cgroups_pid_in_pod.txt', 'pod_list.json', podAndContainer],
        ['systemd v1', 'systemd_cgroups_pid_in_pod.txt', 'pod_list.json', podAndContainer],
        ['kind (cgroupfs in docker, unified line of the host)', 'cgroups_pid_in_kind_pod.txt', 'kind_pod_list.json', kind],
        ['CRI-O without pod UID', 'cgroups_pid_in_crio_pod.txt', 'crio_pod_list.json', crio],
        ['CRI-O with systemd', 'systemd_crio_cgroups_pid_in_pod.txt', 'crio_pod_list.json', crio],
        ['init container', 'cgroups_init_pid_in_pod.txt', 'pod_list.json', init],
        ['not in a pod', 'cgroups_pid_not_in_pod.txt', 'pod_list.json', []],
        ['container not running yet', 'cgroups_pid_in_pod.txt', 'pod_list_not_running.json', []],
      ])('%s', (_name, cgroupFile, podList, want) => {
        expect(select(cgroupFile, podList, legacy)).toEqual([...want].sort());
      });
      it('two pods with the same container ID', () => {
        expect(() => select('cgroups_pid_in_crio_pod.txt', 'crio_pod_list_duplicate_containerId.json', legacy)).toThrow('two pods found with same container Id');
      });
    });
  }
});
