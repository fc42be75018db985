// SVIDStore plugins (SPIRE's plugin/agent/svidstore): store workload SVIDs
// outside the agent (a cloud secret manager…) for workloads that cannot call
// the Workload API. None is built in yet; a plugin goes in
// svidstore/<name>/plugin.ts and one line of the agent catalog's BuiltIns.
import type { X509Certificate } from 'node:crypto';

export interface SvidStore {
  putX509Svid(svid: { readonly spiffeId: string; readonly chain: readonly X509Certificate[]; readonly privateKeyPkcs8: Buffer; readonly metadata: readonly string[] }): Promise<void>;
  deleteX509Svid(metadata: readonly string[]): Promise<void>;
  close?(): Promise<void> | void;
}
