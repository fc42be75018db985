// The one list of structured log field names (snake_case, as SPIRE's
// pkg/common/telemetry/names.go). Log with these names, not ad-hoc ones:
//   log.info({ [LogField.SpiffeId]: id.toString(), [LogField.Slot]: 'A' }, 'X509 CA activated')
// or, where literal keys read better, type the fields: `{ spiffe_id: id } satisfies LogFields`.

export const LogField = {
  // who / what component
  SubsystemName: 'subsystem_name',
  PluginName: 'plugin_name',
  PluginType: 'plugin_type',
  Version: 'version',
  // errors and outcome
  Error: 'error',
  Reason: 'reason',
  Status: 'status',
  Event: 'event',
  // requests and callers
  Method: 'method',
  Address: 'address',
  Network: 'network',
  SocketPath: 'socket_path',
  CallerPid: 'caller_pid',
  CallerUid: 'caller_uid',
  CallerGid: 'caller_gid',
  CallerPath: 'caller_path',
  CallerId: 'caller_id',
  CallerAddr: 'caller_addr',
  // identities and registration
  SpiffeId: 'spiffe_id',
  TrustDomain: 'trust_domain',
  TrustDomainId: 'trust_domain_id',
  AgentId: 'agent_id',
  EntryId: 'entry_id',
  ParentId: 'parent_id',
  Selectors: 'selectors',
  Selector: 'selector',
  Attestor: 'attestor',
  Count: 'count',
  // certificates, keys and tokens (never the key or token itself)
  Slot: 'slot',
  LocalAuthorityId: 'local_authority_id',
  UpstreamAuthorityId: 'upstream_authority_id',
  Serial: 'serial',
  IssuedAt: 'issued_at',
  Expiration: 'expiration',
  ExpiresAt: 'expires_at',
  Ttl: 'ttl',
  KeyId: 'kid',
  Subject: 'sub',
  Audience: 'audience',
  // federation
  BundleEndpointUrl: 'bundle_endpoint_url',
  FederatedTrustDomain: 'federated_trust_domain',
  RefreshHint: 'refresh_hint',
  // SDS / xDS
  ResourceNames: 'resource_names',
  TypeUrl: 'type_url',
  VersionInfo: 'version_info',
  Nonce: 'nonce',
  // timing and retries
  ElapsedTime: 'elapsed_time',
  Attempt: 'attempt',
  RetryInterval: 'retry_interval',
  // storage
  DataDir: 'data_dir',
  Path: 'path',
} as const;

export type LogField = (typeof LogField)[keyof typeof LogField];

/** A fields object using only the listed names. */
export type LogFields = Partial<Record<LogField, unknown>>;

/** Subsystem names for `logger.child({ subsystem_name })` (ca_manager etc. as in SPIRE). */
export const Subsystem = {
  CaManager: 'ca_manager',
  Catalog: 'catalog',
  Datastore: 'datastore',
  Endpoints: 'endpoints',
  Federation: 'bundle_client',
  Attestor: 'attestor',
  Manager: 'manager',
  SvidRotator: 'svid_rotator',
  WorkloadApi: 'workload_api',
  Sds: 'sds_api',
  Authz: 'ext_authz',
  Config: 'config',
} as const;
export type Subsystem = (typeof Subsystem)[keyof typeof Subsystem];
