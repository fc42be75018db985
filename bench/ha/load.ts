// Simulated agents for bench:ha, spread over several worker processes
// (load-worker.ts), each with its own share of agents: each agent attests
// with a join token (real CSR, then real mTLS through the load balancer) and
// syncs every `syncMs` as an agent does — GetBundle, GetAuthorizedEntries
// (exactly its 10 entries) and one SVID renewal with a fresh CSR. Set-up
// shortcut: the join tokens and entries are written to the database directly
// (bulk), the servers pick the entries up as they do any change. Reports
// the sustained sync rate, p50/p99 sync latency, SVIDs/s, CPU (servers,
// generator, PostgreSQL, Envoy), RSS, PostgreSQL transactions and rows read
// per second and per sync.
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { callUnary, udsClient } from '../../src/cli/grpc-client.ts';
import { Services } from '../../src/common/grpc/protos.ts';
import { openPostgresDataStore } from '../../src/server/datastore/postgres.ts';
import { percentile } from '../lib/percentile.ts';
import { SpiffeId } from '../../src/spiffe/id.ts';
import { TrustDomain } from '../../src/spiffe/trust-domain.ts';
import type { HaDeployment } from '../../test/helpers/ha.ts';
import type { FromWorker, ToWorker, WorkerTask } from './load-worker.ts';

const ENTRIES_PER_AGENT = 10;
const td = TrustDomain.require('example.org');

interface Usage {
  cpuS: number;
  rss: number;
}

/**
 * CPU seconds and RSS (bytes) of the processes `pick` selects by pid, pgrp
 * and ppid; with `reaper`, also the CPU of its children that have exited
 * (PostgreSQL backends come and go; the postmaster waits for them).
 */
function usage(pick: (p: { pid: number; pgrp: number; ppid: number }) => boolean, reaper?: number): Usage {
  const tick = 100;
  let cpuS = 0;
  let rss = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (!pick({ pid: Number(d), ppid: Number(f[1]), pgrp: Number(f[2]) })) continue;
      cpuS += (Number(f[11]) + Number(f[12])) / tick; // utime, stime
      if (Number(d) === reaper) cpuS += (Number(f[13]) + Number(f[14])) / tick; // cutime, cstime
      rss += Number(f[21]) * 4096; // rss pages
    } catch {
      // the process is gone
    }
  }
  return { cpuS, rss };
}

/** PostgreSQL settings for the load: pg_stat_statements counts every statement. */
export const LOAD_POSTGRES_SETTINGS = { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track': 'all' };

interface DbCounters {
  xacts: number;
  rows: number;
  /** Calls per normalised statement (pg_stat_statements), this database. */
  statements: Map<string, number>;
}

async function dbCounters(uri: string): Promise<DbCounters> {
  const c = new pg.Client({ connectionString: uri });
  await c.connect();
  try {
    await c.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    // Statistics are flushed by backends within a second or so; this database only.
    await c.query('SELECT pg_stat_clear_snapshot()');
    const r = (await c.query('SELECT xact_commit + xact_rollback AS x, tup_returned + tup_fetched AS t FROM pg_stat_database WHERE datname = current_database()')).rows[0];
    const st = await c.query('SELECT query, calls FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database()');
    const statements = new Map<string, number>();
    for (const row of st.rows as { query: string; calls: string }[]) statements.set(row.query, (statements.get(row.query) ?? 0) + Number(row.calls));
    return { xacts: Number(r.x), rows: Number(r.t), statements };
  } finally {
    await c.end();
  }
}

/** Statements executed between two readings, most frequent first. */
function statementDelta(a: DbCounters, b: DbCounters): { query: string; calls: number }[] {
  return [...b.statements]
    .map(([query, calls]) => ({ query, calls: calls - (a.statements.get(query) ?? 0) }))
    .filter((s) => s.calls > 0 && !/pg_stat_statements|pg_stat_database|pg_stat_clear_snapshot/.test(s.query))
    .sort((x, y) => y.calls - x.calls);
}

function postmasterPid(dataDir: string): number {
  return Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
}

export interface LoadOptions {
  agents: number;
  syncMs: number;
  seconds: number;
  workers: number;
  /** Runs under the load after the measurement window; the load lasts until it is done. */
  during?: () => Promise<void>;
}

/** Waits for a worker's next message of `type`, or fails when it exits first or `limitMs` passes. */
function next<T extends FromWorker['type']>(w: ChildProcess, type: T, limitMs: number): Promise<Extract<FromWorker, { type: T }>> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      w.off('message', onMessage);
      w.off('exit', onExit);
    };
    const onMessage = (m: FromWorker) => {
      if (m.type !== type) return;
      done();
      resolve(m as Extract<FromWorker, { type: T }>);
    };
    const onExit = (code: number | null) => {
      done();
      reject(new Error(`load worker ${w.pid} exited (${code}) before "${type}"`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`load worker ${w.pid}: no "${type}" within ${limitMs} ms`));
    }, limitMs);
    w.on('message', onMessage);
    w.on('exit', onExit);
  });
}

