// SPIRE's `health_checks` HTTP listener, for both daemons: live_path
// answers 200 while the process runs, ready_path once it can serve.
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { HeraldError, errorMessage } from './errors.ts';

// node:http through require, not an ESM import: Node builds the ESM namespace
// of node:http by reading every export, and its WebSocket getters then load
// Node's bundled undici (~8 ms at every start, for nothing).
const { createServer } = createRequire(import.meta.url)('node:http') as typeof import('node:http');

export interface HealthListenerConfig {
  readonly bindAddress: string;
  readonly bindPort: number;
  readonly livePath: string;
  readonly readyPath: string;
}

export function startHealthListener(hc: HealthListenerConfig, ready: () => boolean): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === hc.livePath || path === hc.readyPath) {
      const ok = path === hc.livePath || ready();
      res.writeHead(ok ? 200 : 500, { 'content-type': 'application/json' }).end(JSON.stringify({}));
      return;
    }
    res.writeHead(404).end();
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(new HeraldError('ERR_UNAVAILABLE_LISTEN', `health checks: cannot listen on ${hc.bindAddress}:${hc.bindPort}: ${errorMessage(err)}`, { cause: err })));
    server.listen(hc.bindPort, hc.bindAddress, () => resolve(server));
  });
}
