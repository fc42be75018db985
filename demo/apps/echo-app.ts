// The echo app: answers every request with what it learnt about the caller
// from its Envoy — the mTLS peer (x-forwarded-client-cert) and, on /jwt,
// the JWT-SVID Envoy's ext_authz already validated — and, with a database,
// the row it read from PostgreSQL, logged in with its own X509-SVID.
//   node demo/apps/echo-app.ts [port]   (standalone, as in docker-compose;
//   ECHO_AGENT_SOCKET, ECHO_SPIFFE_ID, PGHOST, PGPORT: the database hop)
import { createServer, type Server } from 'node:http';
import { EchoDb, type DbRead } from '../lib/echo-db.ts';

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
  /** What echo read from PostgreSQL for this request, or why it could not. */
  db: DbRead | { error: string } | null;
}

function xfccField(xfcc: string, key: string): string | null {
  for (const part of xfcc.split(';')) {
    const [k, ...v] = part.split('=');
    if (k?.trim().toLowerCase() === key.toLowerCase()) return v.join('=').replace(/^"|"$/g, '');
  }
  return null;
}

export function startEchoApp(port: number, host = '127.0.0.1', db?: EchoDb): Promise<Server> {
  const server = createServer(async (req, res) => {
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
      db: db ? await db.read().catch((err: Error) => ({ error: err.message })) : null,
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
  const socket = process.env.ECHO_AGENT_SOCKET;
  const db = socket
    ? new EchoDb({ agentSocket: socket, spiffeId: process.env.ECHO_SPIFFE_ID ?? 'spiffe://echo.example/echo', host: process.env.PGHOST ?? 'postgres', port: Number(process.env.PGPORT ?? 5432), servername: process.env.PGHOST ?? 'postgres' })
    : undefined;
  await startEchoApp(port, '0.0.0.0', db);
  console.log(`echo app listening on :${port}`);
}
