// The two Envoy bootstraps of the demo, as YAML. web's Envoy: a plain-HTTP
// listener for the web app, calling echo over mTLS (SDS certificates) and,
// on /jwt, adding web's JWT-SVID through ext_authz inject. echo's Envoy: an
// mTLS listener that admits only web's SPIFFE ID and, on /jwt, checks the
// JWT-SVID through ext_authz before the echo app sees the request.
import { ECHO_AUDIENCE } from '../topology.ts';

export interface Endpoint {
  address: string;
  port: number;
}

const sdsConfig = [
  'resource_api_version: V3',
  'api_config_source:',
  '  api_type: GRPC',
  '  transport_api_version: V3',
  '  grpc_services: [{ envoy_grpc: { cluster_name: herald_agent } }]',
];

const indent = (lines: readonly string[], by: string): string => lines.map((l) => by + l).join('\n');

const extAuthzFilter = `          - name: envoy.filters.http.ext_authz
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz
              transport_api_version: V3
              failure_mode_allow: false
              status_on_error: { code: ServiceUnavailable }
              grpc_service: { envoy_grpc: { cluster_name: herald_authz }, timeout: 0.5s }
          - name: envoy.filters.http.router
            typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }`;

const perRoute = (settings: string) => `
                typed_per_filter_config:
                  envoy.filters.http.ext_authz:
                    "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute
                    ${settings}`;

function pipeCluster(name: string, path: string): string {
  return `  - name: ${name}
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: { http2_protocol_options: {} }
    load_assignment:
      cluster_name: ${name}
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: "${path}" } } } }] }]`;
}

/** A transport_socket body (name + typed_config), indented by `by`. */
/** `selfId`: the SVID by its SPIFFE ID, not `default` — echo's workload also holds PostgreSQL's SVID in the host demo (one uid). */
function tlsContext(kind: 'Upstream' | 'Downstream', selfId: string, peerId: string, by: string): string {
  const lines = [
    'name: envoy.transport_sockets.tls',
    'typed_config:',
    `  "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.${kind}TlsContext`,
    ...(kind === 'Downstream' ? ['  require_client_certificate: true'] : []),
    '  common_tls_context:',
    '    tls_certificate_sds_secret_configs:',
    `    - name: "${selfId}"`,
    '      sds_config:',
    ...sdsConfig.map((l) => `        ${l}`),
    '    combined_validation_context:',
    '      default_validation_context:',
    `        match_typed_subject_alt_names: [{ san_type: URI, matcher: { exact: "${peerId}" } }]`,
    '      validation_context_sds_secret_config:',
    '        name: ALL',
    '        sds_config:',
    ...sdsConfig.map((l) => `          ${l}`),
  ];
  return indent(lines, by);
}

export function webEnvoyYaml(o: { admin: Endpoint; outbound: Endpoint; echoInbound: Endpoint; agentSocket: string; authzSocket: string }): string {
  return `node: { id: web-envoy, cluster: web }
admin: { address: { socket_address: { address: ${o.admin.address}, port_value: ${o.admin.port} } } }
static_resources:
  listeners:
  - name: outbound
    address: { socket_address: { address: ${o.outbound.address}, port_value: ${o.outbound.port} } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: outbound
          route_config:
            virtual_hosts:
            - name: echo
              domains: ["*"]
              routes:
              - match: { prefix: "/jwt" }
                route: { cluster: echo }${perRoute(`check_settings: { context_extensions: { herald_mode: inject, audience: "${ECHO_AUDIENCE}" } }`)}
              - match: { prefix: "/forged" }
                route: { cluster: echo, prefix_rewrite: "/jwt" }${perRoute('disabled: true')}
              - match: { prefix: "/" }
                route: { cluster: echo }${perRoute('disabled: true')}
          http_filters:
${extAuthzFilter}
  clusters:
  - name: echo
    connect_timeout: 1s
    type: STRICT_DNS
    load_assignment:
      cluster_name: echo
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: ${o.echoInbound.address}, port_value: ${o.echoInbound.port} } } } }] }]
    transport_socket:
${tlsContext('Upstream', 'spiffe://web.example/web', 'spiffe://echo.example/echo', '      ')}
${pipeCluster('herald_agent', o.agentSocket)}
${pipeCluster('herald_authz', o.authzSocket)}
`;
}

export function echoEnvoyYaml(o: { admin: Endpoint; inbound: Endpoint; echoApp: Endpoint; agentSocket: string; authzSocket: string }): string {
  return `node: { id: echo-envoy, cluster: echo }
admin: { address: { socket_address: { address: ${o.admin.address}, port_value: ${o.admin.port} } } }
static_resources:
  listeners:
  - name: inbound
    address: { socket_address: { address: ${o.inbound.address}, port_value: ${o.inbound.port} } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: inbound
          forward_client_cert_details: SANITIZE_SET
          set_current_client_cert_details: { uri: true }
          route_config:
            virtual_hosts:
            - name: echo_app
              domains: ["*"]
              routes:
              - match: { prefix: "/jwt" }
                route: { cluster: echo_app }${perRoute(`check_settings: { context_extensions: { audience: "${ECHO_AUDIENCE}" } }`)}
              - match: { prefix: "/" }
                route: { cluster: echo_app }${perRoute('disabled: true')}
          http_filters:
${extAuthzFilter}
      transport_socket:
${tlsContext('Downstream', 'spiffe://echo.example/echo', 'spiffe://web.example/web', '        ')}
  clusters:
  - name: echo_app
    connect_timeout: 1s
    type: STRICT_DNS
    load_assignment:
      cluster_name: echo_app
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: ${o.echoApp.address}, port_value: ${o.echoApp.port} } } } }] }]
${pipeCluster('herald_agent', o.agentSocket)}
${pipeCluster('herald_authz', o.authzSocket)}
`;
}
