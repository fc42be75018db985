// Automatic registration, as spire-controller-manager does it, inside
// herald-server (opt-in: the `controller_manager` config section). It
// watches ClusterSPIFFEIDs, Pods, Namespaces and Nodes and keeps the
// registration entries they declare in the datastore: one entry per
// (ClusterSPIFFEID, Pod), created, updated and deleted to match.
//
// Ownership: every entry the controller creates has an ID starting with
// `<entry_id_prefix>.` (SCM's entryIDPrefix), and it only ever updates or
// deletes entries with that prefix — hand-made entries (UUID IDs) are never
// touched. When a declared entry has the same SPIFFE ID, parent ID and
// selectors as an existing hand-made one, the hand-made one wins and the
// controller logs it and leaves it alone.
//
// Writes go through the datastore after the Entry API's own validation
// (entryFromWire), so a controller entry is exactly what
// `entry create` would have stored.

import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { Informer, type WatchingClient } from '../../common/k8s/informer.ts';
import { entryFromWire, entryToWire, type WireEntry } from '../../common/wire/convert.ts';
import type { TrustDomain } from '../../spiffe/trust-domain.ts';
import type { DataStore } from '../datastore/datastore.ts';
import { EntryExistsError } from '../datastore/errors.ts';
import type { EntryInput, RegistrationEntry } from '../datastore/types.ts';
import { CLUSTER_SPIFFEIDS_PATH, parseSpec, renderPodEntry, type KubeObject, type ParsedSpec, type RenderContext } from './cluster-spiffeid.ts';
import { matchesLabels } from './label-selector.ts';
import { GoTemplate } from './template.ts';

export interface ControllerConfig {
  readonly clusterName: string;
  readonly clusterDomain: string;
  readonly parentIdTemplate: string;
  /** Without the trailing dot. */
  readonly entryIdPrefix: string;
  readonly className: string;
  readonly watchClassless: boolean;
  /** Unanchored regular expressions, as SCM's ignoreNamespaces. */
  readonly ignoreNamespaces: readonly string[];
  /** Full reconciliation when nothing changed (SCM's gcInterval). */
  readonly gcIntervalMs: number;
}

export interface ControllerDeps {
  /** src/common/k8s/client.ts's KubeClient. */
  readonly client: WatchingClient & { mergePatch(path: string, patch: unknown): Promise<unknown> };
  readonly ds: DataStore;
  readonly trustDomain: TrustDomain;
  readonly log: Logger;
}

/** Coalesces bursts of watch events into one reconciliation. */
const DEBOUNCE_MS = 100;
const PAGE_SIZE = 1000;

export interface ReconcileResult {
  readonly created: number;
  readonly updated: number;
  readonly deleted: number;
  /** Declared entries that a hand-made entry already provides. */
  readonly shadowed: number;
  readonly failed: number;
}

interface Declared {
  readonly wire: WireEntry;
  readonly input: EntryInput;
  readonly by: KubeObject;
}

/** SCM's ClusterSPIFFEIDStats, written to each ClusterSPIFFEID's status. */
interface Stats {
  namespacesSelected: number;
  namespacesIgnored: number;
  podsSelected: number;
  podEntryRenderFailures: number;
  entriesMasked: number;
  entriesToSet: number;
  entryFailures: number;
}
const noStats = (): Stats => ({ namespacesSelected: 0, namespacesIgnored: 0, podsSelected: 0, podEntryRenderFailures: 0, entriesMasked: 0, entriesToSet: 0, entryFailures: 0 });

export class EntryController {
  readonly #c: ControllerConfig;
  readonly #d: ControllerDeps;
  readonly #prefix: string;
  readonly #parentId: GoTemplate;
  readonly #ignore: RegExp[];
  readonly #ids: Informer<KubeObject>;
  readonly #pods: Informer<KubeObject>;
  readonly #namespaces: Informer<KubeObject>;
  readonly #nodes: Informer<KubeObject>;
  readonly #specs = new Map<string, { rv: string | undefined; parsed: ParsedSpec | Error }>();
  #timer: NodeJS.Timeout | undefined;
  #gc: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;
  #again = false;
  #stopped = false;
  #listeners: ((r: ReconcileResult) => void)[] = [];

