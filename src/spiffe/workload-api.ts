// The SPIFFE Workload API's security header (SPIFFE Workload Endpoint spec,
// section 6.1): every request carries `workload.spiffe.io: true`, so a
// browser-style request forwarded by a confused deputy is refused. Shared
// by the agent's Workload API endpoint and its clients (the CLI,
// herald-authz).
export const SECURITY_HEADER = 'workload.spiffe.io';
