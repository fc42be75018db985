// Envoy bootstraps for SDS tests: listeners and clusters, each with the TLS
// certificate (and optionally validation context) named as SDS resources
// from herald-agent's socket; the app cluster points at a local HTTP app.

export interface SdsListener { port: number; cert: string; validation?: string; san?: string }
export interface SdsCluster { name: string; port: number; cert: string; validation: string; san?: string }

export function sdsBootstrap(o: { node: string; admin: number; agentSocket: string; listeners: SdsListener[]; clusters?: SdsCluster[]; disableSpiffe?: boolean; app: number }): string {
  const sds = `{ resource_api_version: V3, api_config_source: { api_type: GRPC, transport_api_version: V3, grpc_services: [{ envoy_grpc: { cluster_name: herald_agent } }] } }`;
  const tls = (kind: 'Downstream' | 'Upstream', cert: string, validation: string | undefined, san: string | undefined) => `
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.${kind}TlsContext
          ${kind === 'Downstream' && validation ? 'require_client_certificate: true' : ''}
          common_tls_context:
            tls_certificate_sds_secret_configs: [{ name: "${cert}", sds_config: ${sds} }]
            ${validation ? `combined_validation_context:
              default_validation_context: { ${san ? `match_typed_subject_alt_names: [{ san_type: URI, matcher: { exact: "${san}" } }]` : ''} }
              validation_context_sds_secret_config: { name: "${validation}", sds_config: ${sds} }` : ''}`;
  const listeners = o.listeners.map((l, i) => `
  - name: l${i}
    address: { socket_address: { address: 127.0.0.1, port_value: ${l.port} } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: l${i}
          route_config: { virtual_hosts: [{ name: app, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: app } }] }] }
          http_filters: [{ name: envoy.filters.http.router, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router } }]${tls('Downstream', l.cert, l.validation, l.san).replace(/\n {6}/g, '\n      ')}`).join('');
  const clusters = (o.clusters ?? []).map((c) => `
  - name: ${c.name}
    connect_timeout: 1s
    load_assignment: { cluster_name: ${c.name}, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${c.port} } } } }] }] }${tls('Upstream', c.cert, c.validation, c.san).replace(/\n {6}/g, '\n    ')}`).join('');
  return `node:
  id: ${o.node}
  cluster: test
  ${o.disableSpiffe ? 'metadata: { disable_spiffe_cert_validation: true }' : ''}
admin: { address: { socket_address: { address: 127.0.0.1, port_value: ${o.admin} } } }
static_resources:
  listeners:${listeners}
  clusters:
  - name: herald_agent
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: { http2_protocol_options: {} }
    load_assignment: { cluster_name: herald_agent, endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: "${o.agentSocket}" } } } }] }] }
  - name: app
    connect_timeout: 1s
    load_assignment: { cluster_name: app, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${o.app} } } } }] }] }${clusters}
`;
}
