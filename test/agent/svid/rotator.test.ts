// The agent SVID rotator against a real gRPC server on a Unix socket (the
// SPIRE agent API methods it calls), with a manual clock: attestation,
// renewal at half-life by RenewAgent or by attesting again, at once when a
// tainted authority signed the SVID, and the client presenting the new
// SVID. Every check waits on an event (the rotator's `rotated`, the
// server's recorded call), never on a sleep.
import { once } from 'node:events';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/common/clock.ts';
import { AgentManagerError } from '../../../src/agent/manager-error.ts';
import type { NodeAttestorClient } from '../../../src/agent/plugins/nodeattestor/types.ts';
import { AgentStorage } from '../../../src/agent/storage.ts';
import { AgentSvidRotator, type AgentSvidRotatorEvents } from '../../../src/agent/svid/rotator.ts';
import { SpireApiServer, TD } from '../../helpers/spire-api-server.ts';
import { runCommand } from '../../helpers/process.ts';
import { makeTempDir } from '../../helpers/tmp.ts';

const log = pino({ level: 'silent' });

function attestor(canReattest: boolean): NodeAttestorClient & { attested: number } {
  return {
    type: canReattest ? 'x509pop' : 'join_token',
    canReattest,
    attested: 0,
    async attestationData() {
      this.attested++;
      return Buffer.from('token');
    },
    async answer() {
      throw new Error('no challenge expected');
    },
  };
}

