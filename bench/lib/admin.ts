// Admin-socket calls a benchmark makes on a server (Herald's or SPIRE's: the
// same API), each over a channel of its own.
import { callUnary, udsClient } from '../../src/cli/grpc-client.ts';
import { Services, type ServiceName } from '../../src/common/grpc/protos.ts';

export async function adminCall<T>(socket: string, service: ServiceName, method: string, req: object, timeoutMs = 60_000): Promise<T> {
  const c = udsClient(service, socket);
  try {
    return await callUnary<T>(c, method, req, undefined, timeoutMs);
  } finally {
    c.close();
  }
}

/** An entry as the admin API returns it (SPIRE's types.Entry in proto JSON form). */
export type AdminEntry = Record<string, unknown> & { id: string };

/** Entries `paths` of `trustDomain` for the agent of join token `token`, selector unix:uid:`uid`, 100 per call; returns them as created. */
export async function createTokenEntries(socket: string, o: { trustDomain: string; token: string; uid: number; paths: readonly string[] }): Promise<AdminEntry[]> {
  const out: AdminEntry[] = [];
  for (let i = 0; i < o.paths.length; i += 100) {
    const res = await adminCall<{ results: { status: { code: number; message: string }; entry: AdminEntry }[] }>(socket, Services.entry, 'BatchCreateEntry', {
      entries: o.paths.slice(i, i + 100).map((path) => ({
        spiffe_id: { trust_domain: o.trustDomain, path },
        parent_id: { trust_domain: o.trustDomain, path: `/spire/agent/join_token/${o.token}` },
        selectors: [{ type: 'unix', value: `uid:${o.uid}` }],
      })),
    });
    const bad = res.results.find((r) => r.status.code !== 0);
    if (bad) throw new Error(`entry create: ${bad.status.message}`);
    out.push(...res.results.map((r) => r.entry));
  }
  return out;
}
