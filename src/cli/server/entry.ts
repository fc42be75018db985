// `herald-server entry create|show|update|delete|count`, SPIRE's flags.
import { readFile } from 'node:fs/promises';
import { HeraldError, errorMessage } from '../../common/errors.ts';
import { Services } from '../../common/grpc/protos.ts';
import { parseSelector } from '../../common/selector.ts';
import type { WireEntry } from '../../server/api/convert.ts';
import { flagsOrHelp, type Command, type CliIo } from '../command.ts';
import { callUnary } from '../grpc-client.ts';
import { adminClients, adminFlags, batchFailed, outputFormat, printJson, requireFlag } from './common.ts';
import { formatEntry, plural } from './format.ts';

const entryFieldFlags = {
  ...adminFlags,
  entryID: { type: 'string', usage: 'A custom ID for this registration entry (optional). If not set, a new entry ID will be generated' },
  parentID: { type: 'string', usage: 'The SPIFFE ID of this record\'s parent' },
  spiffeID: { type: 'string', usage: 'The SPIFFE ID that this record represents' },
  selector: { type: 'strings', usage: 'A colon-delimited type:value selector. Can be used more than once' },
  x509SVIDTTL: { type: 'int', usage: 'The lifetime, in seconds, for x509-SVIDs issued based on this registration entry.', default: 0 },
  jwtSVIDTTL: { type: 'int', usage: 'The lifetime, in seconds, for JWT-SVIDs issued based on this registration entry.', default: 0 },
  federatesWith: { type: 'strings', usage: 'SPIFFE ID of a trust domain to federate with. Can be used more than once' },
  dns: { type: 'strings', usage: 'A DNS name that will be included in SVIDs issued based on this entry, where appropriate. Can be used more than once' },
  admin: { type: 'bool', usage: 'If set, the SPIFFE ID in this entry will be granted access to the Server APIs' },
  downstream: { type: 'bool', usage: 'A boolean value that, when set, indicates that the entry describes a downstream SPIRE server' },
  entryExpiry: { type: 'int', usage: 'An expiry, from epoch in seconds, for the resulting registration entry to be pruned', default: 0 },
  hint: { type: 'string', usage: 'The entry hint, used to disambiguate entries with the same SPIFFE ID' },
  node: { type: 'bool', usage: 'If set, this entry will be applied to matching nodes rather than workloads' },
  data: { type: 'string', usage: 'Path to a file containing registration JSON (optional). If set to \'-\', read the JSON from stdin.' },
} as const;

function wireId(s: string, flag: string): { trust_domain: string; path: string } {
  const m = /^spiffe:\/\/([^/]+)(\/.*)?$/.exec(s);
  if (!m) throw new HeraldError('ERR_INVALID_ARGUMENT_FLAG', `${flag}: "${s}" is not a SPIFFE ID (spiffe://trust-domain/path)`);
  return { trust_domain: m[1]!, path: m[2] ?? '' };
}

function emptyEntry(): WireEntry {
  return {
    id: '', spiffe_id: null, parent_id: null, selectors: [], x509_svid_ttl: 0, federates_with: [], admin: false, downstream: false,
    expires_at: '0', dns_names: [], revision_number: '0', store_svid: false, jwt_svid_ttl: 0, hint: '', created_at: '0',
  };
}

type EntryFlagValues = { [K in keyof typeof entryFieldFlags]: unknown } & Record<string, unknown>;

function entryFromFlags(v: EntryFlagValues): WireEntry {
  const e = emptyEntry();
  e.id = (v.entryID as string | undefined) ?? '';
  if (v.node) {
    // SPIRE: node entries are parented by the server itself.
    const id = wireId(requireFlag(v.spiffeID as string | undefined, 'a SPIFFE ID'), '-spiffeID');
    e.parent_id = { trust_domain: id.trust_domain, path: '/spire/server' };
  } else {
    e.parent_id = wireId(requireFlag(v.parentID as string | undefined, 'a parent ID'), '-parentID');
  }
  e.spiffe_id = wireId(requireFlag(v.spiffeID as string | undefined, 'a SPIFFE ID'), '-spiffeID');
  const selectors = v.selector as readonly string[];
  if (selectors.length === 0) throw new HeraldError('ERR_INVALID_ARGUMENT_FLAG', 'at least one selector is required');
  e.selectors = selectors.map((s) => {
    try {
      const sel = parseSelector(s);
      return { type: sel.type, value: sel.value };
    } catch (err) {
      throw new HeraldError('ERR_INVALID_ARGUMENT_FLAG', `-selector "${s}": ${errorMessage(err)}`, { cause: err });
    }
  });
  e.x509_svid_ttl = v.x509SVIDTTL as number;
  e.jwt_svid_ttl = v.jwtSVIDTTL as number;
  e.federates_with = [...(v.federatesWith as readonly string[])];
  e.dns_names = [...(v.dns as readonly string[])];
  e.admin = v.admin as boolean;
  e.downstream = v.downstream as boolean;
  e.expires_at = String(v.entryExpiry);
  e.hint = (v.hint as string | undefined) ?? '';
  return e;
}

