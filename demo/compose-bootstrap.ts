// One-shot bootstrap for demo/docker-compose.yml: what demo/run.ts does
// between starting the servers and starting the agents — federation both
// ways, join tokens (written for the agents) and registration entries for
// each domain's Envoy (attested by its container uid), and echo.example's
// PostgreSQL (its own uid; DNS SAN echo-postgres, the host name echo checks). It may run again
// against servers that keep their data (`docker compose stop` then `start`):
// what exists already is kept, and the agents get fresh join tokens.
import { mkdirSync, writeFileSync } from 'node:fs';
import { Services } from '../src/common/grpc/protos.ts';
import { admin, batchOk } from './lib/procs.ts';
import { POSTGRES_ID } from './lib/echo-db.ts';
import { CONTAINER_PORTS, DOMAINS } from './topology.ts';

const env = (k: string): string => {
  const v = process.env[k];
  if (!v) throw new Error(`bootstrap: ${k} is not set`);
  return v;
};
const socket = (name: string): string => env(`${name.toUpperCase()}_SERVER_SOCKET`);
const ALREADY_EXISTS = 6;
/** As batchOk, but an item that exists already (a second run) is fine. */
const createdOrExists = (res: { results: { status: { code: number; message: string } }[] }, what: string): void =>
  batchOk({ results: res.results.filter((r) => r.status.code !== ALREADY_EXISTS) }, what);

for (const d of DOMAINS) {
  const other = DOMAINS.find((o) => o.name !== d.name)!;
  const bundle = await admin<object>(socket(other.name), Services.bundle, 'GetBundle', {});
  batchOk(await admin(socket(d.name), Services.bundle, 'BatchSetFederatedBundle', { bundle: [bundle] }), 'bundle set');
  createdOrExists(
    await admin(socket(d.name), Services.trustDomain, 'BatchCreateFederationRelationship', {
      federation_relationships: [{ trust_domain: other.trustDomain, bundle_endpoint_url: `https://${other.name}-server:${CONTAINER_PORTS.bundleEndpoint}`, https_spiffe: { endpoint_spiffe_id: `spiffe://${other.trustDomain}/spire/server` } }],
    }),
    'federation create',
  );
}
const tokens = process.env.TOKENS_DIR ?? '/run/herald/tokens';
mkdirSync(tokens, { recursive: true });
for (const d of DOMAINS) {
  const token = (await admin<{ value: string }>(socket(d.name), Services.agent, 'CreateJoinToken', { ttl: 3600, agent_id: { trust_domain: d.trustDomain, path: '/node' } })).value;
  createdOrExists(
    await admin(socket(d.name), Services.entry, 'BatchCreateEntry', {
      entries: [
        { spiffe_id: { trust_domain: d.trustDomain, path: new URL(d.workloadId).pathname }, parent_id: { trust_domain: d.trustDomain, path: '/node' }, selectors: [{ type: 'unix', value: `uid:${env(`${d.name.toUpperCase()}_ENVOY_UID`)}` }], federates_with: [d.federatesWith] },
        ...(d.name === 'echo' ? [{ spiffe_id: { trust_domain: d.trustDomain, path: new URL(POSTGRES_ID).pathname }, parent_id: { trust_domain: d.trustDomain, path: '/node' }, selectors: [{ type: 'unix', value: `uid:${env('ECHO_POSTGRES_UID')}` }], dns_names: ['echo-postgres'] }] : []),
      ],
    }),
    'entry create',
  );
  writeFileSync(`${tokens}/${d.name}`, token, { mode: 0o644 });
  console.log(`${d.trustDomain}: federation, entry and join token ready`);
}
