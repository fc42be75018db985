// In-memory index of registration entries for agent syncs: by ID, by parent
// ID, and node-alias entries (parent = spiffe://<td>/spire/server) by
// selector, so an agent's authorized entries are found without SQL.
import { isSubset, selectorKey, selectorSet, type Selector } from '../../common/selector.ts';
import type { SpiffeId } from '../../spiffe/id.ts';
import type { RegistrationEntry } from '../datastore/types.ts';

/** The path of the server's own ID; entries parented to it are node aliases. */
export const SERVER_ID_PATH = '/spire/server';

function isNodeAlias(e: RegistrationEntry): boolean {
  return e.parentId.path === SERVER_ID_PATH;
}

export class EntryIndex {
  readonly #byId = new Map<string, RegistrationEntry>();
  readonly #byParent = new Map<string, Map<string, RegistrationEntry>>();
  readonly #aliasesBySelector = new Map<string, Set<string>>();
  /** SPIFFE ID → the entries with it (an entry's children hang under its SPIFFE ID). */
  readonly #bySpiffeId = new Map<string, Map<string, RegistrationEntry>>();

  get size(): number {
    return this.#byId.size;
  }

  get(id: string): RegistrationEntry | undefined {
    return this.#byId.get(id);
  }

  values(): IterableIterator<RegistrationEntry> {
    return this.#byId.values();
  }

  put(e: RegistrationEntry): void {
    this.remove(e.id);
    this.#byId.set(e.id, e);
    const parent = e.parentId.toString();
    let children = this.#byParent.get(parent);
    if (children === undefined) this.#byParent.set(parent, (children = new Map()));
    children.set(e.id, e);
    const sid = e.spiffeId.toString();
    let same = this.#bySpiffeId.get(sid);
    if (same === undefined) this.#bySpiffeId.set(sid, (same = new Map()));
    same.set(e.id, e);
    if (isNodeAlias(e)) {
      for (const s of e.selectors) {
        const k = selectorKey(s);
        let ids = this.#aliasesBySelector.get(k);
        if (ids === undefined) this.#aliasesBySelector.set(k, (ids = new Set()));
        ids.add(e.id);
      }
    }
  }

  remove(id: string): void {
    const e = this.#byId.get(id);
    if (e === undefined) return;
    this.#byId.delete(id);
    const parent = e.parentId.toString();
    const children = this.#byParent.get(parent);
    children?.delete(id);
    if (children?.size === 0) this.#byParent.delete(parent);
    const sid = e.spiffeId.toString();
    const same = this.#bySpiffeId.get(sid);
    same?.delete(id);
    if (same?.size === 0) this.#bySpiffeId.delete(sid);
    if (isNodeAlias(e)) {
      for (const s of e.selectors) {
        const k = selectorKey(s);
        const ids = this.#aliasesBySelector.get(k);
        ids?.delete(id);
        if (ids?.size === 0) this.#aliasesBySelector.delete(k);
      }
    }
  }

  /**
   * Where an entry parented to `parentId` reaches agents from: the IDs at the
   * top of its chains (walking up through every entry whose SPIFFE ID is a
   * parent on the way; an agent's own ID has no entry) go into `roots.ids`,
   * the node aliases met into `roots.aliases`. The inverse of authorizedFor,
   * over-approximated (expiry is ignored). `walked` carries visited IDs
   * across calls of one batch, and ends cycles.
   */
  rootsOf(parentId: string, roots: { ids: Set<string>; aliases: Map<string, RegistrationEntry> }, walked: Set<string>): void {
    const stack = [parentId];
    while (stack.length > 0) {
      const id = stack.pop()!;
      if (walked.has(id)) continue;
      walked.add(id);
      roots.ids.add(id);
      for (const e of this.#bySpiffeId.get(id)?.values() ?? []) {
        if (isNodeAlias(e)) roots.aliases.set(e.id, e);
        else stack.push(e.parentId.toString());
      }
    }
  }

  /**
   * SPIRE semantics: the entries parented (directly or through a chain of
   * entries) by the agent's ID, plus every node-alias entry of the agent's
   * trust domain whose selectors are all among the agent's, and the entries
   * under those aliases. Entries expired at `nowSeconds` are left out, and
   * so is everything below them.
   */
  authorizedFor(agentId: SpiffeId, agentSelectors: readonly Selector[], nowSeconds: number): RegistrationEntry[] {
    const out: RegistrationEntry[] = [];
    const emitted = new Set<string>();
    const crawled = new Set<string>();
    const live = (e: RegistrationEntry) => e.expiresAt === 0 || e.expiresAt > nowSeconds;
    const crawl = (root: string) => {
      const stack = [root];
      while (stack.length > 0) {
        const parent = stack.pop()!;
        if (crawled.has(parent)) continue;
        crawled.add(parent);
        const children = this.#byParent.get(parent);
        if (children === undefined) continue;
        for (const child of children.values()) {
          if (!live(child) || emitted.has(child.id)) continue;
          emitted.add(child.id);
          out.push(child);
          stack.push(child.spiffeId.toString());
        }
      }
    };
    crawl(agentId.toString());
    if (agentSelectors.length > 0) {
      const have = selectorSet(agentSelectors);
      const candidates = new Set<string>();
      for (const k of have) for (const id of this.#aliasesBySelector.get(k) ?? []) candidates.add(id);
      for (const id of candidates) {
        const alias = this.#byId.get(id)!;
        if (!alias.parentId.trustDomain.equals(agentId.trustDomain) || !live(alias) || !isSubset(alias.selectors, have)) continue;
        if (!emitted.has(alias.id)) {
          emitted.add(alias.id);
          out.push(alias);
        }
        crawl(alias.spiffeId.toString());
      }
    }
    return out;
  }
}
