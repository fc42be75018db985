// `herald-server entry create|show|update|delete|count`: SPIRE 1.13's
// flags, validation, messages and output (cmd/spire-server/cli/entry).
import { Services } from '../../common/grpc/protos.ts';
import type { WireEntry } from '../../common/wire/convert.ts';
import { type Command, type CliIo } from '../command.ts';
import { GrpcCode } from '../../common/errors.ts';
import { callUnary } from '../grpc-client.ts';
import { adminClients, adminFlags, matchBehavior, outputFormat, parseCliSelector, parseSpiffeId, readInput } from './common.ts';
import { codeName, goFsError, goTimeUtc, pluralize, printProto, rpc, SpireCliError, spireFlags } from './spire-output.ts';

const ENTRY_PKG = 'spire.api.server.entry.v1';

type Status = { code: number; message: string };
type Result = { status: Status; entry: WireEntry | null };

const fieldFlags = {
  parentID: { type: 'string', usage: "The SPIFFE ID of this record's parent" },
  spiffeID: { type: 'string', usage: 'The SPIFFE ID that this record represents' },
  x509SVIDTTL: { type: 'int', usage: 'The lifetime, in seconds, for x509-SVIDs issued based on this registration entry.', default: 0 },
  jwtSVIDTTL: { type: 'int', usage: 'The lifetime, in seconds, for JWT-SVIDs issued based on this registration entry.', default: 0 },
  data: { type: 'string', usage: "Path to a file containing registration JSON (optional). If set to '-', read the JSON from stdin." },
  selector: { type: 'strings', usage: 'A colon-delimited type:value selector. Can be used more than once' },
  federatesWith: { type: 'strings', usage: 'SPIFFE ID of a trust domain to federate with. Can be used more than once' },
  admin: { type: 'bool', usage: "If set, the SPIFFE ID in this entry will be granted access to the SPIRE Server's management APIs" },
  storeSVID: { type: 'bool', usage: 'A boolean value that, when set, indicates that the resulting issued SVID from this entry must be stored through an SVIDStore plugin' },
  downstream: { type: 'bool', usage: 'A boolean value that, when set, indicates that the entry describes a downstream SPIRE server' },
  entryExpiry: { type: 'int', usage: 'An expiry, from epoch in seconds, for the resulting registration entry to be pruned', default: 0 },
  dns: { type: 'strings', usage: 'A DNS name that will be included in SVIDs issued based on this entry, where appropriate. Can be used more than once' },
  hint: { type: 'string', usage: 'The entry hint, used to disambiguate entries with the same SPIFFE ID' },
} as const;

const createFlags = {
  ...adminFlags,
  ...fieldFlags,
  entryID: { type: 'string', usage: 'A custom ID for this registration entry (optional). If not set, a new entry ID will be generated' },
  node: { type: 'bool', usage: 'If set, this entry will be applied to matching nodes rather than workloads' },
} as const;

const updateFlags = {
  ...adminFlags,
  ...fieldFlags,
  entryID: { type: 'string', usage: 'The Registration Entry ID of the record to update' },
} as const;

const INT32_MAX = 2 ** 31 - 1;

function int32(v: number, what: string): number {
  if (v > INT32_MAX || v < -(2 ** 31)) throw new SpireCliError(`invalid value for ${what}: value ${v} overflows int32`);
  return v;
}

/** printEntry (cmd/spire-server/cli/entry/util.go). */
export function formatEntry(e: WireEntry): string {
  const id = (x: { trust_domain: string; path: string } | null) => (x ? `spiffe://${x.trust_domain}${x.path}` : '');
  let s = `Entry ID         : ${e.id === '' ? '(none)' : e.id}\n`;
  s += `SPIFFE ID        : ${id(e.spiffe_id)}\n`;
  s += `Parent ID        : ${id(e.parent_id)}\n`;
  s += `Revision         : ${e.revision_number}\n`;
  if (e.downstream) s += 'Downstream       : true\n';
  s += `X509-SVID TTL    : ${e.x509_svid_ttl === 0 ? 'default' : e.x509_svid_ttl}\n`;
  s += `JWT-SVID TTL     : ${e.jwt_svid_ttl === 0 ? 'default' : e.jwt_svid_ttl}\n`;
  if (Number(e.expires_at) !== 0) s += `Expiration time  : ${goTimeUtc(e.expires_at)}\n`;
  for (const sel of e.selectors) s += `Selector         : ${sel.type}:${sel.value}\n`;
  for (const f of e.federates_with) s += `FederatesWith    : ${f}\n`;
  for (const d of e.dns_names) s += `DNS name         : ${d}\n`;
  if (e.admin) s += 'Admin            : true\n';
  if (e.store_svid) s += 'StoreSvid        : true\n';
  if (e.hint !== '') s += `Hint             : ${e.hint}\n`;
  return s + '\n';
}