  constructor(config: ControllerConfig, deps: ControllerDeps) {
    if (config.entryIdPrefix === '') throw new Error('controller_manager: entry_id_prefix must not be empty (it is what keeps hand-made entries apart)');
    this.#c = config;
    this.#d = deps;
    this.#prefix = `${config.entryIdPrefix}.`;
    this.#parentId = new GoTemplate(config.parentIdTemplate, 'parent_id_template');
    this.#ignore = config.ignoreNamespaces.map((r) => new RegExp(r));
    // Status-only changes (the kubelet's pod reports, node heartbeats, our
    // own ClusterSPIFFEID stats) change no entry: they do not trigger a pass.
    const seen = new Map<string, string>();
    const informer = (path: string) =>
      new Informer<KubeObject>(deps.client, {
        path,
        onChange: (type, o) => {
          const key = `${path} ${o.metadata?.uid}`;
          if (type === 'DELETED') seen.delete(key);
          else {
            const fp = fingerprint(o);
            if (seen.get(key) === fp) return;
            seen.set(key, fp);
          }
          this.#schedule();
        },
        onError: (err) => deps.log.warn({ path, err: (err as Error).message }, 'Kubernetes list/watch failed; retrying'),
      });
    this.#ids = informer(CLUSTER_SPIFFEIDS_PATH);
    this.#pods = informer('/api/v1/pods');
    this.#namespaces = informer('/api/v1/namespaces');
    this.#nodes = informer('/api/v1/nodes');
  }

