// The soak's federation peer: a second trust domain's bundle endpoint
// (https_spiffe, in the soak process) that the soak servers federate with,
// and that a fault switches to serving garbage for a while. Each time good
// answers come back the peer publishes a new generation of its bundle (one
// more X.509 authority), so the soak can tell "kept the last good bundle"
// from "stopped refreshing".
import { createServer, type Server } from 'node:https';
import type { Socket } from 'node:net';
import type { X509Certificate } from 'node:crypto';
import { SpiffeBundle } from '../../src/spiffe/bundle/spiffe-bundle.ts';
import { TrustDomain } from '../../src/spiffe/trust-domain.ts';
import { CA_KU, LEAF_KU, makeCert, type TestCert } from '../helpers/test-ca.ts';

export const PEER_TD = 'other.org';
export const PEER_SERVER_ID = `spiffe://${PEER_TD}/spire/server`;

/** What the endpoint serves instead of its bundle while a fault is on. */
export const GARBAGE_MODES = ['malformed-json', 'wrong-trust-domain', 'huge-body', 'stalled-response'] as const;
export type GarbageMode = (typeof GARBAGE_MODES)[number];

export interface FederationPeer {
  readonly url: string;
  /** The bundle currently served when no fault is on. */
  goodBundle(): SpiffeBundle;
  /** Serves garbage of this kind until `serveGood`. */
  serveGarbage(mode: GarbageMode): void;
  /** Back to good answers, with a new bundle generation (one more authority). */
  serveGood(): Promise<void>;
  /** GETs answered since the start, good and garbage. */
  readonly requests: { good: number; garbage: number };
  close(): Promise<void>;
}

const td = TrustDomain.fromString(PEER_TD);
/** Larger than the refresher's 1 MiB response bound. */
const HUGE_BYTES = 4 << 20;

export async function startFederationPeer(): Promise<FederationPeer> {
  // Subjects differ from the CA's: a leaf named as its issuer would look self-signed to the TLS client.
  const ca = await makeCert({ uris: [`spiffe://${PEER_TD}`], ca: true, keyUsage: CA_KU, subject: 'O=other.org, CN=peer CA' });
  const serving = await makeCert({ uris: [PEER_SERVER_ID], keyUsage: LEAF_KU, subject: 'O=other.org, CN=bundle endpoint' }, ca);
  // Chains to the same CA, so TLS verifies; only its SPIFFE ID is another trust domain's.
  const wrong = await makeCert({ uris: ['spiffe://wrong.org/spire/server'], keyUsage: LEAF_KU, subject: 'O=wrong.org, CN=bundle endpoint' }, ca);
  const authorities: X509Certificate[] = [ca.cert];
  let generation = 0;
  const extraAuthority = async (): Promise<void> => {
    generation++;
    authorities.push((await makeCert({ uris: [`spiffe://${PEER_TD}`], ca: true, keyUsage: CA_KU, subject: `O=other.org, CN=generation ${generation}` })).cert);
  };
  await extraAuthority();
  const bundle = (): SpiffeBundle => new SpiffeBundle(td, { x509Authorities: [...authorities], refreshHintSeconds: 1 });
  let mode: GarbageMode | undefined;
  const requests = { good: 0, garbage: 0 };
  const open = new Set<Socket>();
  const pem = (c: TestCert) => ({ cert: c.cert.toString(), key: c.key.export({ type: 'pkcs8', format: 'pem' }) as string });

  const server: Server = createServer(pem(serving));
  server.on('connection', (s: Socket) => {
    open.add(s);
    s.on('close', () => open.delete(s));
  });
  server.on('request', (req, res) => {
    req.resume();
    if (mode === undefined) {
      requests.good++;
      res.setHeader('content-type', 'application/json');
      res.end(bundle().marshal());
      return;
    }
    requests.garbage++;
    switch (mode) {
      case 'malformed-json':
        res.end('{"keys": [{"use": "x509-svid", "kty": "EC", "x5c": ["not base64');
        return;
      case 'wrong-trust-domain':
        // The handshake already presented the wrong SPIFFE ID (setSecureContext); the body is the good bundle.
        res.end(bundle().marshal());
        return;
      case 'huge-body': {
        res.setHeader('content-type', 'application/json');
        const chunk = Buffer.alloc(64 * 1024, 0x20);
        res.write('{"keys": [], "padding": "');
        let sent = 0;
        const more = (): void => {
          while (sent < HUGE_BYTES) {
            sent += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', more);
          }
          res.end('"}');
        };
        more();
        return;
      }
      case 'stalled-response':
        // Headers and half a body, then nothing until the fault ends (the socket is then destroyed).
        res.setHeader('content-type', 'application/json');
        res.write('{"keys": [');
        return;
    }
  });
  const goodContext = pem(serving);
  const wrongContext = pem(wrong);
  const setIdentity = (which: 'good' | 'wrong'): void => server.setSecureContext(which === 'good' ? goodContext : wrongContext);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `https://127.0.0.1:${port}`,
    goodBundle: bundle,
    requests,
    serveGarbage(m) {
      mode = m;
      if (m === 'wrong-trust-domain') setIdentity('wrong');
      for (const s of open) s.destroy();
    },
    async serveGood() {
      mode = undefined;
      setIdentity('good');
      // Stalled responses and keep-alive connections of the garbage period end here.
      for (const s of open) s.destroy();
      await extraAuthority();
    },
    async close() {
      for (const s of open) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** The X.509 authorities of a bundle, as a comparable key. */
export function authoritiesKey(b: SpiffeBundle): string {
  return b.x509Authorities.map((c) => c.fingerprint256).sort().join(',');
}