function emptyEntry(): WireEntry {
  return {
    id: '', spiffe_id: null, parent_id: null, selectors: [], x509_svid_ttl: 0, federates_with: [], admin: false, downstream: false,
    expires_at: '0', dns_names: [], revision_number: '0', store_svid: false, jwt_svid_ttl: 0, hint: '', created_at: '0',
  };
}

type FieldValues = {
  entryID?: string | undefined; parentID?: string | undefined; spiffeID?: string | undefined; x509SVIDTTL: number; jwtSVIDTTL: number;
  selector: readonly string[]; federatesWith: readonly string[]; admin: boolean; storeSVID: boolean; downstream: boolean;
  entryExpiry: number; dns: readonly string[]; hint?: string | undefined; node?: boolean;
};

function entryFromFlags(v: FieldValues): WireEntry {
  const e = emptyEntry();
  e.spiffe_id = parseSpiffeId(v.spiffeID ?? '');
  e.parent_id = v.node ? { trust_domain: e.spiffe_id.trust_domain, path: '/spire/server' } : parseSpiffeId(v.parentID ?? '');
  e.x509_svid_ttl = int32(v.x509SVIDTTL, 'X509 SVID TTL');
  e.jwt_svid_ttl = int32(v.jwtSVIDTTL, 'JWT SVID TTL');
  e.id = v.entryID ?? '';
  e.downstream = v.downstream;
  e.expires_at = String(v.entryExpiry);
  e.dns_names = [...v.dns];
  e.store_svid = v.storeSVID;
  e.hint = v.hint ?? '';
  e.selectors = v.selector.map(parseCliSelector);
  e.federates_with = [...v.federatesWith];
  e.admin = v.admin;
  return e;
}

/** common.RegistrationEntry's JSON names (encoding/json matches them case-insensitively). */
const DATA_FIELDS: Record<string, keyof WireEntry | 'entryExpiry'> = {
  selectors: 'selectors', parent_id: 'parent_id', spiffe_id: 'spiffe_id', x509_svid_ttl: 'x509_svid_ttl', federates_with: 'federates_with',
  entry_id: 'id', admin: 'admin', downstream: 'downstream', entryexpiry: 'entryExpiry', dns_names: 'dns_names',
  revision_number: 'revision_number', store_svid: 'store_svid', jwt_svid_ttl: 'jwt_svid_ttl', hint: 'hint', created_at: 'created_at',
};

/** parseFile + api.RegistrationEntriesToProto: SPIRE's -data JSON ({"entries": [...]}). */
async function entriesFromData(path: string): Promise<WireEntry[]> {
  let text: string;
  try {
    text = await readInput(path);
  } catch (err) {
    throw new SpireCliError(goFsError(err, path), { cause: err });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new SpireCliError(`invalid character in JSON: ${(err as Error).message}`, { cause: err });
  }
  const list = (doc as { entries?: unknown } | null)?.entries ?? [];
  if (!Array.isArray(list)) throw new SpireCliError('json: cannot unmarshal entries: want an array');
  return list.map((raw: unknown, i) => {
    if (raw === null) throw new SpireCliError('missing registration entry');
    if (typeof raw !== 'object') throw new SpireCliError(`json: cannot unmarshal entries[${i}]: want an object`);
    const e = emptyEntry() as unknown as Record<string, unknown>;
    let spiffeId = '';
    let parentId = '';
    for (const [k, val] of Object.entries(raw as Record<string, unknown>)) {
      // Herald also takes the camelCase (protojson) spellings; an unknown field is an error, never dropped.
      const key = DATA_FIELDS[k.toLowerCase()] ?? DATA_FIELDS[k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)];
      if (!key) throw new SpireCliError(`entries[${i}]: unknown field "${k}" (Herald refuses fields it would ignore)`);
      if (key === 'spiffe_id') spiffeId = String(val ?? '');
      else if (key === 'parent_id') parentId = String(val ?? '');
      else if (key === 'entryExpiry') e.expires_at = String(val ?? 0);
      else if (key === 'revision_number' || key === 'created_at') e[key] = String(val ?? 0);
      else if (key === 'federates_with') {
        e.federates_with = ((val ?? []) as string[]).map((td) => {
          const name = td.startsWith('spiffe://') ? td.slice('spiffe://'.length) : td;
          if (!/^[a-z0-9._-]+$/.test(name)) throw new SpireCliError('invalid federated trust domain: trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores');
          return name;
        });
      } else if (key === 'selectors') e.selectors = ((val ?? []) as { type?: string; value?: string }[]).map((s) => ({ type: s.type ?? '', value: s.value ?? '' }));
      else e[key] = val ?? e[key];
    }
    const wrap = (what: string, f: () => { trust_domain: string; path: string }) => {
      try {
        return f();
      } catch (err) {
        throw new SpireCliError(`${what}: ${(err as Error).message}`, { cause: err });
      }
    };
    e.spiffe_id = wrap('invalid SPIFFE ID', () => parseSpiffeId(spiffeId));
    e.parent_id = wrap('invalid parent ID', () => parseSpiffeId(parentId));
    return e as unknown as WireEntry;
  });
}

