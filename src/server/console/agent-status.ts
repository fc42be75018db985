// Reads the SDS status of agents on this host through their admin sockets
// (agent.admin_socket_path, GET /sds/status): the Envoys connected over SDS,
// what each ACKed or NACKed (with Envoy's message) and which names were held
// back. Proxying keeps one page and one credential; the agent needs no new
// listener, and its socket stays operator-only (0600: same user as the server).
import { createRequire } from 'node:module';
import { errorMessage } from '../../common/errors.ts';

// node:http through require, as admin-api.ts (Node's ESM namespace of node:http loads undici).
const { request } = createRequire(import.meta.url)('node:http') as typeof import('node:http');

const TIMEOUT_MS = 1500;
const MAX_BYTES = 4 << 20;

export type AgentSdsStatus = { readonly socketPath: string; readonly ok: true; readonly status: unknown } | { readonly socketPath: string; readonly ok: false; readonly error: string };

export function readAgentSdsStatus(socketPath: string): Promise<AgentSdsStatus> {
  return new Promise((resolve) => {
    const fail = (why: string): void => resolve({ socketPath, ok: false, error: why });
    const req = request({ socketPath, path: '/sds/status', method: 'GET', timeout: TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BYTES) req.destroy(new Error(`answer larger than ${MAX_BYTES} bytes`));
        else chunks.push(c);
      });
      res.on('end', () => {
        if (res.statusCode !== 200) return fail(`HTTP ${res.statusCode}`);
        try {
          resolve({ socketPath, ok: true, status: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
        } catch (err) {
          fail(`not JSON: ${errorMessage(err)}`);
        }
      });
      res.on('error', (err) => fail(errorMessage(err)));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    req.on('error', (err) => fail(errorMessage(err)));
    req.end();
  });
}