describe('agent SVID rotator', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let clock: ManualClock;
  let server: SpireApiServer;
  let storage: AgentStorage;
  const rotators: AgentSvidRotator[] = [];

  const rotator = (nodeAttestor: NodeAttestorClient | undefined, address = server.address): AgentSvidRotator => {
    const r = new AgentSvidRotator({ trustDomain: TD, serverAddress: address, storage, nodeAttestor, clock, log });
    rotators.push(r);
    return r;
  };

  /** A rotator that has attested over TLS to the server's roots, its client built. */
  const attested = async (canReattest: boolean): Promise<{ r: AgentSvidRotator; a: ReturnType<typeof attestor> }> => {
    const a = attestor(canReattest);
    const r = rotator(a);
    r.setRoots(server.roots, 'the test bundle');
    await r.attest(a);
    r.rebuildClient();
    return { r, a };
  };

  beforeEach(async () => {
    tmp = await makeTempDir('herald-rotator-');
    clock = new ManualClock(Date.now());
    server = await SpireApiServer.start(tmp.path, clock);
    storage = await AgentStorage.open(join(tmp.path, 'data'));
  });

  afterEach(async () => {
    for (const r of rotators.splice(0)) r.close();
    await server.stop();
    await tmp.cleanup();
  });

  it('attests over TLS to the configured roots, stores the SVID and emits rotated', async () => {
    const a = attestor(false);
    const r = rotator(a);
    r.setRoots(server.roots, 'the test bundle');
    const rotated = once(r, 'rotated') as Promise<AgentSvidRotatorEvents['rotated']>;
    await r.attest(a);
    const [{ svid, how }] = await rotated;
    expect(how).toBe('attested');
    expect(svid.id.toString()).toBe(server.agentId.toString());
    expect(server.callsOf('AttestAgent')).toHaveLength(1);
    // No client certificate on the first contact.
    expect(server.callsOf('AttestAgent')[0]!.peerSerial).toBeUndefined();
    const stored = new X509Certificate(await readFile(join(tmp.path, 'data', 'agent_svid.der')));
    expect(stored.serialNumber).toBe(svid.chain[0]!.serialNumber);
  });

  it('renews with RenewAgent only once half the SVID\'s life is over, and the client presents the new SVID', async () => {
    const { r, a } = await attested(false);
    const first = r.svid!;

    // Before half-life: nothing is called.
    clock.set(first.renewAt - 1);
    expect(await r.rotateIfDue()).toBe(false);
    expect(server.callsOf('RenewAgent')).toHaveLength(0);

    clock.set(first.renewAt);
    const rotated = once(r, 'rotated') as Promise<AgentSvidRotatorEvents['rotated']>;
    const renewCall = server.nextCall('RenewAgent');
    expect(await r.rotateIfDue()).toBe(true);
    const [{ svid, how }] = await rotated;
    expect(how).toBe('renewed');
    // RenewAgent was called with the SVID being replaced.
    expect((await renewCall).peerSerial).toBe(first.chain[0]!.serialNumber);
    expect(svid.chain[0]!.serialNumber).not.toBe(first.chain[0]!.serialNumber);
    // Counted from when it was received (the clock), not the backdated notBefore.
    expect(svid.renewAt).toBeGreaterThan(clock.now());
    expect(server.callsOf('AttestAgent')).toHaveLength(1);
    expect(a.attested).toBe(1);

    // The rebuilt client presents the new SVID.
    const next = server.nextCall('GetBundle');
    await r.client.getBundle();
    expect((await next).peerSerial).toBe(svid.chain[0]!.serialNumber);
  });

  it('a read-only data_dir does not stop a renewal: the new SVID is used from memory and stored once writable (soak finding)', async () => {
    const { r } = await attested(false);
    const first = r.svid!;
    const dir = join(tmp.path, 'data');
    // A read-only bind mount (root ignores file modes, not a read-only mount).
    const mount = async (...args: string[]) => expect((await runCommand('mount', args)).code).toBe(0);
    await mount('--bind', dir, dir);
    let renewed: string;
    try {
      await mount('-o', 'remount,bind,ro', dir);
      clock.set(first.renewAt);
      expect(await r.rotateIfDue()).toBe(true);
      renewed = r.svid!.chain[0]!.serialNumber;
      expect(renewed).not.toBe(first.chain[0]!.serialNumber);
      const next = server.nextCall('GetBundle');
      await r.client.getBundle();
      expect((await next).peerSerial).toBe(renewed);
      expect((await storage.loadSvid())!.chain[0]!.serialNumber).toBe(first.chain[0]!.serialNumber);
    } finally {
      expect((await runCommand('umount', [dir])).code).toBe(0);
    }
    // Not due again, but the pending write is retried.
    expect(await r.rotateIfDue()).toBe(false);
    expect((await storage.loadSvid())!.chain[0]!.serialNumber).toBe(renewed);
  });

  it('an agent that can attest again renews by attesting, not RenewAgent', async () => {
    const { r, a } = await attested(true);
    clock.set(r.svid!.renewAt);
    const rotated = once(r, 'rotated') as Promise<AgentSvidRotatorEvents['rotated']>;
    expect(await r.rotateIfDue()).toBe(true);
    expect((await rotated)[0].how).toBe('attested');
    expect(server.callsOf('AttestAgent')).toHaveLength(2);
    expect(server.callsOf('RenewAgent')).toHaveLength(0);
    expect(a.attested).toBe(2);
  });

  it('renews at once when a tainted authority signed the SVID', async () => {
    const { r } = await attested(false);
    const first = r.svid!;
    expect(clock.now()).toBeLessThan(first.renewAt);
    expect(await r.rotateIfDue(() => false)).toBe(false);
    const renewCall = server.nextCall('RenewAgent');
    expect(await r.rotateIfDue((chain) => chain[0]!.serialNumber === first.chain[0]!.serialNumber)).toBe(true);
    await renewCall;
    expect(r.svid!.chain[0]!.serialNumber).not.toBe(first.chain[0]!.serialNumber);
  });

  it('new roots rebuild the client only when they changed', async () => {
    const { r } = await attested(false);
    const client = r.client;
    r.updateRoots(server.roots, 'the stored bundle');
    expect(r.client).toBe(client);
    await server.rotateAndTaint();
    r.updateRoots(server.roots, 'the stored bundle');
    expect(r.client).not.toBe(client);
    expect(r.roots).toHaveLength(2);
  });

  it('a server that is not there: SPIRE\'s "could not open attestation stream" wording, as an AgentManagerError', async () => {
    const a = attestor(false);
    const r = rotator(a, `unix:${join(tmp.path, 'nobody.sock')}`);
    const err = await r.attest(a).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AgentManagerError);
    expect((err as AgentManagerError).code).toBe('ERR_ATTESTATION_FAILED');
    expect((err as Error).message).toMatch(/^agent: failed to attest with join_token: could not open attestation stream to Herald server: rpc error: code = Unavailable/);
    expect(r.svid).toBeUndefined();
  });

  it('the server\'s certificate not chaining to the roots is described with the bundle\'s source', async () => {
    const a = attestor(false);
    // Another server, with its own CA.
    const dir2 = await makeTempDir('herald-rotator-other-');
    const stranger = await SpireApiServer.start(dir2.path, clock);
    try {
      const r = rotator(a, stranger.address);
      r.setRoots(server.roots, 'the trust bundle in /etc/bundle.pem (trust_bundle_path)');
      const err = await r.attest(a).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(err?.message).toContain("the server's certificate does not chain to the trust bundle in /etc/bundle.pem (trust_bundle_path)");
      expect(stranger.callsOf('AttestAgent')).toHaveLength(0);
    } finally {
      await stranger.stop();
      await dir2.cleanup();
    }
  });
});