/** Pretty output of a batch create/update (prettyPrintCreate / prettyPrintUpdate). */
function printBatch(io: CliIo, results: Result[], verb: 'create' | 'update'): number {
  const failed = results.filter((r) => r.status.code !== GrpcCode.OK);
  for (const r of results) if (r.status.code === GrpcCode.OK) io.stdout.write(formatEntry(r.entry!));
  for (const r of failed) {
    io.stderr.write(`Failed to ${verb} the following entry (code: ${codeName(r.status.code)}, msg: ${JSON.stringify(r.status.message)}):\n`);
    io.stderr.write(formatEntry(r.entry!));
  }
  if (failed.length > 0) throw new SpireCliError(`failed to ${verb} one or more entries`);
  return 0;
}

async function batch(io: CliIo, socketPath: string, output: string, method: 'BatchCreateEntry' | 'BatchUpdateEntry', entries: WireEntry[]): Promise<number> {
  const { clients: [client], close } = adminClients(socketPath, Services.entry);
  try {
    const res = await rpc(callUnary<{ results: Result[] }>(client!, method, { entries }));
    // The API leaves failed entries out of the results; SPIRE's CLI shows the request's.
    res.results.forEach((r, i) => {
      if (r.status.code !== GrpcCode.OK) r.entry = entries[i] ?? null;
    });
    if (output === 'json') {
      printProto(io, `${ENTRY_PKG}.${method}Response`, res);
      return 0;
    }
    return printBatch(io, res.results, method === 'BatchCreateEntry' ? 'create' : 'update');
  } finally {
    close();
  }
}

export const entryCreate: Command = {
  synopsis: 'Creates registration entries',
  async run(args, io) {
    const f = spireFlags(createFlags, args, 'entry create', io, 'server');
    if (!f) return 0;
    const v = f.values;
    const output = outputFormat(v.output);
    if (!v.data) {
      if (v.selector.length < 1) throw new SpireCliError('at least one selector is required');
      if (v.node && v.federatesWith.length > 0) throw new SpireCliError('node entries can not federate');
      if (!v.parentID && !v.node) throw new SpireCliError('a parent ID is required if the node flag is not set');
      if (!v.spiffeID) throw new SpireCliError('a SPIFFE ID is required');
      if (v.x509SVIDTTL < 0) throw new SpireCliError('a positive x509-SVID TTL is required');
      if (v.jwtSVIDTTL < 0) throw new SpireCliError('a positive JWT-SVID TTL is required');
    }
    const entries = v.data ? await entriesFromData(v.data) : [entryFromFlags(v)];
    return batch(io, v.socketPath, output, 'BatchCreateEntry', entries);
  },
};

export const entryUpdate: Command = {
  synopsis: 'Updates registration entries',
  async run(args, io) {
    const f = spireFlags(updateFlags, args, 'entry update', io, 'server');
    if (!f) return 0;
    const v = f.values;
    const output = outputFormat(v.output);
    if (!v.data) {
      if (!v.entryID) throw new SpireCliError('entry ID is required');
      if (v.selector.length < 1) throw new SpireCliError('at least one selector is required');
      if (!v.parentID) throw new SpireCliError('a parent ID is required');
      if (!v.spiffeID) throw new SpireCliError('a SPIFFE ID is required');
      if (v.x509SVIDTTL < 0) throw new SpireCliError('a positive x509-SVID TTL is required');
      if (v.jwtSVIDTTL < 0) throw new SpireCliError('a positive JWT-SVID TTL is required');
    }
    let entries: WireEntry[];
    if (v.data) entries = await entriesFromData(v.data);
    else {
      // SPIRE's update parses the parent ID before the SPIFFE ID.
      parseSpiffeId(v.parentID!);
      entries = [entryFromFlags(v)];
    }
    return batch(io, v.socketPath, output, 'BatchUpdateEntry', entries);
  },
};

