// Entry cache benchmark: 100k entries in a SQLite datastore (created in one
// transaction through createEntries), then a full cache load and one agent's
// authorized-entries lookup. Run: npx node bench/issuance/entry-cache.ts [entries]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openSqliteDataStore } from '../../src/server/datastore/sqlite.ts';
import type { EntryInput } from '../../src/server/datastore/types.ts';
import { EntryCache } from '../../src/server/entry-cache/entry-cache.ts';
import { SpiffeId } from '../../src/spiffe/id.ts';
import { TrustDomain } from '../../src/spiffe/trust-domain.ts';

const total = Number(process.argv[2] ?? 100_000);
const perParent = 100;
const td = TrustDomain.require('example.org');
const serverId = SpiffeId.fromPath(td, '/spire/server');
const aliases = Math.max(1, Math.floor(total / perParent / 10));
const agents = Math.floor(total / perParent) - aliases;

function inputs(): EntryInput[] {
  const out: EntryInput[] = [];
  // Node aliases (parent = the server) grouping agents by a selector, each parenting workloads.
  for (let a = 0; a < aliases; a++) {
    const alias = SpiffeId.fromPath(td, `/cluster/${a}`);
    out.push({ spiffeId: alias, parentId: serverId, selectors: [{ type: 'k8s_psat', value: `cluster:c${a}` }] });
    for (let w = 0; w < perParent; w++) {
      out.push({ spiffeId: SpiffeId.fromPath(td, `/cluster/${a}/ns/app${w}`), parentId: alias, selectors: [{ type: 'k8s', value: `ns:app${w}` }, { type: 'k8s', value: 'sa:default' }] });
    }
  }
  for (let g = 0; g < agents; g++) {
    const agent = SpiffeId.fromPath(td, `/spire/agent/join_token/${g}`);
    for (let w = 0; w < perParent; w++) {
      out.push({ spiffeId: SpiffeId.fromPath(td, `/host/${g}/svc${w}`), parentId: agent, selectors: [{ type: 'unix', value: `uid:${1000 + w}` }], dnsNames: [`svc${w}.host${g}.internal`] });
    }
  }
  return out.slice(0, total);
}

function ms(t: number): string {
  return `${t.toFixed(1)} ms`;
}

const dir = await mkdtemp(join(tmpdir(), 'herald-bench-'));
try {
  const ds = await openSqliteDataStore({ path: join(dir, 'datastore.sqlite3') });
  const list = inputs();
  let t = performance.now();
  await ds.createEntries(list);
  const createMs = performance.now() - t;

  t = performance.now();
  const cache = await EntryCache.load({ source: ds });
  const loadMs = performance.now() - t;

  const agentId = SpiffeId.fromPath(td, '/spire/agent/join_token/0');
  const agentSelectors = [{ type: 'k8s_psat', value: 'cluster:c0' }, { type: 'k8s_psat', value: 'agent_ns:spire' }];
  t = performance.now();
  const authorized = cache.getAuthorizedEntries(agentId, agentSelectors);
  const firstLookupMs = performance.now() - t;
  const rounds = 1000;
  t = performance.now();
  for (let i = 0; i < rounds; i++) cache.getAuthorizedEntries(agentId, agentSelectors);
  const avgLookupMs = (performance.now() - t) / rounds;

  const changed = await ds.createEntry({ spiffeId: SpiffeId.fromPath(td, '/host/0/new'), parentId: agentId, selectors: [{ type: 'unix', value: 'uid:1' }] });
  t = performance.now();
  await cache.refresh();
  const refreshMs = performance.now() - t;
  if (cache.getEntry(changed.id) === undefined) throw new Error('bench: incremental refresh missed the new entry');

  console.log(`entries created:          ${cache.size - 1} in ${ms(createMs)} (one transaction)`);
  console.log(`full cache load:          ${ms(loadMs)}${loadMs < 1000 ? '' : '  (over the 1 s target)'}`);
  console.log(`authorized entries:       ${authorized.length} for ${agentId} (+ alias cluster:c0)`);
  console.log(`lookup (first):           ${ms(firstLookupMs)}`);
  console.log(`lookup (mean of ${rounds}):   ${(avgLookupMs * 1000).toFixed(1)} µs`);
  console.log(`incremental refresh (1):  ${ms(refreshMs)}`);
  await ds.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}
