// spire.api.server.entry.v1.Entry: registration entry administration, and
// the authorized-entry feeds agents sync from (served from the entry cache,
// never from SQL per request).
import type * as grpc from '@grpc/grpc-js';
import { GrpcCode, HeraldError } from '../../common/errors.ts';
import type { EntryFilter, EntryMask, ListEntriesRequest, RegistrationEntry } from '../datastore/index.ts';
import { EntryExistsError } from '../datastore/errors.ts';
import type { Caller, CallerResolver } from './caller.ts';
import { matchBehavior, pagination, streamCaller, streamMethod, unaryMethod, type ApiContext } from './context.ts';
import { applyOutputMask, entryFromWire, entryToWire, selectorFromWire, spiffeIdFromWire, trustDomainFromWire, type WireEntry, type WireSelector, type WireSpiffeId, OK_STATUS, statusOf, wireStatus } from '../../common/wire/convert.ts';

interface WireEntryFilter {
  by_spiffe_id: WireSpiffeId | null;
  by_parent_id: WireSpiffeId | null;
  by_selectors: { selectors: WireSelector[]; match: string } | null;
  by_federates_with: { trust_domains: string[]; match: string } | null;
  by_hint: { value: string } | null;
  by_downstream: { value: boolean } | null;
}


function entryFilter(f: WireEntryFilter | null): EntryFilter {
  if (!f) return {};
  const out: { -readonly [K in keyof EntryFilter]: EntryFilter[K] } = {};
  if (f.by_spiffe_id) out.bySpiffeId = spiffeIdFromWire(f.by_spiffe_id, 'spiffe ID filter');
  if (f.by_parent_id) out.byParentId = spiffeIdFromWire(f.by_parent_id, 'parent ID filter');
  if (f.by_selectors) out.bySelectors = { selectors: f.by_selectors.selectors.map(selectorFromWire), match: matchBehavior(f.by_selectors.match) };
  if (f.by_federates_with) {
    out.byFederatesWith = {
      trustDomains: f.by_federates_with.trust_domains.map((t) => trustDomainFromWire(t, 'federates with filter')),
      match: matchBehavior(f.by_federates_with.match),
    };
  }
  if (f.by_hint) out.byHint = f.by_hint.value;
  // SPIRE: by_downstream true keeps only downstream entries; false does not filter.
  if (f.by_downstream?.value) out.byDownstream = true;
  return out;
}

/** spire.api.types.EntryMask → datastore mask (null mask = every field). */
function entryMask(m: Record<string, boolean> | null): EntryMask | undefined {
  if (!m) return undefined;
  return {
    spiffeId: m.spiffe_id ?? false,
    parentId: m.parent_id ?? false,
    selectors: m.selectors ?? false,
    x509SvidTtlSeconds: m.x509_svid_ttl ?? false,
    jwtSvidTtlSeconds: m.jwt_svid_ttl ?? false,
    federatesWith: m.federates_with ?? false,
    admin: m.admin ?? false,
    downstream: m.downstream ?? false,
    expiresAt: m.expires_at ?? false,
    dnsNames: m.dns_names ?? false,
    hint: m.hint ?? false,
  };
}

/** Sync pages: SPIRE sends everything at once up to this many entries, else revisions first. */
export const SYNC_ENTRY_PAGE_SIZE = 500;
export const SYNC_REVISION_PAGE_SIZE = 10_000;