const filterFlags = (what: 'show' | 'count') => ({
  ...adminFlags,
  parentID: { type: 'string', usage: `The Parent ID of the records to ${what}` },
  spiffeID: { type: 'string', usage: `The SPIFFE ID of the records to ${what}` },
  downstream: { type: 'bool', usage: 'A boolean value that, when set, indicates that the entry describes a downstream SPIRE server' },
  selector: { type: 'strings', usage: 'A colon-delimited type:value selector. Can be used more than once' },
  federatesWith: { type: 'strings', usage: 'SPIFFE ID of a trust domain an entry is federate with. Can be used more than once' },
  matchFederatesWithOn: { type: 'string', usage: 'The match mode used when filtering by federates with. Options: exact, any, superset and subset', default: 'superset' },
  matchSelectorsOn: { type: 'string', usage: 'The match mode used when filtering by selectors. Options: exact, any, superset and subset', default: 'superset' },
  hint: { type: 'string', usage: `The Hint of the records to ${what} (optional)` },
}) as const;

const showFlags = { ...filterFlags('show'), entryID: { type: 'string', usage: 'The Entry ID of the records to show' } } as const;

interface FilterValues {
  parentID?: string | undefined; spiffeID?: string | undefined; downstream: boolean; selector: readonly string[];
  federatesWith: readonly string[]; matchFederatesWithOn: string; matchSelectorsOn: string; hint?: string | undefined;
}

/** The ListEntries/CountEntries filter SPIRE's show and count build (by_downstream is always sent). */
function entryFilter(v: FilterValues): Record<string, unknown> {
  const filter: Record<string, unknown> = {};
  const id = (s: string, what: string) => {
    try {
      return parseSpiffeId(s);
    } catch (err) {
      throw new SpireCliError(`error parsing ${what} ${JSON.stringify(s)}: ${(err as Error).message}`, { cause: err });
    }
  };
  if (v.parentID) filter.by_parent_id = id(v.parentID, 'parent ID');
  if (v.spiffeID) filter.by_spiffe_id = id(v.spiffeID, 'SPIFFE ID');
  if (v.selector.length > 0) {
    const match = matchBehavior(v.matchSelectorsOn, (m) => `match behavior ${JSON.stringify(m)} unknown`);
    const selectors = v.selector.map((s) => {
      try {
        return parseCliSelector(s);
      } catch (err) {
        throw new SpireCliError(`error parsing selectors: ${(err as Error).message}`, { cause: err });
      }
    });
    filter.by_selectors = { selectors, match };
  }
  if (v.federatesWith.length > 0) {
    filter.by_federates_with = { trust_domains: [...v.federatesWith], match: matchBehavior(v.matchFederatesWithOn, (m) => `match behavior ${JSON.stringify(m)} unknown`) };
  }
  if (v.hint) filter.by_hint = { value: v.hint };
  filter.by_downstream = { value: v.downstream };
  return filter;
}

/** commonutil.SortTypesEntries: selectors sorted, then entries by SPIFFE ID, parent ID, TTLs, selectors. */
function sortEntries(entries: WireEntry[]): void {
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  const selCmp = (a: { type: string; value: string }, b: { type: string; value: string }) => cmp(a.type, b.type) || cmp(a.value, b.value);
  for (const e of entries) e.selectors.sort(selCmp);
  entries.sort((a, b) => {
    const c = cmp(a.spiffe_id?.trust_domain ?? '', b.spiffe_id?.trust_domain ?? '') || cmp(a.spiffe_id?.path ?? '', b.spiffe_id?.path ?? '')
      || cmp(a.parent_id?.trust_domain ?? '', b.parent_id?.trust_domain ?? '') || cmp(a.parent_id?.path ?? '', b.parent_id?.path ?? '')
      || a.x509_svid_ttl - b.x509_svid_ttl || a.jwt_svid_ttl - b.jwt_svid_ttl || a.selectors.length - b.selectors.length;
    if (c !== 0) return c;
    for (let i = 0; i < a.selectors.length; i++) {
      const s = selCmp(a.selectors[i]!, b.selectors[i]!);
      if (s !== 0) return s;
    }
    return 0;
  });
}

const LIST_PAGE_SIZE = 500;

