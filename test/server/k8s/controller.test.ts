// The entry controller in process, against a real kube-apiserver and a real
// SQLite datastore: which pods a ClusterSPIFFEID selects (namespace and pod
// selectors, ignore_namespaces, unscheduled pods), fallback and className,
// masking between ClusterSPIFFEIDs, and entries of another prefix or made by
// hand left alone. Each step reconciles until the expected state (bounded);
// a "marker" change made last in the same collection proves the watch
// delivered everything before it, so what is absent is absent for a reason.
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteDataStore } from '../../../src/server/datastore/sqlite.ts';
import type { DataStore } from '../../../src/server/datastore/datastore.ts';
import { CLUSTER_SPIFFEIDS_PATH, DEFAULT_PARENT_ID_TEMPLATE } from '../../../src/server/k8s/cluster-spiffeid.ts';
import { EntryController, type ControllerConfig } from '../../../src/server/k8s/controller.ts';
import { SpiffeId } from '../../../src/spiffe/id.ts';
import { TrustDomain } from '../../../src/spiffe/trust-domain.ts';
import { ROOT } from '../../helpers/herald.ts';
import { startKubeApiserver, type KubeApiserver } from '../../helpers/kube-apiserver.ts';
import { makeTempDir } from '../../helpers/tmp.ts';
import { waitFor } from '../../helpers/wait.ts';

const td = TrustDomain.require('example.org');
const log = pino({ level: process.env.CTRL_LOG ?? 'silent' });
const config: ControllerConfig = {
  clusterName: 'c1',
  clusterDomain: 'cluster.local',
  parentIdTemplate: DEFAULT_PARENT_ID_TEMPLATE,
  entryIdPrefix: 'c1',
  className: '',
  watchClassless: false,
  ignoreNamespaces: ['kube-system', '^ignored$'],
  gcIntervalMs: 60_000,
};