export function entryService(ctx: ApiContext, resolver: CallerResolver): grpc.UntypedServiceImplementation {
  const { ds } = ctx;

  type Mask = Record<string, boolean> | null;
  const masked = (mask: Mask) => (e: RegistrationEntry) => applyOutputMask(entryToWire(e), mask, ['id']);

  const authorizedFor = async (caller: Awaited<ReturnType<CallerResolver['resolve']>>): Promise<RegistrationEntry[]> => {
    if (caller.kind !== 'agent') throw new HeraldError('ERR_PERMISSION_DENIED', 'only agents have authorized entries');
    await ctx.entries.current();
    return ctx.entries.getAuthorizedEntries(caller.id, await ds.getNodeSelectors(caller.id));
  };

  return {
    CountEntries: unaryMethod<{ filter: WireEntryFilter | null }, { count: number }>(ctx, resolver, 'admin', async (req) => ({
      count: await ds.countEntries(entryFilter(req.filter)),
    })),

    ListEntries: unaryMethod<{ filter: WireEntryFilter | null; output_mask: Mask; page_size: number; page_token: string }, unknown>(ctx, resolver, 'admin', async (req) => {
      const page = pagination(req.page_size, req.page_token);
      const listReq: ListEntriesRequest = { ...entryFilter(req.filter), ...(page ? { pagination: page } : {}) };
      const res = await ds.listEntries(listReq);
      return { entries: res.items.map(masked(req.output_mask)), next_page_token: res.nextPageToken ?? '' };
    }),

    GetEntry: unaryMethod<{ id: string; output_mask: Mask }, unknown>(ctx, resolver, 'admin', async (req) => {
      if (!req.id) throw new HeraldError('ERR_INVALID_ARGUMENT_ENTRY_ID', 'missing ID');
      const entry = await ds.getEntry(req.id);
      // SPIRE's wording (what its CLI prints).
      if (!entry) throw new HeraldError('ERR_ENTRY_NOT_FOUND', 'entry not found');
      return masked(req.output_mask)(entry);
    }),

    BatchCreateEntry: unaryMethod<{ entries: WireEntry[] }, unknown>(ctx, resolver, 'admin', async (req) => {
      const results = [];
      for (const w of req.entries) {
        try {
          const created = await ds.createEntry(entryFromWire(w, ctx.trustDomain));
          results.push({ status: OK_STATUS, entry: sortedForCreate(entryToWire(created)) });
        } catch (err) {
          // SPIRE answers a duplicate with AlreadyExists and the existing entry.
          if (err instanceof EntryExistsError) results.push({ status: wireStatus('ERR_ENTRY_EXISTS', 'similar entry already exists'), entry: entryToWire(err.existing) });
          else results.push({ status: statusOf(err), entry: null });
        }
      }
      return { results };
    }),

    BatchUpdateEntry: unaryMethod<{ entries: WireEntry[]; input_mask: Record<string, boolean> | null }, unknown>(ctx, resolver, 'admin', async (req) => {
      const mask = entryMask(req.input_mask);
      const results = [];
      for (const w of req.entries) {
        try {
          if (!w.id) throw new HeraldError('ERR_INVALID_ARGUMENT_ENTRY_ID', 'missing ID');
          const current = await ds.getEntry(w.id);
          if (!current) throw new HeraldError('ERR_ENTRY_NOT_FOUND', `entry "${w.id}" not found`);
          // Validate the merged entry, so a partial update cannot produce an invalid one.
          const merged = { ...entryToWire(current), ...pickMasked(w, req.input_mask) };
          const fields = entryFromWire(merged, ctx.trustDomain);
          const updated = await ds.updateEntry({ ...fields, id: w.id } as Parameters<typeof ds.updateEntry>[0], mask);
          results.push({ status: OK_STATUS, entry: entryToWire(updated) });
        } catch (err) {
          results.push({ status: statusOf(err), entry: null });
        }
      }
      return { results };
    }),

    BatchDeleteEntry: unaryMethod<{ ids: string[] }, unknown>(ctx, resolver, 'admin', async (req) => {
      const results = [];
      for (const id of req.ids) {
        try {
          if (!id) throw new HeraldError('ERR_INVALID_ARGUMENT_ENTRY_ID', 'missing entry ID');
          await ds.deleteEntry(id);
          results.push({ status: OK_STATUS, id });
        } catch (err) {
          const status = statusOf(err);
          // SPIRE's wording for a missing entry.
          results.push({ status: status.code === GrpcCode.NOT_FOUND ? wireStatus('ERR_ENTRY_NOT_FOUND', 'entry not found') : status, id });
        }
      }
      return { results };
    }),

    GetAuthorizedEntries: unaryMethod<{ output_mask: Mask }, unknown>(ctx, resolver, 'agent', async (req, caller) => ({
      entries: (await authorizedFor(caller)).map(masked(req.output_mask)),
    })),

    SyncAuthorizedEntries: streamMethod(ctx, syncAuthorizedEntries),
  };

  // SPIRE's protocol: small sets go out whole; large ones as revisions, and
  // the agent then asks for the IDs whose revision it does not have.
  async function syncAuthorizedEntries(call: grpc.ServerDuplexStream<{ ids: string[]; output_mask: Mask }, unknown>, seen: { caller?: Caller }): Promise<void> {
    const requests = call[Symbol.asyncIterator]();
    const caller = await streamCaller(resolver, 'agent', call);
    seen.caller = caller;
    const first = await requests.next();
    if (first.done) return;
    // The first request carries the output mask for the whole stream.
    const toWire = masked((first.value as { output_mask: Mask }).output_mask);
    const entries = (await authorizedFor(caller)).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    if (entries.length <= SYNC_ENTRY_PAGE_SIZE) {
      call.write({ entries: entries.map(toWire), entry_revisions: [], more: false });
      call.end();
      return;
    }
    for (let i = 0; i < entries.length; i += SYNC_REVISION_PAGE_SIZE) {
      const page = entries.slice(i, i + SYNC_REVISION_PAGE_SIZE);
      call.write({
        entry_revisions: page.map((e) => ({ id: e.id, revision_number: String(e.revisionNumber), created_at: String(e.createdAt) })),
        entries: [],
        more: i + SYNC_REVISION_PAGE_SIZE < entries.length,
      });
    }
    const byId = new Map(entries.map((e) => [e.id, e]));
    for (;;) {
      const next = await requests.next();
      if (next.done) break;
      const wanted = next.value.ids.map((id: string) => byId.get(id)).filter((e: RegistrationEntry | undefined): e is RegistrationEntry => e !== undefined);
      for (let i = 0; i < wanted.length || i === 0; i += SYNC_ENTRY_PAGE_SIZE) {
        call.write({ entries: wanted.slice(i, i + SYNC_ENTRY_PAGE_SIZE).map(toWire), entry_revisions: [], more: i + SYNC_ENTRY_PAGE_SIZE < wanted.length });
      }
    }
    call.end();
  }
}

/** SPIRE answers a create with the entry's selectors and DNS names sorted (as stored), what its CLI prints. */
function sortedForCreate(w: WireEntry): WireEntry {
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return { ...w, selectors: [...w.selectors].sort((a, b) => cmp(a.type, b.type) || cmp(a.value, b.value)), dns_names: [...w.dns_names].sort(cmp) };
}

function pickMasked(w: WireEntry, mask: Record<string, boolean> | null): Partial<WireEntry> {
  if (!mask) return w;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(mask)) if (v && k in w) out[k] = (w as unknown as Record<string, unknown>)[k];
  return out as Partial<WireEntry>;
}