export const entryShow: Command = {
  synopsis: 'Displays configured registration entries',
  async run(args, io) {
    const f = spireFlags(showFlags, args, 'entry show', io, 'server');
    if (!f) return 0;
    const v = f.values;
    const output = outputFormat(v.output);
    if (v.entryID && (v.parentID || v.spiffeID || v.selector.length > 0)) throw new SpireCliError("the -entryID flag can't be combined with others");
    const { clients: [client], close } = adminClients(v.socketPath, Services.entry);
    try {
      const entries: WireEntry[] = [];
      if (v.entryID) {
        entries.push(await rpc(callUnary<WireEntry>(client!, 'GetEntry', { id: v.entryID }), `error fetching entry ID ${v.entryID}`));
      } else {
        const filter = entryFilter(v);
        let page_token = '';
        do {
          const res = await rpc(callUnary<{ entries: WireEntry[]; next_page_token: string }>(client!, 'ListEntries', { filter, page_size: LIST_PAGE_SIZE, page_token }), 'error fetching entries');
          entries.push(...res.entries);
          page_token = res.next_page_token;
        } while (page_token !== '');
      }
      sortEntries(entries);
      if (output === 'json') {
        printProto(io, `${ENTRY_PKG}.ListEntriesResponse`, { entries, next_page_token: '' });
        return 0;
      }
      io.stdout.write(pluralize(`Found ${entries.length} `, 'entry', 'entries', entries.length) + '\n');
      for (const e of entries) io.stdout.write(formatEntry(e));
      return 0;
    } finally {
      close();
    }
  },
};

export const entryDelete: Command = {
  synopsis: 'Deletes registration entries',
  async run(args, io) {
    const f = spireFlags(
      {
        ...adminFlags,
        entryID: { type: 'string', usage: 'The Registration Entry ID of the record to delete.' },
        file: { type: 'string', usage: "Path to a file containing a JSON structure for batch deletion (optional). If set to '-', read from stdin." },
      },
      args,
      'entry delete',
      io,
      'server',
    );
    if (!f) return 0;
    const output = outputFormat(f.values.output);
    let ids: string[];
    if (f.values.file) {
      let text: string;
      try {
        text = await readInput(f.values.file);
      } catch (err) {
        throw new SpireCliError(goFsError(err, f.values.file), { cause: err });
      }
      let doc: { ids?: unknown };
      try {
        doc = JSON.parse(text) as { ids?: unknown };
      } catch (err) {
        throw new SpireCliError(`invalid character in JSON: ${(err as Error).message}`, { cause: err });
      }
      ids = Array.isArray(doc?.ids) ? doc.ids.map(String) : [];
    } else {
      if (!f.values.entryID) throw new SpireCliError('an entry ID is required');
      ids = [f.values.entryID];
    }
    const { clients: [client], close } = adminClients(f.values.socketPath, Services.entry);
    try {
      const res = await rpc(callUnary<{ results: { status: Status; id: string }[] }>(client!, 'BatchDeleteEntry', { ids }));
      if (output === 'json') {
        printProto(io, `${ENTRY_PKG}.BatchDeleteEntryResponse`, res);
        return 0;
      }
      const ok = res.results.filter((r) => r.status.code === GrpcCode.OK);
      const failed = res.results.filter((r) => r.status.code !== GrpcCode.OK);
      for (const r of ok) io.stdout.write(`Deleted entry with ID: ${r.id}\n`);
      if (ok.length > 0) io.stdout.write('\n\n');
      for (const r of failed) io.stderr.write(`Failed to delete entry with ID ${r.id} (code: ${codeName(r.status.code)}, msg: ${JSON.stringify(r.status.message)})\n`);
      if (failed.length > 0) {
        io.stdout.write('\n\n');
        io.stdout.write(ok.length === 0 ? `Failed to delete ${failed.length} entries` : `Deleted ${ok.length} entries successfully, but failed to delete ${failed.length} entries`);
        throw new SpireCliError('failed to delete one or more entries');
      }
      io.stdout.write(`Deleted ${ok.length} entries successfully`);
      return 0;
    } finally {
      close();
    }
  },
};

export const entryCount: Command = {
  synopsis: 'Count registration entries',
  async run(args, io) {
    const f = spireFlags(filterFlags('count'), args, 'entry count', io, 'server');
    if (!f) return 0;
    const output = outputFormat(f.values.output);
    const { clients: [client], close } = adminClients(f.values.socketPath, Services.entry);
    try {
      const filter = entryFilter(f.values);
      const res = await rpc(callUnary<{ count: number }>(client!, 'CountEntries', { filter }));
      if (output === 'json') printProto(io, `${ENTRY_PKG}.CountEntriesResponse`, res);
      else io.stdout.write(pluralize(`${res.count} registration `, 'entry', 'entries', res.count) + '\n');
      return 0;
    } finally {
      close();
    }
  },
};
