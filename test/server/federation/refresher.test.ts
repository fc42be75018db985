// The federated bundle refresher against real HTTPS endpoints on loopback
// and a real SQLite datastore: what is accepted, and every way a bundle
// endpoint can misbehave, each refused with the previous bundle kept.
import { createServer, type Server } from 'node:https';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/common/clock.ts';
import { openSqliteDataStore, type DataStore } from '../../../src/server/datastore/index.ts';
import { spiffeBundleToStored } from '../../../src/server/bundle-convert.ts';
import { BundleRefresher } from '../../../src/server/federation/refresher.ts';
import { SpiffeBundle } from '../../../src/spiffe/bundle/spiffe-bundle.ts';
import { certificatesToPem } from '../../../src/spiffe/bundle/der.ts';
import { SpiffeId } from '../../../src/spiffe/id.ts';
import { TrustDomain } from '../../../src/spiffe/trust-domain.ts';
import { makeCa, makeLeaf, type TestCert } from '../../helpers/test-ca.ts';
import { makeTempDir } from '../../helpers/tmp.ts';
import { waitFor } from '../../helpers/wait.ts';

const td = TrustDomain.fromString('echo.example');
const endpointId = SpiffeId.fromString('spiffe://echo.example/spire/server');

describe('BundleRefresher', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let ds: DataStore;
  let ca: TestCert;
  let newCa: TestCert;
  let otherCa: TestCert;
  let serverCert: TestCert;
  const warnings: string[] = [];
  let refresher: BundleRefresher;
  let server: Server | undefined;

  const serve = async (cert: TestCert, handler: (res: import('node:http').ServerResponse) => void): Promise<string> => {
    server = createServer({ cert: certificatesToPem([cert.cert]), key: cert.key.export({ format: 'pem', type: 'pkcs8' }) }, (_req, res) => handler(res));
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
    await ds.updateFederationRelationship({ trustDomain: td, bundleEndpointUrl: url }, { bundleEndpointUrl: true });
    return url;
  };
  const json = (body: string) => (res: import('node:http').ServerResponse) => res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  const stored = async () => SpiffeBundle.parse(td, (await import('../../../src/server/bundle-convert.ts')).storedToSpiffeBundle((await ds.getBundle(td))!).marshal());

  beforeAll(async () => {
    tmp = await makeTempDir('herald-refresher-');
    ds = await openSqliteDataStore({ path: `${tmp.path}/ds.sqlite3` });
    ca = await makeCa('echo.example');
    newCa = await makeCa('echo.example');
    otherCa = await makeCa('echo.example');
    serverCert = await makeLeaf(endpointId.toString(), ca, { subject: 'O=Endpoint' });
    await ds.createFederationRelationship({
      trustDomain: td,
      bundleEndpointUrl: 'https://127.0.0.1:1',
      profile: { type: 'https_spiffe', endpointSpiffeId: endpointId },
      trustDomainBundle: spiffeBundleToStored(new SpiffeBundle(td, { x509Authorities: [ca.cert], sequenceNumber: 1n })),
    });
    const log = pino({ level: 'warn' }, { write: (l: string) => void warnings.push(l) });
    refresher = new BundleRefresher({ ds, log, clock: systemClock, fetchTimeoutMs: 500 });
  });

  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    server = undefined;
  });

  afterAll(async () => {
    await ds.close();
    await tmp.cleanup();
  });

  it('stores a new bundle from an endpoint whose SVID chains to the trusted bundle, once', async () => {
    await serve(serverCert, json(new SpiffeBundle(td, { x509Authorities: [ca.cert, newCa.cert], refreshHintSeconds: 5, sequenceNumber: 2n }).marshal()));
    expect((await refresher.refresh(td)).status).toBe('updated');
    expect((await stored()).x509Authorities).toHaveLength(2);
    expect((await ds.getBundle(td))!.refreshHint).toBe(5);
    expect((await refresher.refresh(td)).status).toBe('unchanged');
  });

  it('stores a peer bundle without a sequence number once, not at every refresh', async () => {
    // spiffe_sequence is optional (SPIFFE bundle format); the stored bundle's
    // number is then the datastore's own, which must not read as a change.
    await serve(serverCert, json(new SpiffeBundle(td, { x509Authorities: [ca.cert], refreshHintSeconds: 7 }).marshal()));
    expect((await refresher.refresh(td)).status).toBe('updated');
    expect((await refresher.refresh(td)).status).toBe('unchanged');
    expect((await stored()).x509Authorities).toHaveLength(1);
  });

  const refused: [string, () => Promise<string>, RegExp][] = [
    ['an endpoint SVID from a CA the bundle does not hold', async () => serve(await makeLeaf(endpointId.toString(), otherCa, { subject: 'O=Endpoint' }), json('{}')), /cannot fetch the bundle of "echo.example"/],
    ['an endpoint SVID with another SPIFFE ID', async () => serve(await makeLeaf('spiffe://echo.example/imposter', ca, { subject: 'O=Imposter' }), json('{}')), /endpoint presented spiffe:\/\/echo.example\/imposter, expected spiffe:\/\/echo.example\/spire\/server/],
    ['invalid JSON', async () => serve(serverCert, json('{"keys": [')), /is not a valid SPIFFE bundle/],
    ['a bundle for another trust domain', async () => serve(serverCert, json(new SpiffeBundle(td, { x509Authorities: [(await makeCa('web.example')).cert] }).marshal())), /is for another trust domain: a CA certificate names spiffe:\/\/web.example/],
    ['a bundle without X.509 authorities', async () => serve(serverCert, json('{"keys":[]}')), /has no X\.509 authorities/],
    ['an oversized response', async () => serve(serverCert, json(`{"keys":[],"pad":"${'x'.repeat(2 << 20)}"}`)), /cannot fetch/],
    ['an HTTP error', async () => serve(serverCert, (res) => res.writeHead(500).end()), /answered HTTP 500/],
    ['an endpoint that never answers (slow loris)', async () => serve(serverCert, () => undefined), /cannot fetch/],
  ];

  it.each(refused)('refuses %s and keeps the current bundle', async (_name, setup, message) => {
    const before = await ds.getBundle(td);
    await setup();
    await expect(refresher.refresh(td)).rejects.toThrow(message);
    expect(await ds.getBundle(td)).toEqual(before);
  });

  it('ignores keys of unknown use, with a warning', async () => {
    const good = JSON.parse(new SpiffeBundle(td, { x509Authorities: [ca.cert], sequenceNumber: 9n }).marshal());
    good.keys.push({ ...good.keys[0], use: 'x509-wit' });
    await serve(serverCert, json(JSON.stringify(good)));
    expect((await refresher.refresh(td)).status).toBe('updated');
    expect((await stored()).x509Authorities).toHaveLength(1);
    expect(warnings.join('')).toContain('Ignored a key in a federated bundle');
  });

  it('refuses https_spiffe without a bundle to authenticate the endpoint with', async () => {
    const lonely = TrustDomain.fromString('lonely.example');
    await ds.createFederationRelationship({ trustDomain: lonely, bundleEndpointUrl: 'https://127.0.0.1:1', profile: { type: 'https_spiffe', endpointSpiffeId: SpiffeId.fromString('spiffe://lonely.example/spire/server') } });
    await expect(refresher.refresh(lonely)).rejects.toThrow(/no bundle for "lonely.example" to authenticate its https_spiffe endpoint/);
  });

  it('keeps the recent scheduled refreshes of each relationship, with the reason of a failure and the next run (status console)', async () => {
    await serve(serverCert, json(new SpiffeBundle(td, { x509Authorities: [ca.cert], refreshHintSeconds: 1, sequenceNumber: 20n }).marshal()));
    const scheduled = new BundleRefresher({ ds, log: pino({ level: 'silent' }), clock: systemClock, fetchTimeoutMs: 500 });
    await scheduled.start();
    try {
      const of = (name: string) => scheduled.history().find((h) => h.trustDomain === name);
      // The refresh hint (1 s) brings a second, unchanged fetch.
      const echo = await waitFor('two fetches of echo.example', () => ((of(td.name)?.attempts.length ?? 0) >= 2 ? of(td.name) : undefined), { timeoutMs: 10_000 });
      expect(echo.attempts.slice(0, 2).map((a) => a.status)).toEqual(['updated', 'unchanged']);
      expect(echo.attempts[1]!.at).toBeGreaterThan(echo.attempts[0]!.at);
      const lonely = await waitFor('a failed fetch of lonely.example', () => of('lonely.example')?.attempts[0]);
      expect(lonely).toMatchObject({ status: 'failed', error: expect.stringMatching(/no bundle for "lonely.example"/) });
      expect(of('lonely.example')!.nextAt).toBeGreaterThan(lonely.at);
      // A relationship that goes away leaves the history.
      await ds.deleteFederationRelationship(TrustDomain.fromString('lonely.example'));
      await waitFor('lonely.example gone', () => (of('lonely.example') === undefined ? true : undefined));
    } finally {
      scheduled.stop();
    }
  });
});

