// The SDS protocol against a real herald-agent, from an xDS test client:
// version/nonce on every response, quiet after ACK, no resend after a NACK,
// no identity leak, wrong type_url refused, never-ACKing clients still get
// pushes, Delta SDS, and 1,000 streams dropped without leaking.
import * as grpc from '@grpc/grpc-js';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeMessage, serviceClient, Services } from '../../src/common/grpc/protos.ts';
import { SECRET_TYPE_URL } from '../../src/agent/endpoints/sds/secrets.ts';
import { generateToken, ROOT, startAgent, startServer, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { startProcess } from '../helpers/process.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';
import { occurrences, waitForOccurrences, waitForSyncs } from '../helpers/agent-log.ts';

const TD = 'example.org';
const ME = `spiffe://${TD}/tester`;
const OTHER = `spiffe://${TD}/someone-else`;

interface Response {
  version_info: string;
  nonce: string;
  type_url: string;
  resources: { type_url: string; value: Buffer }[];
}

/** A minimal xDS client: send requests, read responses in order. */
class SdsStream {
  readonly responses: Response[] = [];
  error: grpc.ServiceError | undefined;
  readonly #call: grpc.ClientDuplexStream<object, Response>;
  #waiters: (() => void)[] = [];

  constructor(client: grpc.Client) {
    this.#call = (client as unknown as { StreamSecrets(): grpc.ClientDuplexStream<object, Response> }).StreamSecrets();
    this.#call.on('data', (r: Response) => {
      this.responses.push(r);
      this.#wake();
    });
    this.#call.on('error', (e: grpc.ServiceError) => {
      this.error = e;
      this.#wake();
    });
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  send(req: { resource_names?: string[]; version_info?: string; response_nonce?: string; type_url?: string; error_detail?: { code: number; message: string } }): void {
    this.#call.write({ node: { id: 'test-node', cluster: 'test' }, type_url: SECRET_TYPE_URL, resource_names: [], version_info: '', response_nonce: '', ...req });
  }

  async next(count: number, timeoutMs = 10_000): Promise<Response> {
    await waitFor(`${count} SDS responses`, () => this.responses.length >= count || this.error !== undefined, { timeoutMs, intervalMs: 10 });
    if (this.responses.length < count) throw this.error;
    return this.responses[count - 1]!;
  }

  close(): void {
    this.#call.cancel();
  }
}

function secretNames(r: Response): string[] {
  return r.resources.map((a) => String(decodeMessage('envoy.extensions.transport_sockets.tls.v3.Secret', a.value).name));
}

