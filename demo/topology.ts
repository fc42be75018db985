// The demo's topology, described once: two trust domains, each with a
// herald-server, a herald-agent and an Envoy sidecar in front of its app.
// The process runner (demo/run.ts) and demo/docker-compose.yml are both
// generated from this.

export interface DomainSpec {
  /** Short name: web | echo. */
  readonly name: 'web' | 'echo';
  readonly trustDomain: string;
  /** The SPIFFE ID of the domain's workload (its Envoy sidecar and app). */
  readonly workloadId: string;
  /** The node alias the join token gets. */
  readonly nodeId: string;
  readonly federatesWith: string;
}

export const DOMAINS: readonly DomainSpec[] = [
  { name: 'web', trustDomain: 'web.example', workloadId: 'spiffe://web.example/web', nodeId: 'spiffe://web.example/node', federatesWith: 'echo.example' },
  { name: 'echo', trustDomain: 'echo.example', workloadId: 'spiffe://echo.example/echo', nodeId: 'spiffe://echo.example/node', federatesWith: 'web.example' },
];

/** Audience of the JWT-SVIDs web sends to echo. */
export const ECHO_AUDIENCE = 'spiffe://echo.example/echo';

/** Short lifetimes so rotations are visible while you watch. */
export const LIFETIMES = { caTtl: '10m', x509SvidTtl: '90s', jwtSvidTtl: '60s', refreshHint: '5s' } as const;

/** Fixed ports inside containers (docker-compose); the process demo picks free ones. */
export const CONTAINER_PORTS = { serverApi: 8081, bundleEndpoint: 8443, webPage: 8080, echoApp: 9000, envoyInbound: 10000, envoyOutbound: 10001, envoyAdmin: 9901, postgres: 5432 } as const;