describe('https_web bundle endpoint and fetch', () => {
  it('serves the bundle with a certificate from files and a relationship fetches it with Web PKI checks', async () => {
    const { execFileSync } = await import('node:child_process');
    const { readFile } = await import('node:fs/promises');
    const { startBundleEndpoint } = await import('../../../src/server/federation/bundle-endpoint.ts');
    const tmp = await makeTempDir('herald-web-endpoint-');
    const f = (n: string) => `${tmp.path}/${n}`;
    const run = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
    run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '1', '-subj', '/CN=Test Web CA');
    run('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('srv.key'), '-out', f('srv.csr'), '-subj', '/CN=127.0.0.1');
    await (await import('node:fs/promises')).writeFile(f('ext'), 'subjectAltName=IP:127.0.0.1\n');
    run('x509', '-req', '-in', f('srv.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('srv.crt'), '-days', '1', '-extfile', f('ext'));

    const web = TrustDomain.fromString('webpki.example');
    const ca = await makeCa('webpki.example');
    const ds = await openSqliteDataStore({ path: f('ds.sqlite3') });
    const own = spiffeBundleToStored(new SpiffeBundle(web, { x509Authorities: [ca.cert], refreshHintSeconds: 60, sequenceNumber: 3n }));
    const ownBundle = { stored: own } as unknown as import('../../../src/server/own-bundle.ts').OwnBundle;
    const endpoint = await startBundleEndpoint(
      { address: '127.0.0.1', port: 0, refreshHintMs: 60_000, profile: { type: 'https_web', servingCertFile: { certFilePath: f('srv.crt'), keyFilePath: f('srv.key'), fileSyncIntervalMs: 60_000 } } },
      { ownBundle, serverSvid: undefined as never, log: pino({ level: 'silent' }) },
    );
    try {
      await ds.createFederationRelationship({ trustDomain: web, bundleEndpointUrl: `https://127.0.0.1:${endpoint.port}`, profile: { type: 'https_web' } });
      // Without the web CA among the trusted roots, the fetch is refused.
      const strict = new BundleRefresher({ ds, log: pino({ level: 'silent' }), clock: systemClock, fetchTimeoutMs: 2000 });
      await expect(strict.refresh(web)).rejects.toThrow(/cannot fetch the bundle of "webpki.example"/);
      const refresher = new BundleRefresher({ ds, log: pino({ level: 'silent' }), clock: systemClock, webRootsPem: await readFile(f('ca.crt'), 'utf8') });
      expect((await refresher.refresh(web)).status).toBe('updated');
      const got = (await ds.getBundle(web))!;
      expect(got.x509Authorities.map((a) => Buffer.from(a.der).toString('base64'))).toEqual([ca.cert.raw.toString('base64')]);
      expect(got.refreshHint).toBe(60);
    } finally {
      await endpoint.close();
      await ds.close();
      await tmp.cleanup();
    }
  });
});