const camelToSnake = (k: string): string => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`).replace(/^x509_s_v_i_d/, 'x509_svid');

/** Entries from SPIRE's -data JSON ({"entries":[…]}, protojson names or proto names). */
async function entriesFromData(path: string): Promise<WireEntry[]> {
  let doc: unknown;
  try {
    const text = path === '-' ? await readStdin() : await readFile(path, 'utf8');
    doc = JSON.parse(text);
  } catch (err) {
    throw new HeraldError('ERR_INVALID_ARGUMENT_DATA', `cannot read -data ${path}: ${errorMessage(err)}`, { cause: err });
  }
  const list = (doc as { entries?: unknown }).entries;
  if (!Array.isArray(list)) throw new HeraldError('ERR_INVALID_ARGUMENT_DATA', `-data ${path}: want {"entries": [...]}`);
  return list.map((raw, i) => {
    if (typeof raw !== 'object' || raw === null) throw new HeraldError('ERR_INVALID_ARGUMENT_DATA', `-data ${path}: entries[${i}] is not an object`);
    const e = emptyEntry() as unknown as Record<string, unknown>;
    for (const [k, val] of Object.entries(raw)) {
      const key = camelToSnake(k).replace('x509_svid_ttl', 'x509_svid_ttl').replace('jwt_svid_ttl', 'jwt_svid_ttl');
      const norm = key === 'x509svid_ttl' ? 'x509_svid_ttl' : key === 'jwt_s_v_i_d_ttl' ? 'jwt_svid_ttl' : key;
      if (!(norm in e)) throw new HeraldError('ERR_INVALID_ARGUMENT_DATA', `-data ${path}: entries[${i}] has unknown field "${k}"`);
      e[norm] = norm === 'spiffe_id' || norm === 'parent_id' ? (typeof val === 'string' ? wireId(val, norm) : (val as object)) : val;
    }
    return e as unknown as WireEntry;
  });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export const entryCreate: Command = {
  synopsis: 'Creates registration entries',
  async run(args, io) {
    const f = flagsOrHelp(entryFieldFlags, args, 'entry create', io);
    if (!f) return 0;
    const out = outputFormat(f.values.output);
    const entries = f.values.data ? await entriesFromData(f.values.data) : [entryFromFlags(f.values as unknown as EntryFlagValues)];
    const { clients: [entry], close } = adminClients(f.values.socketPath, Services.entry);
    try {
      const res = await callUnary<{ results: { status: { code: number; message: string }; entry: WireEntry | null }[] }>(entry!, 'BatchCreateEntry', { entries });
      if (out === 'json') printJson(io, res);
      let failed = false;
      for (const r of res.results) {
        if (r.status.code !== 0) {
          failed = true;
          if (out === 'pretty') io.stderr.write(`Failed to create the following entry (code: ${r.status.code}, msg: "${r.status.message}"):\n`);
          if (out === 'pretty' && r.entry) io.stderr.write(formatEntry(r.entry));
          continue;
        }
        if (out === 'pretty') io.stdout.write(formatEntry(r.entry!) + (res.results.length > 1 ? '\n' : ''));
      }
      return failed ? 1 : 0;
    } finally {
      close();
    }
  },
};

export const entryUpdate: Command = {
  synopsis: 'Updates registration entries',
  async run(args, io) {
    const f = flagsOrHelp(entryFieldFlags, args, 'entry update', io);
    if (!f) return 0;
    const out = outputFormat(f.values.output);
    const entries = f.values.data ? await entriesFromData(f.values.data) : [entryFromFlags(f.values as unknown as EntryFlagValues)];
    for (const e of entries) if (!e.id) throw new HeraldError('ERR_INVALID_ARGUMENT_FLAG', 'an entry ID is required (-entryID)');
    const { clients: [entry], close } = adminClients(f.values.socketPath, Services.entry);
    try {
      const res = await callUnary<{ results: { status: { code: number; message: string }; entry: WireEntry | null }[] }>(entry!, 'BatchUpdateEntry', { entries });
      if (out === 'json') printJson(io, res);
      let failed = false;
      for (const r of res.results) {
        if (batchFailed(io, 'update entry', r.status)) failed = true;
        else if (out === 'pretty') io.stdout.write(formatEntry(r.entry!));
      }
      return failed ? 1 : 0;
    } finally {
      close();
    }
  },
};

const showFlags = {
  ...adminFlags,
  entryID: { type: 'string', usage: 'The Entry ID of the records to show' },
  parentID: { type: 'string', usage: 'The Parent ID of the records to show' },
  spiffeID: { type: 'string', usage: 'The SPIFFE ID of the records to show' },
  selector: { type: 'strings', usage: 'A colon-delimited type:value selector. Can be used more than once' },
  federatesWith: { type: 'strings', usage: 'SPIFFE ID of a trust domain an entry is federate with. Can be used more than once' },
  matchSelectorsOn: { type: 'string', usage: 'The match mode used when filtering by selectors. Options: exact, any, superset and subset', default: 'superset' },
  hint: { type: 'string', usage: 'The Hint of the records to show (optional)' },
} as const;

const MATCH_FLAG: Record<string, string> = { exact: 'MATCH_EXACT', any: 'MATCH_ANY', superset: 'MATCH_SUPERSET', subset: 'MATCH_SUBSET' };

export const entryShow: Command = {
  synopsis: 'Displays configured registration entries',
  async run(args, io) {
    const f = flagsOrHelp(showFlags, args, 'entry show', io);
    if (!f) return 0;
    const out = outputFormat(f.values.output);
    const { clients: [entry], close } = adminClients(f.values.socketPath, Services.entry);
    try {
      let entries: WireEntry[];
      if (f.values.entryID) {
        entries = [await callUnary<WireEntry>(entry!, 'GetEntry', { id: f.values.entryID })];
      } else {
        const match = MATCH_FLAG[f.values.matchSelectorsOn];
        if (!match) throw new HeraldError('ERR_INVALID_ARGUMENT_FLAG', `match behavior "${f.values.matchSelectorsOn}" unknown`);
        const filter: Record<string, unknown> = {};
        if (f.values.parentID) filter.by_parent_id = wireId(f.values.parentID, '-parentID');
        if (f.values.spiffeID) filter.by_spiffe_id = wireId(f.values.spiffeID, '-spiffeID');
        if (f.values.selector.length > 0) filter.by_selectors = { selectors: f.values.selector.map((s) => parseSelector(s)), match };
        if (f.values.federatesWith.length > 0) filter.by_federates_with = { trust_domains: f.values.federatesWith, match };
        if (f.values.hint) filter.by_hint = { value: f.values.hint };
        entries = (await callUnary<{ entries: WireEntry[] }>(entry!, 'ListEntries', { filter })).entries;
      }
      if (out === 'json') {
        printJson(io, { entries });
        return 0;
      }
      io.stdout.write(plural(entries.length, 'entry', 'entries'));
      for (const e of entries) io.stdout.write(formatEntry(e) + '\n');
      return 0;
    } finally {
      close();
    }
  },
};

export const entryDelete: Command = {
  synopsis: 'Deletes registration entries',
  async run(args, io) {
    const f = flagsOrHelp({ ...adminFlags, entryID: { type: 'string', usage: 'The Registration Entry ID of the record to delete.' }, file: { type: 'string', usage: 'Path to a file containing a JSON structure for batch deletion (optional).' } }, args, 'entry delete', io);
    if (!f) return 0;
    const out = outputFormat(f.values.output);
    let ids: string[];
    if (f.values.file) {
      const doc = JSON.parse(await readFile(f.values.file, 'utf8')) as { ids?: unknown };
      if (!Array.isArray(doc.ids)) throw new HeraldError('ERR_INVALID_ARGUMENT_DATA', `-file ${f.values.file}: want {"ids": [...]}`);
      ids = doc.ids.map(String);
    } else {
      ids = [requireFlag(f.values.entryID, 'an entry ID')];
    }
    const { clients: [entry], close } = adminClients(f.values.socketPath, Services.entry);
    try {
      const res = await callUnary<{ results: { status: { code: number; message: string }; id: string }[] }>(entry!, 'BatchDeleteEntry', { ids });
      if (out === 'json') printJson(io, res);
      let failed = false;
      for (const r of res.results) {
        if (batchFailed(io, `delete entry ${r.id}`, r.status)) failed = true;
        else if (out === 'pretty') io.stdout.write(`Deleted entry with ID: ${r.id}\n`);
      }
      return failed ? 1 : 0;
    } finally {
      close();
    }
  },
};

export const entryCount: Command = {
  synopsis: 'Count registration entries',
  async run(args, io: CliIo) {
    const f = flagsOrHelp(adminFlags, args, 'entry count', io);
    if (!f) return 0;
    const { clients: [entry], close } = adminClients(f.values.socketPath, Services.entry);
    try {
      const res = await callUnary<{ count: number }>(entry!, 'CountEntries', {});
      if (outputFormat(f.values.output) === 'json') printJson(io, res);
      else io.stdout.write(`${res.count} registration ${res.count === 1 ? 'entry' : 'entries'}\n`);
      return 0;
    } finally {
      close();
    }
  },
};