  /** Starts watching; resolves when every collection has been listed once and the first reconciliation ran. */
  async start(): Promise<void> {
    for (const i of [this.#ids, this.#pods, this.#namespaces, this.#nodes]) i.start();
    await Promise.all([this.#ids.synced, this.#pods.synced, this.#namespaces.synced, this.#nodes.synced]);
    await this.reconcileNow();
    this.#gc = setInterval(() => this.#schedule(), this.#c.gcIntervalMs);
    this.#gc.unref();
  }

  /** Called after every reconciliation (tests and metrics). */
  onReconcile(listener: (r: ReconcileResult) => void): () => void {
    this.#listeners.push(listener);
    return () => (this.#listeners = this.#listeners.filter((l) => l !== listener));
  }

  #schedule(): void {
    if (this.#stopped || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.reconcileNow().catch((err) => this.#d.log.error({ err }, 'Reconciliation failed'));
    }, DEBOUNCE_MS);
  }

  /** One reconciliation (queued behind a running one). */
  async reconcileNow(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      await this.#running;
      return;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        const r = await this.#reconcile();
        for (const l of this.#listeners) l(r);
      } while (this.#again && !this.#stopped);
    })().finally(() => (this.#running = undefined));
    await this.#running;
  }

  #spec(csid: KubeObject): ParsedSpec | Error {
    const key = csid.metadata?.uid ?? csid.metadata?.name ?? '';
    const rv = csid.metadata?.resourceVersion;
    const cached = this.#specs.get(key);
    if (cached && cached.rv === rv) return cached.parsed;
    let parsed: ParsedSpec | Error;
    try {
      parsed = parseSpec(csid.spec);
    } catch (err) {
      parsed = err as Error;
      this.#d.log.error({ clusterSPIFFEID: csid.metadata?.name, err: parsed.message }, 'Failed to parse ClusterSPIFFEID spec');
    }
    this.#specs.set(key, { rv, parsed });
    return parsed;
  }

  #handlesClass(className: string): boolean {
    // SCM: with no class_name, only classless resources; with one, that class (and classless if watch_classless).
    return (className === '' && (this.#c.className === '' || this.#c.watchClassless)) || className === this.#c.className;
  }

  /** SCM's reconcile: what the ClusterSPIFFEIDs declare, keyed by (SPIFFE ID, parent ID, selectors). */
  #declared(stats: Map<KubeObject, Stats>): Map<string, Declared> {
    const { log, trustDomain } = this.#d;
    const ctx: RenderContext = { trustDomain: trustDomain.name, clusterName: this.#c.clusterName, clusterDomain: this.#c.clusterDomain, parentId: this.#parentId };
    const nodes = new Map<string, KubeObject>();
    for (const n of this.#nodes.items) nodes.set(n.metadata?.name ?? '', n);
    const podsByNs = new Map<string, KubeObject[]>();
    for (const p of this.#pods.items) {
      const ns = p.metadata?.namespace ?? '';
      const list = podsByNs.get(ns);
      if (list) list.push(p);
      else podsByNs.set(ns, [p]);
    }
    const csids = [...this.#ids.items]
      .map((c) => ({ c, spec: this.#spec(c) }))
      .filter((x): x is { c: KubeObject; spec: ParsedSpec } => !(x.spec instanceof Error) && this.#handlesClass(x.spec.className))
      // Fallback ClusterSPIFFEIDs last: they apply only to pods no other one selected.
      .sort((a, b) => Number(a.spec.fallback) - Number(b.spec.fallback));
    const all = new Map<string, Declared[]>();
    const podsWithNonFallback = new Set<string>();
    for (const { c, spec } of csids) {
      const st = noStats();
      stats.set(c, st);
      for (const ns of this.#namespaces.items) {
        const nsName = ns.metadata?.name ?? '';
        if (!matchesLabels(spec.namespaceSelector, ns.metadata?.labels)) continue;
        st.namespacesSelected++;
        if (this.#ignore.some((r) => r.test(nsName))) {
          st.namespacesIgnored++;
          continue;
        }
        for (const pod of podsByNs.get(nsName) ?? []) {
          const podUid = pod.metadata?.uid ?? '';
          if (!matchesLabels(spec.podSelector, pod.metadata?.labels)) continue;
          st.podsSelected++;
          if (spec.fallback && podsWithNonFallback.has(podUid)) continue;
          const nodeName = pod.spec?.nodeName;
          if (!nodeName) continue; // not scheduled yet: no node, no parent
          const node = nodes.get(nodeName);
          const podName = `${nsName}/${pod.metadata?.name}`;
          if (!node) {
            st.podEntryRenderFailures++;
            log.warn({ pod: podName, node: nodeName }, 'Failed to render entry: node not found');
            continue;
          }
          let wire: WireEntry;
          let input: EntryInput;
          try {
            wire = renderPodEntry(spec, node, pod, ctx);
            input = entryFromWire(wire, trustDomain);
          } catch (err) {
            st.podEntryRenderFailures++;
            log.error({ clusterSPIFFEID: c.metadata?.name, pod: podName, err: (err as Error).message }, 'Failed to render entry');
            continue;
          }
          if (!spec.fallback) podsWithNonFallback.add(podUid);
          const key = entryKey(input);
          const list = all.get(key);
          if (list) list.push({ wire, input, by: c });
          else all.set(key, [{ wire, input, by: c }]);
        }
      }
    }
    // Several ClusterSPIFFEIDs declaring the same entry: the oldest one sets it, the others are masked (SCM).
    const declared = new Map<string, Declared>();
    for (const [key, list] of all) {
      list.sort((a, b) => olderFirst(a.by, b.by));
      declared.set(key, list[0]!);
      stats.get(list[0]!.by)!.entriesToSet++;
      for (const other of list.slice(1)) stats.get(other.by)!.entriesMasked++;
    }
    return declared;
  }

  /** Writes each ClusterSPIFFEID's stats to its status when they changed (needs patch on clusterspiffeids/status). */
  async #updateStatuses(stats: Map<KubeObject, Stats>): Promise<void> {
    for (const [c, st] of stats) {
      const name = c.metadata?.name ?? '';
      const now = c.status?.stats;
      if (now && (Object.keys(st) as (keyof Stats)[]).every((k) => now[k] === st[k])) continue;
      try {
        await this.#d.client.mergePatch(`${CLUSTER_SPIFFEIDS_PATH}/${encodeURIComponent(name)}/status`, { status: { stats: st } });
      } catch (err) {
        this.#d.log.warn({ clusterSPIFFEID: name, err: (err as Error).message }, 'Failed to update status');
      }
    }
  }

  async #currentOwned(): Promise<RegistrationEntry[]> {
    const out: RegistrationEntry[] = [];
    let token: string | undefined;
    do {
      const page = await this.#d.ds.listEntries({ pagination: { pageSize: PAGE_SIZE, ...(token ? { token } : {}) } });
      for (const e of page.items) if (e.id.startsWith(this.#prefix)) out.push(e);
      token = page.nextPageToken;
    } while (token);
    return out;
  }

  async #reconcile(): Promise<ReconcileResult> {
    const { ds, log } = this.#d;
    const stats = new Map<KubeObject, Stats>();
    const declared = this.#declared(stats);
    const current = new Map<string, RegistrationEntry[]>();
    for (const e of await this.#currentOwned()) {
      const k = entryKey(e);
      const list = current.get(k);
      if (list) list.push(e);
      else current.set(k, [e]);
    }
    let created = 0, updated = 0, deleted = 0, shadowed = 0, failed = 0;
    const toDelete: RegistrationEntry[] = [];
    for (const [k, entries] of current) {
      const want = declared.get(k);
      const [keep, ...extra] = want ? entries : [];
      toDelete.push(...(want ? extra : entries));
      if (want && keep && outdated(keep, want.input)) {
        try {
          await ds.updateEntry({ ...want.input, id: keep.id } as Parameters<DataStore['updateEntry']>[0]);
          updated++;
          log.info({ entry_id: keep.id, spiffe_id: keep.spiffeId.toString() }, 'Updated entry');
        } catch (err) {
          failed++;
          stats.get(want.by)!.entryFailures++;
          log.error({ entry_id: keep.id, err: (err as Error).message }, 'Failed to update entry');
        }
      }
    }
    for (const e of toDelete) {
      try {
        await ds.deleteEntry(e.id);
        deleted++;
        log.info({ entry_id: e.id, spiffe_id: e.spiffeId.toString() }, 'Deleted entry');
      } catch (err) {
        failed++;
        log.error({ entry_id: e.id, err: (err as Error).message }, 'Failed to delete entry');
      }
    }
    for (const [k, want] of declared) {
      if (current.has(k)) continue;
      const id = `${this.#prefix}${randomUUID()}`;
      try {
        await ds.createEntry({ ...want.input, id });
        created++;
        log.info({ entry_id: id, spiffe_id: want.input.spiffeId.toString(), clusterSPIFFEID: want.by.metadata?.name }, 'Created entry');
      } catch (err) {
        if (err instanceof EntryExistsError) {
          // A hand-made entry already gives this identity: it is not ours to manage.
          shadowed++;
          log.debug({ existing_entry_id: err.existing.id, spiffe_id: want.input.spiffeId.toString() }, 'A hand-made entry already declares this entry; leaving it alone');
        } else {
          failed++;
          stats.get(want.by)!.entryFailures++;
          log.error({ spiffe_id: want.input.spiffeId.toString(), err: (err as Error).message }, 'Failed to create entry');
        }
      }
    }
    await this.#updateStatuses(stats);
    return { created, updated, deleted, shadowed, failed };
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#gc);
    await Promise.all([this.#ids, this.#pods, this.#namespaces, this.#nodes].map((i) => i.stop()));
    await this.#running?.catch(() => {});
  }
}

/** What of an object templates and selectors can see: its metadata (not the resourceVersion) and spec, not its status. */
function fingerprint(o: KubeObject): string {
  const { resourceVersion: _rv, managedFields: _mf, ...meta } = (o.metadata ?? {}) as Record<string, unknown>;
  return JSON.stringify([meta, o.spec]);
}

/** SCM's makeEntryKey: SPIFFE ID, parent ID and the sorted selectors. */
function entryKey(e: Pick<EntryInput, 'spiffeId' | 'parentId' | 'selectors'>): string {
  const sels = e.selectors.map((s) => `${s.type}:${s.value}`).sort();
  return JSON.stringify([e.spiffeId.toString(), e.parentId.toString(), sels]);
}

/** SCM's getOutdatedEntryFields: the fields outside the key. */
function outdated(have: RegistrationEntry, want: EntryInput): boolean {
  const w = entryToWire(have);
  const sameList = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  return (
    have.x509SvidTtlSeconds !== (want.x509SvidTtlSeconds ?? 0) ||
    have.jwtSvidTtlSeconds !== (want.jwtSvidTtlSeconds ?? 0) ||
    !sameList([...w.federates_with].sort(), (want.federatesWith ?? []).map((t) => t.name).sort()) ||
    have.admin !== (want.admin ?? false) ||
    have.downstream !== (want.downstream ?? false) ||
    !sameList(have.dnsNames, want.dnsNames ?? []) ||
    have.hint !== (want.hint ?? '')
  );
}

/** SCM's objectCmp: older creation first, then not-being-deleted first, then UID. */
function olderFirst(a: KubeObject, b: KubeObject): number {
  const t = (o: KubeObject) => Date.parse(o.metadata?.creationTimestamp ?? '') || 0;
  if (t(a) !== t(b)) return t(a) - t(b);
  const del = (o: KubeObject) => (o.metadata?.deletionTimestamp ? 1 : 0);
  if (del(a) !== del(b)) return del(a) - del(b);
  const [ua, ub] = [a.metadata?.uid ?? '', b.metadata?.uid ?? ''];
  return ua < ub ? -1 : ua > ub ? 1 : 0;
}
