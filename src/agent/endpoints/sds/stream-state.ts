// Per-stream xDS bookkeeping shared by the SotW and Delta handlers: which
// names the stream asked for, what was last sent, what Envoy ACKed or NACKed,
// and the status view (issue 10 #6) of each connected Envoy.
import { createHash, randomBytes } from 'node:crypto';
import type { AnyMessage } from './secrets.ts';

export interface SdsStreamInfo {
  readonly id: number;
  readonly kind: 'stream' | 'delta';
  readonly connectedAt: number;
  pid: number | undefined;
  nodeId: string;
  cluster: string;
  userAgent: string;
  spiffeIds: string[];
  resourceNames: string[];
  lastSent: { version: string; nonce: string; at: number } | undefined;
  lastAck: { version: string; at: number } | undefined;
  lastNack: { version: string; message: string; at: number } | undefined;
  /** Names held back (unknown / not authorized), each logged once per stream. */
  heldBack: string[];
}

/** The set of live SDS streams, for the status endpoint and tests. */
export class SdsStreamRegistry {
  readonly #streams = new Map<number, SdsStreamInfo>();
  #nextId = 1;

  open(kind: 'stream' | 'delta', now: number): SdsStreamInfo {
    const info: SdsStreamInfo = {
      id: this.#nextId++, kind, connectedAt: now, pid: undefined, nodeId: '', cluster: '', userAgent: '',
      spiffeIds: [], resourceNames: [], lastSent: undefined, lastAck: undefined, lastNack: undefined, heldBack: [],
    };
    this.#streams.set(info.id, info);
    return info;
  }

  close(info: SdsStreamInfo): void {
    this.#streams.delete(info.id);
  }

  list(): SdsStreamInfo[] {
    return [...this.#streams.values()];
  }

  get size(): number {
    return this.#streams.size;
  }
}

/** Content version of a set of resources: same content → same version, so nothing is re-pushed. */
export function contentVersion(resources: readonly { name: string; any: AnyMessage }[]): string {
  const h = createHash('sha256');
  for (const r of [...resources].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    h.update(r.name).update('\0').update(r.any.value).update('\0');
  }
  return h.digest('hex').slice(0, 16);
}

export function newNonce(): string {
  return randomBytes(8).toString('hex');
}

/** DiscoveryResponse.nonce (field 5, length-delimited) as protobuf bytes, for appending to an encoded response. */
export function nonceField(nonce: string): Buffer {
  const bytes = Buffer.from(nonce, 'utf8');
  if (bytes.length > 127) throw new Error('sds: nonce longer than a one-byte length');
  return Buffer.concat([Buffer.from([(5 << 3) | 2, bytes.length]), bytes]);
}
