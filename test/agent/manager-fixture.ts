// An agent manager (join_token, manual clock, silent log) against a real gRPC
// server on a Unix socket (test/helpers/spire-api-server.ts) serving one
// entry: the setup the manager tests share.
import { join } from 'node:path';
import pino from 'pino';
import { ManualClock } from '../../src/common/clock.ts';
import { AgentManager } from '../../src/agent/manager.ts';
import type { NodeAttestorClient } from '../../src/agent/plugins/nodeattestor/types.ts';
import { AgentStorage } from '../../src/agent/storage.ts';
import { AgentMetrics } from '../../src/agent/telemetry.ts';
import { SpireApiServer, TD } from '../helpers/spire-api-server.ts';
import { makeTempDir } from '../helpers/tmp.ts';

export const SYNC_MS = 5_000;
const joinToken: NodeAttestorClient = { type: 'join_token', canReattest: false, attestationData: async () => Buffer.from('t'), answer: async () => Buffer.alloc(0) };

/** One turn of the event loop: a settled sync's promise chain has armed the next timer. Not a wait on time. */
export const settled = (): Promise<void> => new Promise((r) => setImmediate(r));

export interface ManagerFixture {
  tmp: { path: string; cleanup: () => Promise<void> };
  clock: ManualClock;
  server: SpireApiServer;
  manager: AgentManager;
  metrics: AgentMetrics;
  stop(): Promise<void>;
}

export async function managerFixture(prefix: string, serverOpts: { entryWatch?: boolean } = {}): Promise<ManagerFixture> {
  const tmp = await makeTempDir(prefix);
  const clock = new ManualClock(Date.now());
  const server = await SpireApiServer.start(tmp.path, clock, serverOpts);
  server.entries = [{ id: 'e1', spiffeId: 'spiffe://example.org/web' }];
  const metrics = new AgentMetrics();
  const manager = new AgentManager({
    trustDomain: TD,
    serverAddress: server.address,
    storage: await AgentStorage.open(join(tmp.path, 'data')),
    bootstrapRoots: server.roots,
    nodeAttestor: joinToken,
    syncIntervalMs: SYNC_MS,
    workloadKeyType: 'ec-p256',
    clock,
    log: pino({ level: 'silent' }),
    metrics,
  });
  return {
    tmp,
    clock,
    server,
    manager,
    metrics,
    async stop() {
      manager.stop();
      await server.stop();
      await tmp.cleanup();
    },
  };
}
