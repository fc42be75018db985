// The echo app: answers every request with what it learnt about the caller
// from its Envoy — the mTLS peer (x-forwarded-client-cert) and, on /jwt,
// the JWT-SVID Envoy's ext_authz already validated.
//   node demo/apps/echo-app.ts [port]   (standalone, as in docker-compose)
import { createServer, type Server } from 'node:http';

export interface EchoReply {
  app: 'echo';
  path: string;
  /** The client's SPIFFE ID, as echo's Envoy verified it (XFCC URI=). */
  peer: string | null;
  /** echo's own SPIFFE ID, from its serving certificate (XFCC By=). */
  self: string | null;
  /** x-spiffe-id set by ext_authz on /jwt. */
  jwtSpiffeId: string | null;
  /** The JWT-SVID's claims as echo saw them (already validated by Envoy). */
  jwtClaims: Record<string, unknown> | null;
}

function xfccField(xfcc: string, key: string): string | null {
  for (const part of xfcc.split(';')) {
    const [k, ...v] = part.split('=');
    if (k?.trim().toLowerCase() === key.toLowerCase()) return v.join('=').replace(/^"|"$/g, '');
  }
  return null;
}

export function startEchoApp(port: number, host = '127.0.0.1'): Promise<Server> {
  const server = createServer((req, res) => {
    const xfcc = String(req.headers['x-forwarded-client-cert'] ?? '');
    const auth = String(req.headers.authorization ?? '');
    let jwtClaims: Record<string, unknown> | null = null;
    const token = /^Bearer\s+(\S+)$/i.exec(auth)?.[1];
    if (token) {
      try {
        jwtClaims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString());
      } catch {
        jwtClaims = null;
      }
    }
    const reply: EchoReply = {
      app: 'echo',
      path: req.url ?? '/',
      peer: xfcc ? xfccField(xfcc, 'URI') : null,
      self: xfcc ? xfccField(xfcc, 'By') : null,
      jwtSpiffeId: (req.headers['x-spiffe-id'] as string | undefined) ?? null,
      jwtClaims,
    };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

if (import.meta.main) {
  const port = Number(process.argv[2] ?? 9000);
  await startEchoApp(port, '0.0.0.0');
  console.log(`echo app listening on :${port}`);
}