export async function simulateAgents(ha: HaDeployment, o: LoadOptions): Promise<void> {
  const admin = ha.servers[0]!.socketPath;
  const bundle = await callUnary<{ x509_authorities: { asn1: Buffer }[] }>(udsClient(Services.bundle, admin), 'GetBundle', {});
  const rootsPem = bundle.x509_authorities.map((x) => `-----BEGIN CERTIFICATE-----\n${x.asn1.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`).join('');

  // Set-up: join tokens and each agent's entries, in bulk.
  let t0 = Date.now();
  const tokens = Array.from({ length: o.agents }, () => randomUUID());
  const ds = await openPostgresDataStore({ connectionString: ha.databaseUri, onPoolError: () => {} });
  try {
    let k = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (k < tokens.length) await ds.createJoinToken({ token: tokens[k++]!, expiresAt: Math.floor(Date.now() / 1000) + 3600 });
      }),
    );
    const inputs = tokens.flatMap((token, a) =>
      Array.from({ length: ENTRIES_PER_AGENT }, (_, i) => ({
        spiffeId: SpiffeId.fromSegments(td, `sim${a}`, `workload${i}`),
        parentId: SpiffeId.fromSegments(td, 'spire', 'agent', 'join_token', token),
        selectors: [{ type: 'unix', value: `uid:${1000 + i}` }],
      })),
    );
    for (let i = 0; i < inputs.length; i += 5000) await ds.createEntries(inputs.slice(i, i + 5000));
  } finally {
    await ds.close();
  }
  console.log(`set-up: ${o.agents} join tokens and ${o.agents * ENTRIES_PER_AGENT} entries written in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const workers = Array.from({ length: Math.min(o.workers, o.agents) }, () => fork(new URL('./load-worker.ts', import.meta.url), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  // A worker that has gone is reported by `next`; a failed send must not kill the benchmark (and strand its servers).
  for (const w of workers) w.on('error', () => {});
  try {
    t0 = Date.now();
    const attested = workers.map((w) => next(w, 'attested', 1_800_000));
    workers.forEach((w, n) => {
      const task: WorkerTask = { address: `127.0.0.1:${ha.lbServer.port}`, rootsPem, tokens: tokens.filter((_, i) => i % workers.length === n), entriesPerAgent: ENTRIES_PER_AGENT, concurrency: 16 };
      w.send({ type: 'task', task } satisfies ToWorker);
    });
    const att = await Promise.all(attested);
    const agents = att.reduce((s, a) => s + a.agents, 0);
    const failed = att.reduce((s, a) => s + a.failed, 0);
    const attestS = (Date.now() - t0) / 1000;
    console.log(`attestation: ${agents} agents (join token, real CSR, through the load balancer) in ${attestS.toFixed(1)} s = ${(agents / attestS).toFixed(0)}/s by ${workers.length} processes; ${failed} failed${att.find((a) => a.error) ? ` (first: ${att.find((a) => a.error)!.error})` : ''}`);

    const workerPids = new Set(workers.map((w) => w.pid!));
    const pm = postmasterPid(ha.postgres.dataDir);
    const measure = () => ({
      servers: ha.servers.map((s) => usage((p) => p.pgrp === s.proc.pid)),
      generator: usage((p) => workerPids.has(p.pid)),
      postgres: usage((p) => p.pid === pm || p.ppid === pm, pm),
      envoy: usage((p) => p.pgrp === ha.lb.proc.pid),
    });
    const startAt = Date.now() + 2000;
    // The load lasts the measurement window and whatever runs `during` it, up to a bound.
    const maxSeconds = o.seconds + 600;
    const results = workers.map((w) => next(w, 'result', (maxSeconds + 90) * 1000));
    const warm = workers.map((w) => next(w, 'warm', 300_000));
    for (const w of workers) w.send({ type: 'go', syncMs: o.syncMs, maxSeconds, startAt } satisfies ToWorker);
    // Measure whole intervals after the fleet has ramped up: every agent has synced once (connected, its records cached), then one more interval.
    await Promise.all(warm);
    console.log(`ramp-up: every agent synced once ${((Date.now() - startAt) / 1000).toFixed(1)} s after the start`);
    await new Promise((r) => setTimeout(r, o.syncMs));
    const u0 = measure();
    const db0 = await dbCounters(ha.databaseUri);
    const m0 = Date.now();
    await new Promise((r) => setTimeout(r, o.seconds * 1000));
    const u1 = measure();
    const db1 = await dbCounters(ha.databaseUri);
    const m1 = Date.now();
    const elapsed = (m1 - m0) / 1000;
    // After the window, so that the window shows the steady state (no entry writes), still under the same load.
    await o.during?.();
    for (const w of workers) if (w.connected) w.send({ type: 'stop' } satisfies ToWorker);
    const res = await Promise.all(results);

    const inWindow = (ts: number[]) => ts.filter((t) => t >= m0 && t <= m1).length;
    const sorted = res.flatMap((r) => r.latencies.filter((_, i) => r.doneAt[i]! >= m0 && r.doneAt[i]! <= m1)).sort((a, b) => a - b);
    const syncs = sorted.length;
    const svids = res.reduce((s, r) => s + inWindow(r.svidsAt), 0);
    const errors = res.reduce((s, r) => s + inWindow(r.errorsAt), 0);
    const late = res.reduce((s, r) => s + inWindow(r.lateAt), 0);
    const wrong = res.reduce((s, r) => s + r.wrongEntries, 0);
    const target = (agents / o.syncMs) * 1000;
    const rate = syncs / elapsed;
    console.log(
      `sync (GetBundle + GetAuthorizedEntries + 1 SVID) every ${o.syncMs} ms by ${agents} agents, measured over ${elapsed.toFixed(0)} s: ${rate.toFixed(0)} syncs/s of ${target.toFixed(0)} wanted ` +
        `(${((rate / target) * 100).toFixed(0)}%), p50 ${percentile(sorted, 50).toFixed(1)} ms, p99 ${percentile(sorted, 99).toFixed(1)} ms, ${(svids / elapsed).toFixed(0)} SVIDs/s, ` +
        `${errors} failed, ${late} begun over an interval late; ${wrong} syncs (whole run) with the wrong entries${res.find((r) => r.error) ? ` (first error: ${res.find((r) => r.error)!.error})` : ''}`,
    );
    const pct = (a: Usage, b: Usage) => `${(((b.cpuS - a.cpuS) / elapsed) * 100).toFixed(0)}%`;
    const mib = (u: Usage) => `${(u.rss / 2 ** 20).toFixed(0)} MiB`;
    console.log(
      `CPU of a core over ${elapsed.toFixed(0)} s: servers ${u0.servers.map((u, i) => pct(u, u1.servers[i]!)).join(' / ')}, load generator ${pct(u0.generator, u1.generator)} (${workers.length} processes), ` +
        `PostgreSQL ${pct(u0.postgres, u1.postgres)}, Envoy ${pct(u0.envoy, u1.envoy)}; RSS servers ${u1.servers.map(mib).join(' / ')}, generator ${mib(u1.generator)}`,
    );
    const xps = (db1.xacts - db0.xacts) / elapsed;
    const syncsInWindow = Math.max(1, syncs);
    const statements = statementDelta(db0, db1);
    const queries = statements.reduce((n, st) => n + st.calls, 0);
    console.log(
      `PostgreSQL (this database): ${xps.toFixed(0)} transactions/s (${((db1.xacts - db0.xacts) / syncsInWindow).toFixed(2)} per sync), ` +
        `${(queries / elapsed).toFixed(0)} statements/s (${(queries / syncsInWindow).toFixed(2)} per sync, pg_stat_statements), ${((db1.rows - db0.rows) / elapsed).toFixed(0)} rows read/s`,
    );
    for (const st of statements.slice(0, 12)) console.log(`  ${(st.calls / elapsed).toFixed(1)}/s  ${st.query.replace(/\s+/g, ' ').slice(0, 110)}`);
  } finally {
    for (const w of workers) if (w.exitCode === null) w.kill();
  }
}