describe('SDS protocol (xDS test client, real agent)', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let server: ServerHandle;
  let agent: AgentHandle;
  let client: grpc.Client;

  beforeAll(async () => {
    tmp = await makeTempDir('herald-sds-proto-');
    server = await startServer({ dir: tmp.path, trustDomain: TD });
    const token = await generateToken(server, `spiffe://${TD}/node`);
    for (const [id, sel] of [[ME, `unix:uid:${process.getuid!()}`], [OTHER, 'unix:uid:4242']]) {
      const r = await server.cli('entry', 'create', '-parentID', `spiffe://${TD}/node`, '-spiffeID', id!, '-selector', sel!);
      expect(r.code, r.stderr).toBe(0);
    }
    agent = await startAgent({ dir: tmp.path, server, joinToken: token, syncInterval: '300ms' });
    client = new (serviceClient(Services.sds))(`unix:${agent.socketPath}`, grpc.credentials.createInsecure());
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await agent?.stop();
    await server?.stop();
    await tmp?.cleanup();
  });

  it('answers with version and nonce, stays quiet after the ACK', async () => {
    const s = new SdsStream(client);
    s.send({ resource_names: ['default', 'ROOTCA'] });
    const r1 = await s.next(1);
    expect(r1.version_info).not.toBe('');
    expect(r1.nonce).not.toBe('');
    expect(r1.type_url).toBe(SECRET_TYPE_URL);
    expect(secretNames(r1).sort()).toEqual(['ROOTCA', 'default']);
    const acks = occurrences(agent.proc, 'Envoy acknowledged secrets');
    s.send({ resource_names: ['default', 'ROOTCA'], version_info: r1.version_info, response_nonce: r1.nonce });
    // The agent has read the ACK, then synced three more times (300 ms interval): a response
    // to the ACK, or a push without a change, would be here by now.
    await waitForOccurrences(agent.proc, 'Envoy acknowledged secrets', acks + 1);
    await waitForSyncs(agent.proc, 3);
    expect(s.responses).toHaveLength(1);
    s.close();
  });

  it('does not resend after a NACK until something changes', async () => {
    const s = new SdsStream(client);
    s.send({ resource_names: ['default'] });
    const r1 = await s.next(1);
    const nacks = occurrences(agent.proc, 'Envoy rejected secrets (NACK)');
    for (let i = 0; i < 5; i++) {
      s.send({ resource_names: ['default'], version_info: '', response_nonce: r1.nonce, error_detail: { code: 3, message: 'test NACK: rejected' } });
    }
    // All five NACKs read, then three more syncs: a resend would be here by now.
    await waitForOccurrences(agent.proc, 'Envoy rejected secrets (NACK)', nacks + 5);
    await waitForSyncs(agent.proc, 3);
    expect(s.responses).toHaveLength(1);
    expect(agent.proc.output()).toContain('Envoy rejected secrets (NACK)');
    expect(agent.proc.output()).toContain('test NACK: rejected');
    s.close();
  });

  it('never serves an identity the caller does not own, and still serves the rest', async () => {
    const s = new SdsStream(client);
    s.send({ resource_names: [OTHER, 'default', ME] });
    const r1 = await s.next(1);
    expect(secretNames(r1).sort()).toEqual([ME, 'default'].sort());
    const all = r1.resources.map((a) => a.value.toString('latin1')).join('');
    expect(all).not.toContain('someone-else');
    expect(agent.proc.output()).toContain('Holding back SDS resource the caller cannot have');
    s.close();
  });

  it('refuses a wrong type_url with InvalidArgument', async () => {
    const s = new SdsStream(client);
    s.send({ resource_names: ['default'], type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster' });
    await waitFor('stream error', () => s.error !== undefined);
    expect(s.error!.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(s.error!.details).toContain('is not type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret');
  });

  it('keeps pushing changes to a client that never ACKs', async () => {
    const s = new SdsStream(client);
    s.send({ resource_names: ['default'] });
    const r1 = await s.next(1);
    // Change the caller's SVID: a new DNS name makes the agent re-issue it.
    const show = await server.cli('entry', 'show', '-spiffeID', ME, '-output', 'json');
    const entry = JSON.parse(show.stdout).entries[0];
    const upd = await server.cli('entry', 'update', '-entryID', entry.id, '-parentID', `spiffe://${TD}/node`, '-spiffeID', ME, '-selector', `unix:uid:${process.getuid!()}`, '-dns', 'tester.example.org');
    expect(upd.code, upd.stderr).toBe(0);
    const r2 = await s.next(2, 15_000);
    expect(r2.version_info).not.toBe(r1.version_info);
    expect(r2.nonce).not.toBe(r1.nonce);
    s.close();
  }, 30_000);

  it('serves Delta SDS with per-resource versions', async () => {
    const call = (client as unknown as { DeltaSecrets(): grpc.ClientDuplexStream<object, { resources: { name: string; version: string }[]; nonce: string }> }).DeltaSecrets();
    const got = new Promise<{ resources: { name: string; version: string }[]; nonce: string }>((resolve, reject) => {
      call.on('data', resolve);
      call.on('error', reject);
    });
    call.write({ node: { id: 'delta' }, type_url: SECRET_TYPE_URL, resource_names_subscribe: ['default', 'ROOTCA', OTHER], resource_names_unsubscribe: [], initial_resource_versions: {}, response_nonce: '' });
    const r = await got;
    expect(r.resources.map((x) => x.name).sort()).toEqual(['ROOTCA', 'default']);
    expect(r.resources.every((x) => x.version !== '')).toBe(true);
    call.cancel();
  });

  it('1,000 SDS streams opened and dropped leave no connections behind', async () => {
    const pid = agent.proc.pid;
    const count = () => readdirSync(`/proc/${pid}/fd`).length;
    const baseline = count();
    const p = startProcess(process.execPath, [join(ROOT, 'test/e2e/fixtures/open-sds-streams.ts'), agent.socketPath, '1000', '10']);
    await p.waitForOutput('ready 1000', 40_000);
    expect(count()).toBeGreaterThanOrEqual(baseline + 10);
    await p.stop('SIGKILL');
    await waitFor('agent fds back to baseline', () => count() <= baseline + 1, { timeoutMs: 15_000 });
  }, 60_000);
});
