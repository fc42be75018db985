// The server SVID rotator (src/server/svid/rotator.ts): renewed at half its
// life and when a new X.509 CA is activated, each time for a new key; the
// TLS listener serves the new SVID and key at once.
import * as grpc from '@grpc/grpc-js';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../../src/common/clock.ts';
import { DataStoreAuthorityPublisher } from '../../../src/server/ca/bundle-publisher.ts';
import { SvidIssuer } from '../../../src/server/ca/issuer.ts';
import { MemoryKeyManager } from '../../../src/server/plugins/keymanager/memory/memory.ts';
import { CaManager } from '../../../src/server/ca/manager.ts';
import { SelfSignedCaMinter } from '../../../src/server/ca/self-signed-minter.ts';
import { CredentialBuilder } from '../../../src/server/credtemplate/builder.ts';
import { openSqliteDataStore, type DataStore } from '../../../src/server/datastore/index.ts';
import { OwnBundle } from '../../../src/server/own-bundle.ts';
import { UniqueIdComposer } from '../../../src/server/plugins/credentialcomposer/uniqueid/uniqueid.ts';
import { ServerSvid } from '../../../src/server/svid/rotator.ts';
import { parseCertificatesPem } from '../../../src/spiffe/bundle/der.ts';
import { SpiffeId } from '../../../src/spiffe/id.ts';
import { TrustDomain } from '../../../src/spiffe/trust-domain.ts';
import { makeTempDir } from '../../helpers/tmp.ts';

const td = TrustDomain.fromString('example.org');
const HOUR = 3_600_000;
const serverId = SpiffeId.fromSegments(td, 'spire', 'server');

let dir: { path: string; cleanup: () => Promise<void> };
let ds: DataStore;
const stops: (() => Promise<void> | void)[] = [];

beforeEach(async () => {
  dir = await makeTempDir();
  ds = await openSqliteDataStore({ path: join(dir.path, 'datastore.sqlite3') });
});
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
  await ds.close();
  await dir.cleanup();
});

const spkiHex = (pem: string): string => createPublicKey(createPrivateKey(pem)).export({ format: 'der', type: 'spki' }).toString('hex');
const leafSpkiHex = (chainPem: string): string => parseCertificatesPem(chainPem)[0]!.publicKey.export({ format: 'der', type: 'spki' }).toString('hex');

/** The certificate a TLS client is served on 127.0.0.1:port. */
function servedCertificate(port: number): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['h2'] }, () => {
      const cert = s.getPeerCertificate();
      s.destroy();
      resolve(new X509Certificate(cert.raw));
    });
    s.on('error', reject);
  });
}

async function setup(): Promise<{ clock: ManualClock; ca: CaManager; svid: ServerSvid; port: number }> {
  const clock = new ManualClock(Date.now());
  const credentials = new CredentialBuilder({ trustDomain: td, composers: [new UniqueIdComposer()] });
  const ca = new CaManager({
    trustDomain: td, caKeyType: 'ec-p256', jwtKeyType: 'ec-p256', caTtlMs: 24 * HOUR, journalPath: join(dir.path, 'journal.json'),
    keyManager: new MemoryKeyManager(), minter: new SelfSignedCaMinter(td), publisher: new DataStoreAuthorityPublisher(ds, td, 300),
    credentials, clock, log: pino({ level: 'silent' }),
  });
  await ca.initialize();
  const bundle = await OwnBundle.load(ds, td);
  stops.push(() => bundle.close());
  const issuer = new SvidIssuer(ca, clock, { defaultX509SvidTtlMs: HOUR, defaultJwtSvidTtlMs: 300_000, jwtIssuer: undefined, credentials });
  const svid = new ServerSvid(serverId, issuer, ca, bundle, clock, pino({ level: 'silent' }));
  const creds = await svid.start();
  stops.push(() => svid.stop());
  const server = new grpc.Server();
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))));
  stops.push(() => void server.forceShutdown());
  return { clock, ca, svid, port };
}

const nextRenewal = (svid: ServerSvid): Promise<{ certChainPem: string; privateKeyPem: string }> =>
  new Promise((resolve) => {
    const off = svid.onRenew((pem) => {
      off();
      resolve(pem);
    });
  });

describe('server SVID rotator', () => {
  it('renews at half-life with a new key, and the TLS listener serves the new SVID', async () => {
    const { clock, svid, port } = await setup();
    const first = svid.current;
    const leaf = parseCertificatesPem(first.certChainPem)[0]!;
    expect(leaf.subjectAltName).toBe('URI:spiffe://example.org/spire/server');
    expect(leafSpkiHex(first.certChainPem)).toBe(spkiHex(first.privateKeyPem));
    expect((await servedCertificate(port)).raw.equals(leaf.raw)).toBe(true);

    const renewed = nextRenewal(svid);
    clock.advance(HOUR / 2 + 11_000);
    const second = await renewed;
    expect(spkiHex(second.privateKeyPem)).not.toBe(spkiHex(first.privateKeyPem));
    expect(leafSpkiHex(second.certChainPem)).toBe(spkiHex(second.privateKeyPem));
    const served = await servedCertificate(port);
    expect(served.raw.equals(parseCertificatesPem(second.certChainPem)[0]!.raw)).toBe(true);
    expect(served.publicKey.export({ format: 'der', type: 'spki' }).toString('hex')).toBe(spkiHex(second.privateKeyPem));
  });

  it('renews with a new key when a new X.509 CA is activated, signed by it', async () => {
    const { ca, svid, port } = await setup();
    const first = svid.current;
    const renewed = nextRenewal(svid);
    await ca.activateNow();
    const second = await renewed;
    expect(spkiHex(second.privateKeyPem)).not.toBe(spkiHex(first.privateKeyPem));
    const leaf = parseCertificatesPem(second.certChainPem)[0]!;
    expect(leaf.verify(ca.currentX509Ca().certificate.publicKey)).toBe(true);
    expect((await servedCertificate(port)).raw.equals(leaf.raw)).toBe(true);
  });
});
