// The closed list of Herald's error codes: every code a HeraldError may carry,
// the gRPC status it maps to, and what it means. This table is the only place
// a status is chosen (errors.ts reads it); docs/errors.md is generated from it
// (scripts/gen-error-docs.ts). Adding a code is one line here.

/** gRPC status codes (values from grpc's status.proto). */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcCode = (typeof GrpcCode)[keyof typeof GrpcCode];

export interface ErrorSpec {
  readonly status: GrpcCode;
  /** One line: what went wrong, for docs/errors.md. */
  readonly description: string;
  /**
   * A failed write of local state: the cause's OS error decides between
   * RESOURCE_EXHAUSTED (ENOSPC, EDQUOT), UNAVAILABLE (EROFS, EIO) and `status`.
   */
  readonly fromOsError?: true;
}

export const errorRegistry = {
  // SPIFFE IDs and trust domains (go-spiffe's rules)
  ERR_CANCELLED: { status: GrpcCode.CANCELLED, description: 'The client cancelled the call (recorded for a stream that ended so)' },
  ERR_SPIFFE_ID_EMPTY: { status: GrpcCode.INVALID_ARGUMENT, description: 'A SPIFFE ID or trust domain is empty' },
  ERR_SPIFFE_ID_MISSING_TRUST_DOMAIN: { status: GrpcCode.INVALID_ARGUMENT, description: 'A SPIFFE ID has no trust domain' },
  ERR_SPIFFE_ID_WRONG_SCHEME: { status: GrpcCode.INVALID_ARGUMENT, description: 'A SPIFFE ID does not start with spiffe://' },
  ERR_SPIFFE_ID_BAD_TRUST_DOMAIN_CHAR: { status: GrpcCode.INVALID_ARGUMENT, description: 'A trust domain holds a character other than lowercase letters, digits, dots, dashes and underscores' },
  ERR_SPIFFE_ID_BAD_PATH_SEGMENT_CHAR: { status: GrpcCode.INVALID_ARGUMENT, description: 'A SPIFFE ID path holds a character other than letters, digits, dots, dashes and underscores' },
  ERR_SPIFFE_ID_DOT_SEGMENT: { status: GrpcCode.INVALID_ARGUMENT, description: 'A SPIFFE ID path holds a `.` or `..` segment' },
  ERR_SPIFFE_ID_NO_LEADING_SLASH: { status: GrpcCode.INVALID_ARGUMENT, description: 'A SPIFFE ID path does not start with a slash' },
  ERR_SPIFFE_ID_EMPTY_SEGMENT: { status: GrpcCode.INVALID_ARGUMENT, description: 'A SPIFFE ID path holds an empty segment (`//`)' },
  ERR_SPIFFE_ID_TRAILING_SLASH: { status: GrpcCode.INVALID_ARGUMENT, description: 'A SPIFFE ID path ends with a slash' },
  ERR_SPIFFE_ID_TOO_LONG: { status: GrpcCode.INVALID_ARGUMENT, description: 'A SPIFFE ID is longer than 2048 bytes' },
  ERR_SPIFFE_ID_TRUST_DOMAIN_TOO_LONG: { status: GrpcCode.INVALID_ARGUMENT, description: 'A trust domain is longer than 255 bytes' },

  // X509-SVIDs (go-spiffe's x509svid rules)
  ERR_X509_SVID_NO_URI_SAN: { status: GrpcCode.INVALID_ARGUMENT, description: 'A certificate has no URI SAN' },
  ERR_X509_SVID_MULTIPLE_URI_SANS: { status: GrpcCode.INVALID_ARGUMENT, description: 'A certificate has more than one URI SAN' },
  ERR_X509_SVID_INVALID_SPIFFE_ID: { status: GrpcCode.INVALID_ARGUMENT, description: 'A certificate\'s URI SAN is not a valid SPIFFE ID' },
  ERR_X509_SVID_LEAF_NO_PATH: { status: GrpcCode.INVALID_ARGUMENT, description: 'A leaf SPIFFE ID has no path' },
  ERR_X509_SVID_LEAF_IS_CA: { status: GrpcCode.INVALID_ARGUMENT, description: 'A leaf certificate has the CA flag set' },
  ERR_X509_SVID_LEAF_KEY_CERT_SIGN: { status: GrpcCode.INVALID_ARGUMENT, description: 'A leaf certificate has the keyCertSign key usage' },
  ERR_X509_SVID_LEAF_CRL_SIGN: { status: GrpcCode.INVALID_ARGUMENT, description: 'A leaf certificate has the cRLSign key usage' },
  ERR_X509_SVID_LEAF_NO_DIGITAL_SIGNATURE: { status: GrpcCode.INVALID_ARGUMENT, description: 'A leaf certificate lacks the digitalSignature key usage' },
  ERR_X509_SVID_NO_CERTIFICATES: { status: GrpcCode.INVALID_ARGUMENT, description: 'An X509-SVID holds no certificates' },
  ERR_X509_SVID_INTERMEDIATE_NOT_CA: { status: GrpcCode.INVALID_ARGUMENT, description: 'A signing certificate of an X509-SVID chain lacks the CA flag' },
  ERR_X509_SVID_INTERMEDIATE_NO_KEY_CERT_SIGN: { status: GrpcCode.INVALID_ARGUMENT, description: 'A signing certificate of an X509-SVID chain lacks the keyCertSign key usage' },
  ERR_X509_SVID_KEY_MISMATCH: { status: GrpcCode.INVALID_ARGUMENT, description: 'An X509-SVID\'s leaf certificate does not match its private key' },
  ERR_X509_SVID_PARSE_CERTIFICATES: { status: GrpcCode.INVALID_ARGUMENT, description: 'An X509-SVID\'s certificates do not parse' },
  ERR_X509_SVID_PARSE_KEY: { status: GrpcCode.INVALID_ARGUMENT, description: 'An X509-SVID\'s private key does not parse' },
  ERR_X509_SVID_EMPTY_CHAIN: { status: GrpcCode.INVALID_ARGUMENT, description: 'A certificate chain to verify is empty' },
  ERR_X509_SVID_NO_BUNDLE: { status: GrpcCode.INVALID_ARGUMENT, description: 'No X.509 bundle is known for the SVID\'s trust domain' },
  ERR_X509_SVID_EXPIRED: { status: GrpcCode.INVALID_ARGUMENT, description: 'A certificate of the chain is expired or not yet valid' },
  ERR_X509_SVID_UNKNOWN_AUTHORITY: { status: GrpcCode.INVALID_ARGUMENT, description: 'A chain does not verify against the trust bundle' },

  // JWT-SVIDs (go-spiffe's jwtsvid rules)
  ERR_JWT_SVID_AUDIENCE_REQUIRED: { status: GrpcCode.INVALID_ARGUMENT, description: 'A JWT-SVID to sign has no audience' },
  ERR_JWT_SVID_INVALID_SUBJECT: { status: GrpcCode.INVALID_ARGUMENT, description: 'A JWT-SVID\'s subject is not a SPIFFE ID with a path' },
  ERR_JWT_SVID_PARSE: { status: GrpcCode.INVALID_ARGUMENT, description: 'A token is not a compact JWS with a JSON header and claims' },
  ERR_JWT_SVID_UNSUPPORTED_ALGORITHM: { status: GrpcCode.INVALID_ARGUMENT, description: 'A token is signed with an algorithm JWT-SVIDs do not allow' },
  ERR_JWT_SVID_INVALID_TYPE: { status: GrpcCode.INVALID_ARGUMENT, description: 'A token\'s `typ` header is neither JWT nor JOSE' },
  ERR_JWT_SVID_MISSING_SUBJECT: { status: GrpcCode.INVALID_ARGUMENT, description: 'A token has no `sub` claim' },
  ERR_JWT_SVID_MISSING_EXPIRY: { status: GrpcCode.INVALID_ARGUMENT, description: 'A token has no `exp` claim' },
  ERR_JWT_SVID_MISSING_KEY_ID: { status: GrpcCode.INVALID_ARGUMENT, description: 'A token\'s header has no `kid`' },
  ERR_JWT_SVID_MISSING_AUDIENCE: { status: GrpcCode.INVALID_ARGUMENT, description: 'A token has no `aud` claim' },
  ERR_JWT_SVID_AUDIENCE_MISMATCH: { status: GrpcCode.INVALID_ARGUMENT, description: 'A token\'s audience does not include the expected one' },
  ERR_JWT_SVID_INVALID_EXPIRY: { status: GrpcCode.INVALID_ARGUMENT, description: 'A token\'s `exp` claim is not a number' },
  ERR_JWT_SVID_EXPIRED: { status: GrpcCode.INVALID_ARGUMENT, description: 'A token has expired' },
  ERR_JWT_SVID_NOT_YET_VALID: { status: GrpcCode.INVALID_ARGUMENT, description: 'A token\'s `nbf` is in the future' },
  ERR_JWT_SVID_ISSUED_IN_FUTURE: { status: GrpcCode.INVALID_ARGUMENT, description: 'A token\'s `iat` is in the future' },
  ERR_JWT_SVID_NO_BUNDLE: { status: GrpcCode.INVALID_ARGUMENT, description: 'No JWT bundle is known for the token\'s trust domain' },
  ERR_JWT_SVID_UNKNOWN_KEY_ID: { status: GrpcCode.INVALID_ARGUMENT, description: 'The token\'s `kid` is not a JWT authority of its trust domain' },
  ERR_JWT_SVID_INVALID_SIGNATURE: { status: GrpcCode.INVALID_ARGUMENT, description: 'A token\'s signature does not verify, or its key does not fit the algorithm' },

  // Bundles and CSRs
  ERR_BUNDLE_PARSE: { status: GrpcCode.INVALID_ARGUMENT, description: 'A SPIFFE bundle is not a JSON object' },
  ERR_BUNDLE_NO_AUTHORITIES: { status: GrpcCode.INVALID_ARGUMENT, description: 'A SPIFFE bundle has no `keys`' },
  ERR_BUNDLE_JWT_MISSING_KID: { status: GrpcCode.INVALID_ARGUMENT, description: 'A JWT authority of a bundle has no key ID' },
  ERR_BUNDLE_JWT_DUPLICATE_KID: { status: GrpcCode.INVALID_ARGUMENT, description: 'Two JWT authorities of a bundle share a key ID' },
  ERR_BUNDLE_JWT_PARSE: { status: GrpcCode.INVALID_ARGUMENT, description: 'A JWKS or one of its keys does not parse' },
  ERR_BUNDLE_X509_PARSE: { status: GrpcCode.INVALID_ARGUMENT, description: 'An X.509 bundle (PEM or DER) does not parse' },
  ERR_CSR_INVALID: { status: GrpcCode.INVALID_ARGUMENT, description: 'A certificate signing request does not parse or its signature does not verify' },

  // Request arguments (server and agent APIs, CLI flags)
  ERR_INVALID_ARGUMENT: { status: GrpcCode.INVALID_ARGUMENT, description: 'A field of a request is invalid (the message names it)' },
  ERR_INVALID_ARGUMENT_AGENT_ID: { status: GrpcCode.INVALID_ARGUMENT, description: 'A join token\'s agent ID is not in the server\'s trust domain' },
  ERR_INVALID_ARGUMENT_ATTEST: { status: GrpcCode.INVALID_ARGUMENT, description: 'An agent\'s attestation stream is malformed or ended early' },
  ERR_INVALID_ARGUMENT_AUDIENCE: { status: GrpcCode.INVALID_ARGUMENT, description: 'A JWT-SVID request has no audience' },
  ERR_INVALID_ARGUMENT_AUTHORITY_ID: { status: GrpcCode.INVALID_ARGUMENT, description: 'A local authority request names no authority ID' },
  ERR_INVALID_ARGUMENT_BUNDLE: { status: GrpcCode.INVALID_ARGUMENT, description: 'A federated bundle is for the server\'s own trust domain or has no authorities' },
  ERR_INVALID_ARGUMENT_CSR: { status: GrpcCode.INVALID_ARGUMENT, description: 'A CSR is missing or does not carry exactly one SPIFFE ID' },
  ERR_INVALID_ARGUMENT_ENTRY: { status: GrpcCode.INVALID_ARGUMENT, description: 'A registration entry fails validation in the datastore' },
  ERR_INVALID_ARGUMENT_ENTRY_ID: { status: GrpcCode.INVALID_ARGUMENT, description: 'A registration entry request has no ID' },
  ERR_INVALID_ARGUMENT_FILTER: { status: GrpcCode.INVALID_ARGUMENT, description: 'A list filter is malformed' },
  ERR_INVALID_ARGUMENT_FLAG: { status: GrpcCode.INVALID_ARGUMENT, description: 'A required command-line flag is missing' },
  ERR_INVALID_ARGUMENT_ID: { status: GrpcCode.INVALID_ARGUMENT, description: 'A SPIFFE ID to mint is not in the server\'s trust domain' },
  ERR_INVALID_ARGUMENT_JOIN_TOKEN: { status: GrpcCode.INVALID_ARGUMENT, description: 'A join token is empty or cannot form an agent ID' },
  ERR_INVALID_ARGUMENT_JWT: { status: GrpcCode.INVALID_ARGUMENT, description: 'A JWT-SVID given to ValidateJWTSVID does not validate' },
  ERR_INVALID_ARGUMENT_MATCH: { status: GrpcCode.INVALID_ARGUMENT, description: 'A selector match behaviour is unknown' },
  ERR_INVALID_ARGUMENT_OUTPUT: { status: GrpcCode.INVALID_ARGUMENT, description: 'A CLI output format is neither pretty nor json' },
  ERR_INVALID_ARGUMENT_PAGE_SIZE: { status: GrpcCode.INVALID_ARGUMENT, description: 'A page size is negative' },
  ERR_INVALID_ARGUMENT_PAGE_TOKEN: { status: GrpcCode.INVALID_ARGUMENT, description: 'A page token is not one the server handed out' },
  ERR_INVALID_ARGUMENT_PARAMS: { status: GrpcCode.INVALID_ARGUMENT, description: 'An agent renewal request has no params' },
  ERR_INVALID_ARGUMENT_SECURITY_HEADER: { status: GrpcCode.INVALID_ARGUMENT, description: 'A Workload API call lacks the `workload.spiffe.io` security header' },
  ERR_INVALID_ARGUMENT_SELECTOR: { status: GrpcCode.INVALID_ARGUMENT, description: 'A selector is not `type:value` or could never match' },
  ERR_INVALID_ARGUMENT_SOCKET: { status: GrpcCode.INVALID_ARGUMENT, description: 'A Workload API address is not a unix socket' },
  ERR_INVALID_ARGUMENT_SPIFFE_ID: { status: GrpcCode.INVALID_ARGUMENT, description: 'A requested SPIFFE ID is invalid' },
  ERR_INVALID_ARGUMENT_SVID: { status: GrpcCode.INVALID_ARGUMENT, description: 'A ValidateJWTSVID request has no token' },
  ERR_INVALID_ARGUMENT_TOKEN: { status: GrpcCode.INVALID_ARGUMENT, description: 'A join token to create is invalid' },
  ERR_INVALID_ARGUMENT_TRUST_DOMAIN: { status: GrpcCode.INVALID_ARGUMENT, description: 'A federated trust domain is the server\'s own' },
  ERR_INVALID_ARGUMENT_TTL: { status: GrpcCode.INVALID_ARGUMENT, description: 'A requested TTL is negative' },
  ERR_INVALID_ARGUMENT_TYPE_URL: { status: GrpcCode.INVALID_ARGUMENT, description: 'An SDS request asks for a type other than Secret' },
  ERR_INVALID_ARGUMENT_K8S_PSAT: { status: GrpcCode.INVALID_ARGUMENT, description: 'A k8s_psat attestation payload is malformed, names a cluster the server is not configured for, or the agent cannot read its token' },
  ERR_INVALID_ARGUMENT_X509POP: { status: GrpcCode.INVALID_ARGUMENT, description: 'An x509pop attestation payload is malformed' },

  // Configuration
  ERR_CONFIG_INVALID: { status: GrpcCode.INVALID_ARGUMENT, description: 'A config file or flag is invalid (every problem is listed with its file, line and key)' },
  ERR_CONFIG_AUTHZ_POLICY: { status: GrpcCode.INVALID_ARGUMENT, description: 'An ext_authz policy file is invalid' },
  ERR_CONFIG_BUNDLE_ENDPOINT: { status: GrpcCode.INVALID_ARGUMENT, description: 'The bundle endpoint\'s serving certificate files cannot be read' },
  ERR_CONFIG_TRUST_BUNDLE: { status: GrpcCode.INVALID_ARGUMENT, description: 'The agent\'s bootstrap trust bundle cannot be read or parsed' },
  ERR_CONFIG_UPSTREAM_AUTHORITY: { status: GrpcCode.INVALID_ARGUMENT, description: 'The disk UpstreamAuthority\'s certificate or key is unusable' },
  ERR_CONFIG_PLUGINS: { status: GrpcCode.INVALID_ARGUMENT, description: 'A runtime config declares a plugin the catalog does not have, or the wrong number of plugins of a type' },
  ERR_CONFIG_PLUGIN_LOAD: { status: GrpcCode.INVALID_ARGUMENT, description: 'A plugin failed to start from its configuration (the message names the plugin type and name)' },
  ERR_CONFIG_X509POP: { status: GrpcCode.INVALID_ARGUMENT, description: 'An x509pop NodeAttestor\'s certificates or key cannot be loaded' },
  ERR_FLAG_INVALID: { status: GrpcCode.INTERNAL, description: 'A command-line flag is unknown or its value is invalid' },

  // Lookups and conflicts
  ERR_AGENT_NOT_FOUND: { status: GrpcCode.NOT_FOUND, description: 'No attested agent has this SPIFFE ID' },
  ERR_BUNDLE_NOT_FOUND: { status: GrpcCode.NOT_FOUND, description: 'No bundle is stored for this trust domain' },
  ERR_ENTRY_NOT_FOUND: { status: GrpcCode.NOT_FOUND, description: 'No registration entry has this ID' },
  ERR_NOT_FOUND_AUTHORITY: { status: GrpcCode.NOT_FOUND, description: 'No local authority has this ID' },
  ERR_NOT_FOUND_ENTRY: { status: GrpcCode.NOT_FOUND, description: 'The agent may not mint for this entry, or it does not exist' },
  ERR_NOT_FOUND_FEDERATION_RELATIONSHIP: { status: GrpcCode.NOT_FOUND, description: 'No federation relationship exists with this trust domain' },
  ERR_NOT_FOUND_JOIN_TOKEN: { status: GrpcCode.NOT_FOUND, description: 'No join token has this value' },
  ERR_NOT_FOUND_SERVICE: { status: GrpcCode.NOT_FOUND, description: 'A health check names an unknown service' },
  ERR_ALREADY_EXISTS_AGENT: { status: GrpcCode.ALREADY_EXISTS, description: 'An attested agent with this SPIFFE ID exists' },
  ERR_ALREADY_EXISTS_BUNDLE: { status: GrpcCode.ALREADY_EXISTS, description: 'A bundle for this trust domain exists' },
  ERR_ALREADY_EXISTS_FEDERATION_RELATIONSHIP: { status: GrpcCode.ALREADY_EXISTS, description: 'A federation relationship with this trust domain exists' },
  ERR_ALREADY_EXISTS_JOIN_TOKEN: { status: GrpcCode.ALREADY_EXISTS, description: 'A join token with this value exists' },
  ERR_ENTRY_EXISTS: { status: GrpcCode.ALREADY_EXISTS, description: 'An entry with the same SPIFFE ID, parent ID and selectors exists' },

  // Preconditions
  ERR_FAILED_PRECONDITION_CONSOLE: { status: GrpcCode.FAILED_PRECONDITION, description: 'The status console is not configured (no console section) or its token file is missing (start the server with a console section first)' },
  ERR_FAILED_PRECONDITION_ATTESTOR: { status: GrpcCode.FAILED_PRECONDITION, description: 'An agent attests with a NodeAttestor the server does not run' },
  ERR_FAILED_PRECONDITION_AUTHORITY_ACTIVE: { status: GrpcCode.FAILED_PRECONDITION, description: 'The active authority cannot be tainted or revoked' },
  ERR_FAILED_PRECONDITION_AUTHORITY_PREPARED: { status: GrpcCode.FAILED_PRECONDITION, description: 'The prepared authority cannot be tainted or revoked' },
  ERR_FAILED_PRECONDITION_AUTHORITY_TAINTED: { status: GrpcCode.FAILED_PRECONDITION, description: 'The authority is already tainted' },
  ERR_FAILED_PRECONDITION_AUTHORITY_NOT_TAINTED: { status: GrpcCode.FAILED_PRECONDITION, description: 'Only a tainted authority can be revoked' },
  ERR_FAILED_PRECONDITION_BUNDLE_IN_USE: { status: GrpcCode.FAILED_PRECONDITION, description: 'A federated bundle cannot be deleted while entries federate with it' },
  ERR_FAILED_PRECONDITION_DATA_DIR_LOCKED: { status: GrpcCode.FAILED_PRECONDITION, description: 'Another running process holds the data_dir lock' },
  ERR_FAILED_PRECONDITION_FEDERATED_BUNDLE_NOT_FOUND: { status: GrpcCode.FAILED_PRECONDITION, description: 'An entry federates with a trust domain whose bundle is unknown' },
  ERR_FAILED_PRECONDITION_FEDERATION: { status: GrpcCode.FAILED_PRECONDITION, description: 'A bundle refresh was asked for while federation is not running' },
  ERR_FAILED_PRECONDITION_NO_JOIN_TOKEN: { status: GrpcCode.FAILED_PRECONDITION, description: 'The agent must attest again and has no join token to do it with' },
  ERR_FAILED_PRECONDITION_NO_PREPARED: { status: GrpcCode.FAILED_PRECONDITION, description: 'No prepared authority exists to activate' },
  ERR_FAILED_PRECONDITION_UPSTREAM: { status: GrpcCode.FAILED_PRECONDITION, description: 'A local authority signed by an UpstreamAuthority cannot be tainted or revoked here' },
  ERR_UNIMPLEMENTED: { status: GrpcCode.UNIMPLEMENTED, description: 'An API or option Herald does not implement (nested SPIRE, PostStatus, some local authority calls)' },

  // Permission and authentication
  ERR_PERMISSION_DENIED: { status: GrpcCode.PERMISSION_DENIED, description: 'The caller may not call this API' },
  ERR_PERMISSION_DENIED_AGENT: { status: GrpcCode.PERMISSION_DENIED, description: 'The calling agent is not attested or its SVID is no longer active' },
  ERR_PERMISSION_DENIED_JOIN_TOKEN: { status: GrpcCode.PERMISSION_DENIED, description: 'A join token does not exist, was used or expired' },
  ERR_PERMISSION_DENIED_SDS: { status: GrpcCode.PERMISSION_DENIED, description: 'An SDS client asks for secrets its workload is not entitled to' },
  ERR_PERMISSION_DENIED_SOCKET_OWNER: { status: GrpcCode.PERMISSION_DENIED, description: 'An admin socket is owned by another user' },
  ERR_PERMISSION_DENIED_K8S_PSAT: { status: GrpcCode.PERMISSION_DENIED, description: 'A k8s_psat token is refused by the TokenReview API (expired, invalid, wrong audience, its pod gone) or its service account is not allowed' },
  ERR_INTERNAL_K8S_PSAT: { status: GrpcCode.INTERNAL, description: 'k8s_psat could not validate a token or read the agent\'s Pod or Node through the Kubernetes API' },
  ERR_PERMISSION_DENIED_X509POP: { status: GrpcCode.PERMISSION_DENIED, description: 'An x509pop certificate or challenge response does not verify' },
  ERR_AGENT_BANNED: { status: GrpcCode.PERMISSION_DENIED, description: 'The agent is banned' },
  ERR_NO_IDENTITY: { status: GrpcCode.PERMISSION_DENIED, description: 'No registration entry matches the calling workload' },
  ERR_UNAUTHENTICATED_SVID: { status: GrpcCode.UNAUTHENTICATED, description: 'The client certificate is not a valid X509-SVID of the trust domain' },

  // Attestation
  ERR_ATTESTATION_FAILED: { status: GrpcCode.UNAVAILABLE, description: 'The agent could not attest to the server' },
  ERR_ATTESTATION_FAILED_CHALLENGE: { status: GrpcCode.UNAVAILABLE, description: 'The agent could not answer the server\'s attestation challenge' },
  ERR_UNAVAILABLE_WORKLOAD_ATTESTATION: { status: GrpcCode.UNAVAILABLE, description: 'The calling process went away before it could be attested' },
  ERR_INTERNAL_WORKLOAD_ATTESTATION: { status: GrpcCode.INTERNAL, description: 'What /proc says about the calling process cannot be read or understood' },
  ERR_UNAVAILABLE_NO_PEER: { status: GrpcCode.UNAVAILABLE, description: 'The caller\'s process credentials are unknown' },

  // Federation
  ERR_FEDERATION_NOT_FOUND: { status: GrpcCode.NOT_FOUND, description: 'A bundle refresh names a trust domain without a federation relationship' },
  ERR_FEDERATION_NO_TRUST: { status: GrpcCode.FAILED_PRECONDITION, description: 'No bundle is known to authenticate an https_spiffe bundle endpoint' },
  ERR_FEDERATION_FETCH: { status: GrpcCode.UNAVAILABLE, description: 'A foreign bundle endpoint cannot be reached' },
  ERR_FEDERATION_HTTP: { status: GrpcCode.UNAVAILABLE, description: 'A foreign bundle endpoint answered with an HTTP error' },
  ERR_FEDERATION_INVALID_BUNDLE: { status: GrpcCode.UNAVAILABLE, description: 'A foreign bundle endpoint served an invalid bundle' },
  ERR_FEDERATION_EMPTY_BUNDLE: { status: GrpcCode.UNAVAILABLE, description: 'A foreign bundle endpoint served a bundle without X.509 authorities' },
  ERR_FEDERATION_WRONG_DOMAIN: { status: GrpcCode.UNAVAILABLE, description: 'A foreign bundle endpoint served a bundle of another trust domain' },

  // Rate limits (server.ratelimit)
  ERR_RESOURCE_EXHAUSTED_RATE_LIMIT: { status: GrpcCode.RESOURCE_EXHAUSTED, description: 'A source IP is over its AttestAgent or signing rate limit' },
  ERR_RESOURCE_EXHAUSTED_ENTRY_WATCHES: { status: GrpcCode.RESOURCE_EXHAUSTED, description: 'An agent, or the server in all, already holds as many open entry watches (WatchEntries streams) as the server allows' },

  // Datastore
  ERR_DATASTORE_BUSY: { status: GrpcCode.UNAVAILABLE, description: 'Another writer held the database lock too long, or a transaction could not be serialized' },
  ERR_DATASTORE_FULL: { status: GrpcCode.RESOURCE_EXHAUSTED, description: 'The datastore disk or database is full' },
  ERR_DATASTORE_READ_ONLY: { status: GrpcCode.UNAVAILABLE, description: 'The database or its filesystem is read-only' },
  ERR_DATASTORE_IO: { status: GrpcCode.UNAVAILABLE, description: 'The datastore disk failed a read or write' },
  ERR_DATASTORE_UNAVAILABLE: { status: GrpcCode.UNAVAILABLE, description: 'The database server cannot be reached' },
  ERR_DATASTORE_QUERY: { status: GrpcCode.INTERNAL, description: 'A database statement failed' },
  ERR_DATASTORE_CORRUPT: { status: GrpcCode.INTERNAL, description: 'A stored row or the database file cannot be decoded' },
  ERR_DATASTORE_SCHEMA_TOO_NEW: { status: GrpcCode.INTERNAL, description: 'The database was written by a newer Herald' },
  ERR_DATASTORE_MIGRATION: { status: GrpcCode.INTERNAL, description: 'A schema migration failed' },
  ERR_DATASTORE_MISSING: { status: GrpcCode.INTERNAL, description: 'The datastore is missing or empty although the CA journal or keys show it held data' },
  ERR_DATASTORE_OPEN: { status: GrpcCode.INTERNAL, description: 'The datastore cannot be opened' },
  ERR_DATASTORE_CLOSED: { status: GrpcCode.INTERNAL, description: 'The datastore was used after it was closed' },

  // CA and key manager
  ERR_CREDENTIAL_COMPOSER: { status: GrpcCode.INTERNAL, description: 'A credential composer produced a credential that breaks the X509-SVID or JWT-SVID rules (the message names the composer and the rule)' },
  ERR_CA_JOURNAL_UNREADABLE: { status: GrpcCode.INTERNAL, description: 'The CA journal cannot be read' },
  ERR_CA_JOURNAL_CORRUPT: { status: GrpcCode.INTERNAL, description: 'The CA journal is not valid; the server refuses to start rather than replace the CA' },
  ERR_CA_JOURNAL_WRITE: { status: GrpcCode.INTERNAL, description: 'The CA journal cannot be written', fromOsError: true },
  ERR_CA_KEY_MISSING: { status: GrpcCode.INTERNAL, description: 'The CA journal names a key the key manager does not have' },
  ERR_CA_KEY_MISMATCH: { status: GrpcCode.INTERNAL, description: 'A CA certificate does not match its private key in the key manager' },
  ERR_KEY_MANAGER_UNREADABLE: { status: GrpcCode.INTERNAL, description: 'The disk key manager\'s key file cannot be read' },
  ERR_KEY_MANAGER_CORRUPT: { status: GrpcCode.INTERNAL, description: 'The disk key manager\'s key file is not valid' },
  ERR_KEY_MANAGER_WRITE: { status: GrpcCode.INTERNAL, description: 'The disk key manager\'s key file cannot be written', fromOsError: true },
  ERR_UNAVAILABLE_NO_CA: { status: GrpcCode.UNAVAILABLE, description: 'No X.509 CA is active yet' },
  ERR_UNAVAILABLE_NO_JWT_KEY: { status: GrpcCode.UNAVAILABLE, description: 'No JWT signing key is active yet' },

  // Agent
  ERR_AGENT_DATA_DIR: { status: GrpcCode.INTERNAL, description: 'The agent\'s data_dir or a file in it cannot be created, read or removed' },
  ERR_AGENT_DATA_CORRUPT: { status: GrpcCode.INTERNAL, description: 'The agent\'s stored SVID, key or bundle is unparsable or incomplete' },
  ERR_AGENT_MUST_REATTEST: { status: GrpcCode.INTERNAL, description: 'The server no longer accepts the agent\'s SVID; the agent stops to attest again' },
  ERR_AGENT_MUST_REBOOTSTRAP: { status: GrpcCode.INTERNAL, description: 'The server\'s CA is no longer in the agent\'s bundle; the agent stops to bootstrap again' },
  ERR_AGENT_SVID_INVALID: { status: GrpcCode.INTERNAL, description: 'The agent SVID the server sent has no SPIFFE ID' },
  ERR_INITIAL_SYNC_FAILED: { status: GrpcCode.INTERNAL, description: 'The agent\'s first sync failed and retry_bootstrap is off' },
  ERR_INTERNAL_ISSUED_SVID: { status: GrpcCode.INTERNAL, description: 'An X509-SVID the server sent does not verify or names another ID' },
  ERR_REBOOTSTRAP_NOT_SUPPORTED: { status: GrpcCode.INTERNAL, description: 'rebootstrap_mode "always" was asked for but the agent cannot re-bootstrap' },
  ERR_UNKNOWN_BATCH_STATUS: { status: GrpcCode.UNKNOWN, description: 'A batch result from the server carries no status' },
  ERR_UNAVAILABLE_EMPTY_BUNDLE: { status: GrpcCode.UNAVAILABLE, description: 'The server sent a bundle without X.509 authorities' },
  ERR_UNAVAILABLE_FETCH_JWT_SVID: { status: GrpcCode.UNAVAILABLE, description: 'The agent could not get a JWT-SVID from the server for a Workload API call' },
  ERR_UNAVAILABLE_JWT_SVID: { status: GrpcCode.UNAVAILABLE, description: 'ext_authz cannot fetch a JWT-SVID from the Workload API' },

  // Sockets, peers and local processes
  ERR_UDS_ADDRESS_IN_USE: { status: GrpcCode.INTERNAL, description: 'Another process listens on the socket path' },
  ERR_UDS_PATH_NOT_SOCKET: { status: GrpcCode.INTERNAL, description: 'The socket path exists and is not a socket' },
  ERR_UDS_PATH_TOO_LONG: { status: GrpcCode.INTERNAL, description: 'The socket path is longer than a unix socket address allows' },
  ERR_UDS_LISTEN_FAILED: { status: GrpcCode.INTERNAL, description: 'The socket cannot be listened on' },
  ERR_UDS_UNSAFE_DIRECTORY: { status: GrpcCode.INTERNAL, description: 'The socket\'s directory is writable or owned by another user' },
  ERR_PEER_FD_UNAVAILABLE: { status: GrpcCode.INTERNAL, description: 'The accepted socket has no file descriptor to read credentials from' },
  ERR_PEER_CREDENTIALS_UNAVAILABLE: { status: GrpcCode.INTERNAL, description: 'The peer\'s credentials (SO_PEERCRED) cannot be read' },
  ERR_PROCESS_STAT_UNREADABLE: { status: GrpcCode.INTERNAL, description: '/proc/PID/stat cannot be read or parsed' },
  ERR_UNAVAILABLE_DATA_DIR_LOCK: { status: GrpcCode.UNAVAILABLE, description: 'The data_dir lock file cannot be created or locked' },
  ERR_UNAVAILABLE_SHUTTING_DOWN: { status: GrpcCode.UNAVAILABLE, description: 'The server is shutting down and opens no new entry watches' },
  ERR_UNAVAILABLE_LISTEN: { status: GrpcCode.UNAVAILABLE, description: 'A TCP endpoint (server API, bundle endpoint, health checks) cannot listen on its address' },

  // Command line
  ERR_CLI: { status: GrpcCode.INTERNAL, description: 'A CLI command failed; the message is what SPIRE\'s CLI prints' },
  ERR_UNAVAILABLE_ADMIN: { status: GrpcCode.UNAVAILABLE, description: 'The agent admin socket cannot be reached' },
  ERR_UNAVAILABLE_CONNECTION: { status: GrpcCode.UNAVAILABLE, description: 'The CLI cannot connect to the daemon\'s socket, or it is not a socket' },
  ERR_UNAVAILABLE_STREAM_ENDED: { status: GrpcCode.UNAVAILABLE, description: 'A Workload API stream ended before its first message' },
} as const satisfies Readonly<Record<`ERR_${string}`, ErrorSpec>>;

/** Every code a HeraldError may carry. */
export type ErrorCode = keyof typeof errorRegistry;

/** The codes of a family, without the prefix: `ErrorCodeSuffix<'ERR_X509_SVID_'>` is 'NO_URI_SAN' | …. */
export type ErrorCodeSuffix<P extends string> = ErrorCode extends infer C ? (C extends `${P}${infer S}` ? S : never) : never;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(errorRegistry, code);
}