describe('EntryController', () => {
  let k8s: KubeApiserver;
  let tmp: { path: string; cleanup: () => Promise<void> };
  let ds: DataStore;
  let controller: EntryController;
  let nodeUid: string;
  /** Of prod-x and prod-x-copy, the one left after the masking test. */
  let survivor = 'prod-x-copy';

  const csid = (name: string, spec: object) =>
    k8s.client.create(CLUSTER_SPIFFEIDS_PATH, { apiVersion: 'spire.spiffe.io/v1alpha1', kind: 'ClusterSPIFFEID', metadata: { name }, spec });
  /** SPIFFE ID → selectors (and hint) of the controller's entries. */
  const owned = async (): Promise<Record<string, string[]>> => {
    const out: Record<string, string[]> = {};
    for (const e of (await ds.listEntries()).items.filter((e) => e.id.startsWith('c1.'))) {
      out[e.spiffeId.toString()] = [...e.selectors.map((s) => `${s.type}:${s.value}`).sort(), ...(e.hint ? [`hint:${e.hint}`] : [])];
    }
    return out;
  };
  /** Reconciles until the controller's entries are `expected` (10 s at most), then checks them. */
  const converge = async (expected: Record<string, string[]>): Promise<void> => {
    let got: Record<string, string[]> = {};
    await waitFor('the expected entries', async () => {
      await controller.reconcileNow();
      got = await owned();
      return isDeepStrictEqual(got, expected);
    }, { timeoutMs: 10_000, intervalMs: 100 }).catch(() => {});
    expect(got).toEqual(expected);
  };
  const stats = (name: string, ready: (s: any) => boolean) =>
    waitFor(`${name} stats`, async () => {
      const st = (await k8s.client.get(`${CLUSTER_SPIFFEIDS_PATH}/${name}`)).status?.stats;
      return st && ready(st) ? st : undefined;
    });
  let podUids: Record<string, string> = {};
  const pod = async (ns: string, name: string, labels: Record<string, string>, nodeName: string | null = 'node-1') => {
    await k8s.ensureServiceAccount(ns, 'sa');
    const p = await k8s.client.create(`/api/v1/namespaces/${ns}/pods`, {
      metadata: { name, labels },
      spec: { serviceAccountName: 'sa', ...(nodeName ? { nodeName } : {}), containers: [{ name: 'main', image: 'registry.example/x:1' }] },
    });
    podUids = { ...podUids, [`${ns}/${name}`]: p.metadata.uid };
    return p.metadata.uid as string;
  };

  beforeAll(async () => {
    k8s = await startKubeApiserver();
    tmp = await makeTempDir('herald-ctrl-');
    ds = await openSqliteDataStore({ path: join(tmp.path, 'ds.sqlite3') });
    await k8s.kubectl(['apply', '-f', join(ROOT, 'deploy/kubernetes/crds/spire.spiffe.io_clusterspiffeids.yaml')]);
    await k8s.kubectl(['wait', '--for', 'condition=established', '--timeout', '60s', 'crd/clusterspiffeids.spire.spiffe.io']);
    nodeUid = (await k8s.createNode('node-1')).metadata.uid;
    for (const [name, labels] of [['web', { env: 'prod' }], ['dev', { env: 'dev' }], ['ignored', { env: 'prod' }], ['kube-system', { env: 'prod' }]] as const) {
      await k8s.client.create('/api/v1/namespaces', { metadata: { name, labels } }).catch((err: { status?: number }) => {
        if (err.status !== 409) throw err;
        return k8s.client.mergePatch(`/api/v1/namespaces/${name}`, { metadata: { labels } });
      });
    }
    controller = new EntryController(config, { client: k8s.client, ds, trustDomain: td, log });
    await controller.start();
  }, 120_000);

  afterAll(async () => {
    await controller?.stop();
    await ds?.close();
    await k8s?.stop();
    await tmp?.cleanup();
  });

  it('registers the selected, scheduled pods of selected, not ignored namespaces under their node\'s agent', async () => {
    const a = await pod('web', 'a', { app: 'x' });
    await pod('web', 'b', { app: 'y' });
    await pod('dev', 'c', { app: 'x' });
    await pod('ignored', 'd', { app: 'x' });
    await pod('kube-system', 'e', { app: 'x' });
    await pod('web', 'unscheduled', { app: 'x' }, null);
    await csid('prod-x', {
      spiffeIDTemplate: 'spiffe://{{ .TrustDomain }}/{{ .ClusterName }}/{{ .PodMeta.Namespace }}/{{ .PodMeta.Name }}',
      namespaceSelector: { matchLabels: { env: 'prod' } },
      podSelector: { matchLabels: { app: 'x' } },
    });
    const z = await pod('web', 'z', { app: 'x' }); // the marker: made last
    await converge({
      'spiffe://example.org/c1/web/a': [`k8s:pod-uid:${a}`],
      'spiffe://example.org/c1/web/z': [`k8s:pod-uid:${z}`],
    });
    const [entry] = (await ds.listEntries()).items.filter((e) => e.id.startsWith('c1.'));
    expect(entry!.parentId.toString()).toBe(`spiffe://example.org/spire/agent/k8s_psat/c1/${nodeUid}`);
  }, 30_000);

  it('a fallback ClusterSPIFFEID covers only pods no other one selects; an older ClusterSPIFFEID masks a newer identical one', async () => {
    await csid('fallback', { spiffeIDTemplate: 'spiffe://example.org/fallback/{{ .PodMeta.Name }}', namespaceSelector: { matchLabels: { env: 'prod' } }, fallback: true });
    await csid('prod-x-copy', {
      spiffeIDTemplate: 'spiffe://{{ .TrustDomain }}/{{ .ClusterName }}/{{ .PodMeta.Namespace }}/{{ .PodMeta.Name }}',
      namespaceSelector: { matchLabels: { env: 'prod' } },
      podSelector: { matchLabels: { app: 'x' } },
    });
    const registered = {
      'spiffe://example.org/c1/web/a': [`k8s:pod-uid:${podUids['web/a']}`],
      'spiffe://example.org/c1/web/z': [`k8s:pod-uid:${podUids['web/z']}`],
      'spiffe://example.org/fallback/b': [`k8s:pod-uid:${podUids['web/b']}`],
    };
    await converge(registered);
    // The older one sets both entries, the other is masked (creation times are
    // in seconds: created within the same second, the lower UID wins, as in SCM).
    const [x, copy] = await Promise.all(['prod-x', 'prod-x-copy'].map((n) => k8s.client.get(`${CLUSTER_SPIFFEIDS_PATH}/${n}`)));
    const copyFirst = Date.parse(copy.metadata.creationTimestamp) < Date.parse(x.metadata.creationTimestamp) ||
      (copy.metadata.creationTimestamp === x.metadata.creationTimestamp && copy.metadata.uid < x.metadata.uid);
    const [winner, masked] = copyFirst ? ['prod-x-copy', 'prod-x'] : ['prod-x', 'prod-x-copy'];
    expect((await stats(winner, (s) => s.entriesToSet === 2)).entriesMasked).toBe(0);
    expect(await stats(masked, (s) => s.entriesMasked === 2)).toMatchObject({ entriesToSet: 0, namespacesSelected: 3, namespacesIgnored: 2, podsSelected: 3 });
    // The masked one takes over when the preferred one goes, with the same entries.
    const ids = async () => (await ds.listEntries()).items.filter((e) => e.id.startsWith('c1.')).map((e) => e.id).sort();
    const before = await ids();
    await k8s.client.delete(`${CLUSTER_SPIFFEIDS_PATH}/${winner}`);
    await stats(masked, (s) => s.entriesToSet === 2);
    await converge(registered);
    expect(await ids()).toEqual(before);
    survivor = masked;
  }, 30_000);

  it('ignores ClusterSPIFFEIDs of another class, and entries it does not own', async () => {
    await csid('other-class', { spiffeIDTemplate: 'spiffe://example.org/other/{{ .PodMeta.Name }}', className: 'other' });
    await ds.createEntry({ id: 'c2.someone-else', spiffeId: SpiffeId.require('spiffe://example.org/c2/x'), parentId: SpiffeId.require('spiffe://example.org/n'), selectors: [{ type: 'k8s', value: 'pod-uid:x' }] });
    await ds.createEntry({ spiffeId: SpiffeId.require('spiffe://example.org/by-hand'), parentId: SpiffeId.require('spiffe://example.org/n'), selectors: [{ type: 'k8s', value: 'sa:x' }] });
    // The marker: a change to a handled ClusterSPIFFEID after the other-class one (same watch).
    await k8s.client.mergePatch(`${CLUSTER_SPIFFEIDS_PATH}/${survivor}`, { spec: { hint: 'marker' } });
    await converge({
      'spiffe://example.org/c1/web/a': [`k8s:pod-uid:${podUids['web/a']}`, 'hint:marker'],
      'spiffe://example.org/c1/web/z': [`k8s:pod-uid:${podUids['web/z']}`, 'hint:marker'],
      'spiffe://example.org/fallback/b': [`k8s:pod-uid:${podUids['web/b']}`],
    });
    // Deleting every ClusterSPIFFEID removes the controller's entries, and only those.
    for (const name of ['fallback', survivor, 'other-class']) await k8s.client.delete(`${CLUSTER_SPIFFEIDS_PATH}/${name}`);
    await converge({});
    expect((await ds.listEntries()).items.map((e) => e.spiffeId.toString()).sort()).toEqual(['spiffe://example.org/by-hand', 'spiffe://example.org/c2/x']);
  }, 30_000);
});
