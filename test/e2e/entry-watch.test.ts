// Entry changes reach a herald-agent over the server's entry watch, not at
// its next sync: with a 60 s sync_interval, a new entry and a new DNS name
// are served within 15 s (a functional bound: without the watch they would
// wait for the periodic sync, 60 s after the last one). The watch method
// itself: refused to a caller without an agent SVID, capped per agent.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServerClient } from '../../src/agent/client/server-client.ts';
import { AgentStorage } from '../../src/agent/storage.ts';
import { certificatesToPem, parseCertificatesDer, parseCertificatesPem } from '../../src/spiffe/bundle/der.ts';
import { SpiffeId } from '../../src/spiffe/id.ts';
import { generateToken, startAgent, startServer, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';

const TD = 'example.org';
const NODE = `spiffe://${TD}/node`;
const BOUND_MS = 15_000;

describe('entry watch: changes reach the agent before its next sync', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let server: ServerHandle;
  let agent: AgentHandle;
  const uid = `unix:uid:${process.getuid!()}`;

  /** SPIFFE ID → DNS names of the X509-SVIDs the Workload API serves this process. */
  const served = async (): Promise<Map<string, string[]>> => {
    const res = await agent.cli('api', 'fetch', 'x509', '-output', 'json', '-timeout', '5s');
    if (res.code !== 0) throw new Error(res.stderr);
    const svids = JSON.parse(res.stdout).svids as { spiffe_id: string; x509_svid: string }[];
    return new Map(
      svids.map((s) => {
        const leaf = parseCertificatesDer(Buffer.from(s.x509_svid, 'base64'))[0]!;
        const dns = (leaf.subjectAltName ?? '').split(', ').filter((n) => n.startsWith('DNS:')).map((n) => n.slice(4));
        return [s.spiffe_id, dns];
      }),
    );
  };
  const entryIdOf = (stdout: string): string => /^Entry ID\s*:\s*(\S+)$/m.exec(stdout)![1]!;

  beforeAll(async () => {
    tmp = await makeTempDir('herald-entry-watch-e2e-');
    server = await startServer({ dir: tmp.path, trustDomain: TD });
    const token = await generateToken(server, NODE);
    expect((await server.cli('entry', 'create', '-parentID', NODE, '-spiffeID', `spiffe://${TD}/first`, '-selector', uid)).code).toBe(0);
    agent = await startAgent({ dir: tmp.path, server, joinToken: token, syncInterval: '60s' });
    await waitFor('the first entry served', async () => (await served()).has(`spiffe://${TD}/first`));
    // The agent opens its watch after its first sync: changes from here on are pushed.
    await server.proc.waitForOutput('Entry watch opened');
  }, 90_000);

  afterAll(async () => {
    await agent?.stop();
    await server?.stop();
    await tmp?.cleanup();
  });

  it('a new entry for the agent is served without waiting for sync_interval', async () => {
    const started = Date.now();
    const r = await server.cli('entry', 'create', '-parentID', NODE, '-spiffeID', `spiffe://${TD}/second`, '-selector', uid);
    expect(r.code, r.stderr).toBe(0);
    await waitFor('the second entry served', async () => (await served()).has(`spiffe://${TD}/second`), { timeoutMs: BOUND_MS });
    expect(Date.now() - started).toBeLessThan(BOUND_MS);
  });

  it('an entry update (a new DNS name) reaches the served X509-SVID', async () => {
    const show = await server.cli('entry', 'show', '-spiffeID', `spiffe://${TD}/first`);
    const id = entryIdOf(show.stdout);
    const r = await server.cli('entry', 'update', '-entryID', id, '-parentID', NODE, '-spiffeID', `spiffe://${TD}/first`, '-selector', uid, '-dns', 'renamed.example.org');
    expect(r.code, r.stdout + r.stderr).toBe(0);
    await waitFor('the new DNS name served', async () => (await served()).get(`spiffe://${TD}/first`)?.includes('renamed.example.org'), { timeoutMs: BOUND_MS });
  });

  it('an entry under another agent does not make this one sync', async () => {
    const syncs = () => (agent.proc.output().match(/Synced with the server/g) ?? []).length;
    const before = syncs();
    const r = await server.cli('entry', 'create', '-parentID', `spiffe://${TD}/other-node`, '-spiffeID', `spiffe://${TD}/elsewhere`, '-selector', uid);
    expect(r.code, r.stderr).toBe(0);
    // Then a change of its own, whose sync proves the first was heard and let pass.
    const mine = await server.cli('entry', 'create', '-parentID', NODE, '-spiffeID', `spiffe://${TD}/third`, '-selector', uid);
    expect(mine.code, mine.stderr).toBe(0);
    await waitFor('the third entry served', async () => (await served()).has(`spiffe://${TD}/third`), { timeoutMs: BOUND_MS });
    expect(syncs() - before).toBe(1);
  });

  describe('the WatchEntries method', () => {
    const clients: ServerClient[] = [];
    const cancels: (() => void)[] = [];
    afterAll(() => {
      for (const c of cancels) c();
      for (const c of clients) c.close();
    });

    /** A client of the server's agent API presenting the agent's stored SVID, or none. */
    const client = async (asAgent: boolean): Promise<ServerClient> => {
      const roots = parseCertificatesPem((await server.cli('bundle', 'show')).stdout);
      let identity;
      if (asAgent) {
        const svid = (await (await AgentStorage.open(agent.dataDir)).loadSvid())!;
        identity = { certChainPem: certificatesToPem(svid.chain), privateKeyPem: svid.privateKey!.export({ format: 'pem', type: 'pkcs8' }).toString() };
      }
      const c = new ServerClient({ address: `127.0.0.1:${server.port}`, serverId: SpiffeId.require(`spiffe://${TD}/spire/server`), trustedRoots: roots, ...(identity ? { identity } : {}) });
      clients.push(c);
      return c;
    };
    /** Opens a watch; resolves how it ended, and counts its nudges. */
    const watch = (c: ServerClient) => {
      const w = { nudges: 0, ended: undefined as Promise<grpc.ServiceError | undefined> | undefined };
      w.ended = new Promise((resolve) => cancels.push(c.watchEntries(() => w.nudges++, resolve)));
      return w;
    };

    it('refuses a caller without an agent SVID', async () => {
      const err = await watch(await client(false)).ended;
      expect(err?.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(err?.details).toMatch(/authorization denied for an unauthenticated caller/);
    });

    it("nudges the agent's other watches, and refuses one beyond four per agent", async () => {
      const c = await client(true);
      // The agent holds one watch; three more reach the cap.
      const opened = (server.proc.output().match(/Entry watch opened/g) ?? []).length;
      const extra = [watch(c), watch(c), watch(c)];
      await waitFor('three more watches opened', () => (server.proc.output().match(/Entry watch opened/g) ?? []).length >= opened + 3);
      // Each watch's first message says it is registered (the agent syncs on it: a change just before is not missed).
      await waitFor('each watch registered', () => extra.every((w) => w.nudges === 1));
      const r = await server.cli('entry', 'create', '-parentID', NODE, '-spiffeID', `spiffe://${TD}/fourth`, '-selector', uid);
      expect(r.code, r.stderr).toBe(0);
      await waitFor('every watch nudged', () => extra.every((w) => w.nudges === 2));
      const err = await watch(c).ended;
      expect(err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(err?.details).toMatch(/already holds 4 entry watches/);
    });

    // Last: it bans the suite's agent.
    it('an agent banned after it opened its watch loses it at the next change that concerns it', async () => {
      const c = await client(true);
      for (const cancel of cancels.splice(0)) cancel();
      const w = watch(c);
      await waitFor('the watch registered', () => w.nudges === 1);
      const agentId = /SPIFFE ID\s*:\s*(\S+)/.exec((await server.cli('agent', 'list')).stdout)![1]!;
      expect((await server.cli('agent', 'ban', '-spiffeID', agentId)).code).toBe(0);
      const r = await server.cli('entry', 'create', '-parentID', NODE, '-spiffeID', `spiffe://${TD}/after-ban`, '-selector', uid);
      expect(r.code, r.stderr).toBe(0);
      const err = await w.ended;
      expect(err?.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(err?.details).toMatch(/is banned/);
    });
  });
});
