// Envoy SDS v3 (envoy.service.secret.v3.SecretDiscoveryService) on the
// agent's socket: StreamSecrets (SotW), DeltaSecrets and FetchSecrets. The
// caller (Envoy) is attested like any workload and gets only its own
// identities and the bundles its entries allow.
//
// Protocol rules (see envoy/README.md):
// - every response carries version_info (a hash of its content) and a nonce;
// - an ACK leaves the stream quiet until the content for its names changes;
// - a NACK is logged with Envoy's message and the same content is not resent;
// - requests whose nonce is not the latest one sent are stale and ignored;
// - a name the caller cannot have (unknown, or another workload's identity)
//   is held back and logged once, while every valid name is still served
//   (SPIRE instead fails the whole stream with InvalidArgument).
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Subscription, WorkloadUpdate } from '../../cache/types.ts';
import type { Clock } from '../../../common/clock.ts';
import { HeraldError } from '../../../common/errors.ts';
import { failStream, toServiceError } from '../../../common/grpc/status.ts';
import { responseSerializer, Services } from '../../../common/grpc/protos.ts';
import type { AgentMetrics } from '../../telemetry.ts';
import type { Selector } from '../../../common/selector.ts';
import { resolveResource, type SdsNamingConfig } from './resource-names.ts';
import { SECRET_TYPE_URL, type AnyEncoder, type AnyMessage } from './secrets.ts';
import { contentVersion, newNonce, nonceField, type SdsStreamInfo, type SdsStreamRegistry } from './stream-state.ts';

/** Attests the caller of an SDS call (the handler's own view of the attestor). */
export interface SdsAttestor {
  attest(call: { getPeer(): string }): Promise<{ selectors: Selector[]; pid?: number }>;
}

/** What SDS needs from the agent's cache. */
export interface SdsManager {
  /** Resolves once the agent has its first SVIDs and bundle (readiness). */
  whenReady(): Promise<void>;
  subscribe(selectors: readonly Selector[]): Subscription;
}

export interface SdsHandlerDeps {
  attestor: SdsAttestor;
  manager: SdsManager;
  naming: SdsNamingConfig;
  encodeAny: AnyEncoder;
  log: Logger;
  metrics: AgentMetrics;
  registry: SdsStreamRegistry;
  clock: Clock;
}

interface EnvoyNode {
  id?: string;
  cluster?: string;
  user_agent_name?: string;
  user_agent_version?: string;
  metadata?: { fields?: Record<string, { boolValue?: boolean; stringValue?: string; kind?: string }> };
}

interface DiscoveryRequest {
  version_info: string;
  node?: EnvoyNode | null;
  resource_names: string[];
  type_url: string;
  response_nonce: string;
  error_detail?: { code: number; message: string } | null;
}

interface DeltaDiscoveryRequest {
  node?: EnvoyNode | null;
  type_url: string;
  resource_names_subscribe: string[];
  resource_names_unsubscribe: string[];
  initial_resource_versions: Record<string, string>;
  response_nonce: string;
  error_detail?: { code: number; message: string } | null;
}

type Resolved = { name: string; any: AnyMessage }[];

/**
 * One snapshot's answer to one set of names: shared by every stream asking
 * for them, so a rotation hashes and encodes it once, not once per stream.
 */
interface Rendered {
  resources: Resolved;
  heldBack: string[];
  version: string;
  /** The StreamSecrets response without its nonce field, not even empty (each stream appends its own). */
  body: Buffer | undefined;
}

export class SdsHandler {
  readonly #d: SdsHandlerDeps;
  readonly #encodeResponse = responseSerializer(Services.sds, 'StreamSecrets');

  constructor(deps: SdsHandlerDeps) {
    this.#d = deps;
  }

  /** The service implementation for grpc-js `server.addService`. */
  implementation(): grpc.UntypedServiceImplementation {
    return {
      StreamSecrets: (call: grpc.ServerDuplexStream<DiscoveryRequest, unknown>) => this.#streamSecrets(call),
      DeltaSecrets: (call: grpc.ServerDuplexStream<DeltaDiscoveryRequest, unknown>) => this.#deltaSecrets(call),
      FetchSecrets: (call: grpc.ServerUnaryCall<DiscoveryRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        this.#fetchSecrets(call).then((res) => cb(null, res), (err) => cb(toServiceError(err, this.#d.log, call.getPath()) as grpc.ServiceError));
      },
    };
  }

  async #fetchSecrets(call: grpc.ServerUnaryCall<DiscoveryRequest, unknown>): Promise<unknown> {
    const req = call.request;
    checkTypeUrl(req.type_url);
    await this.#d.manager.whenReady();
    const { selectors } = await this.#d.attestor.attest(call);
    const sub = this.#d.manager.subscribe(selectors);
    try {
      const { resources, heldBack } = this.#resolve(req.resource_names, sub.current(), nodeDisablesValidation(req.node));
      if (resources.length === 0 && heldBack.length > 0) {
        throw new HeraldError('ERR_PERMISSION_DENIED_SDS', `workload is not authorized for the requested resources ${JSON.stringify(heldBack)}`);
      }
      return { version_info: contentVersion(resources), resources: resources.map((r) => r.any), type_url: SECRET_TYPE_URL, nonce: '' };
    } finally {
      sub.close();
    }
  }

  #streamSecrets(call: grpc.ServerDuplexStream<DiscoveryRequest, unknown>): void {
    const d = this.#d;
    const info = d.registry.open('stream', d.clock.now());
    const log = d.log.child({ sds_stream: info.id });
    let sub: Subscription | undefined;
    let unsubscribe: (() => void) | undefined;
    let names: string[] = [];
    let nodeDisables: boolean | undefined;
    let lastNonce = '';
    let lastVersion = '';
    let closed = false;
    const loggedHeldBack = new Set<string>();

    const close = (): void => {
      if (closed) return;
      closed = true;
      unsubscribe?.();
      sub?.close();
      d.registry.close(info);
    };

    const push = (force: boolean): void => {
      if (closed || !sub) return;
      const update = sub.current();
      // Kept current even when nothing is sent, for `sds status`.
      info.spiffeIds = this.#spiffeIds(update);
      const { heldBack, version, body } = this.#render(names, update, nodeDisables);
      this.#noteHeldBack(info, heldBack, loggedHeldBack, log);
      if (!body) return;
      if (!force && version === lastVersion) return;
      lastNonce = newNonce();
      lastVersion = version;
      info.lastSent = { version, nonce: lastNonce, at: d.clock.now() };
      // The shared encoding plus this stream's nonce (field 5): the same bytes as encoding the whole message.
      call.write(Buffer.concat([body, nonceField(lastNonce)]));
      d.metrics.sdsPush.inc();
      // From the cache publishing a change to this stream's response being written.
      if (!force) d.metrics.sdsChangeToPush.observe(performance.now() - sub.current().builtAt);
      log.debug({ version, resource_names: names }, 'Sent secrets');
    };

    const onRequest = async (req: DiscoveryRequest): Promise<void> => {
      checkTypeUrl(req.type_url);
      if (!sub) {
        // The node is only guaranteed on the first request of a stream.
        nodeDisables = nodeDisablesValidation(req.node);
        describeNode(info, req.node);
        await d.manager.whenReady();
        const { selectors, pid } = await d.attestor.attest(call);
        if (closed) return;
        info.pid = pid;
        sub = d.manager.subscribe(selectors);
        unsubscribe = sub.onChange(() => enqueue(async () => push(false)));
        log.debug({ caller_pid: pid, node_id: info.nodeId }, 'SDS stream attested');
      }
      if (req.response_nonce !== '' && req.response_nonce !== lastNonce) {
        log.debug({ nonce: req.response_nonce, expected: lastNonce }, 'Ignoring stale SDS request');
        return;
      }
      const namesChanged = !sameNames(names, req.resource_names);
      if (req.response_nonce !== '') {
        const sentAt = info.lastSent?.at;
        if (req.error_detail) {
          info.lastNack = { version: lastVersion, message: req.error_detail.message, at: d.clock.now() };
          d.metrics.sdsNack.inc();
          log.warn({ resource_names: req.resource_names, version: lastVersion, error: req.error_detail.message, node_id: info.nodeId }, 'Envoy rejected secrets (NACK)');
        } else {
          info.lastAck = { version: req.version_info, at: d.clock.now() };
          d.metrics.sdsAck.inc();
          log.debug({ version: req.version_info, node_id: info.nodeId, acked_at_ms: performance.timeOrigin + performance.now() }, 'Envoy acknowledged secrets');
          if (sentAt !== undefined) d.metrics.sdsPushToAck.observe(d.clock.now() - sentAt);
        }
        if (!namesChanged) return;
      }
      names = [...req.resource_names];
      info.resourceNames = names;
      push(true);
    };

    const enqueue = serveInOrder(call, onRequest, close, () => closed, log);
  }

  #deltaSecrets(call: grpc.ServerDuplexStream<DeltaDiscoveryRequest, unknown>): void {
    const d = this.#d;
    const info = d.registry.open('delta', d.clock.now());
    const log = d.log.child({ sds_stream: info.id, delta: true });
    let sub: Subscription | undefined;
    let unsubscribe: (() => void) | undefined;
    let nodeDisables: boolean | undefined;
    const subscribed = new Set<string>();
    /** What the client has, per name (from initial_resource_versions and our sends). */
    const clientVersions = new Map<string, string>();
    let lastNonce = '';
    let closed = false;
    const loggedHeldBack = new Set<string>();

    const close = (): void => {
      if (closed) return;
      closed = true;
      unsubscribe?.();
      sub?.close();
      d.registry.close(info);
    };

    const push = (mustAnswer: ReadonlySet<string>): void => {
      if (closed || !sub) return;
      const update = sub.current();
      info.spiffeIds = this.#spiffeIds(update);
      const resources: { name: string; version: string; resource: AnyMessage }[] = [];
      const removed: string[] = [];
      for (const name of subscribed) {
        const { resources: one, heldBack } = this.#resolve([name], update, nodeDisables);
        this.#noteHeldBack(info, heldBack, loggedHeldBack, log);
        const r = one[0];
        if (!r) {
          if (clientVersions.has(name)) {
            removed.push(name);
            clientVersions.delete(name);
          }
          continue;
        }
        const version = contentVersion([r]);
        if (!mustAnswer.has(name) && clientVersions.get(name) === version) continue;
        resources.push({ name, version, resource: r.any });
        clientVersions.set(name, version);
      }
      if (resources.length === 0 && removed.length === 0) return;
      lastNonce = newNonce();
      info.lastSent = { version: resources.map((r) => r.version).join(','), nonce: lastNonce, at: d.clock.now() };
      call.write({
        system_version_info: contentVersion(resources.map((r) => ({ name: r.name, any: r.resource }))),
        resources,
        type_url: SECRET_TYPE_URL,
        nonce: lastNonce,
        removed_resources: removed,
      });
      d.metrics.sdsPush.inc();
    };

    const onRequest = async (req: DeltaDiscoveryRequest): Promise<void> => {
      checkTypeUrl(req.type_url);
      if (!sub) {
        nodeDisables = nodeDisablesValidation(req.node);
        describeNode(info, req.node);
        for (const [name, version] of Object.entries(req.initial_resource_versions ?? {})) clientVersions.set(name, version);
        await d.manager.whenReady();
        const { selectors, pid } = await d.attestor.attest(call);
        if (closed) return;
        info.pid = pid;
        sub = d.manager.subscribe(selectors);
        unsubscribe = sub.onChange(() => enqueue(async () => push(new Set())));
      }
      if (req.response_nonce !== '') {
        if (req.response_nonce !== lastNonce) return;
        if (req.error_detail) {
          info.lastNack = { version: info.lastSent?.version ?? '', message: req.error_detail.message, at: d.clock.now() };
          d.metrics.sdsNack.inc();
          log.warn({ resource_names: [...subscribed], error: req.error_detail.message, node_id: info.nodeId }, 'Envoy rejected secrets (NACK)');
        } else {
          info.lastAck = { version: info.lastSent?.version ?? '', at: d.clock.now() };
          d.metrics.sdsAck.inc();
          if (info.lastSent) d.metrics.sdsPushToAck.observe(d.clock.now() - info.lastSent.at);
        }
      }
      for (const name of req.resource_names_unsubscribe) {
        subscribed.delete(name);
        clientVersions.delete(name);
      }
      for (const name of req.resource_names_subscribe) subscribed.add(name);
      info.resourceNames = [...subscribed];
      // Every newly subscribed name is answered, even if the client has it.
      push(new Set(req.resource_names_subscribe));
    };

    const enqueue = serveInOrder(call, onRequest, close, () => closed, log);
  }

  /**
   * Resolved secrets per snapshot: every stream of one workload kind shares
   * the snapshot object, so a rotation encodes each secret once, not once
   * per stream (1,000 Envoys → one key export, one protobuf encoding).
   */
  readonly #resolved = new WeakMap<WorkloadUpdate, Map<string, { name: string; any: AnyMessage } | string>>();

  #resolve(names: readonly string[], update: WorkloadUpdate, nodeDisables: boolean | undefined): { resources: Resolved; heldBack: string[] } {
    const resources: Resolved = [];
    const heldBack: string[] = [];
    let memo = this.#resolved.get(update);
    if (!memo) {
      memo = new Map();
      this.#resolved.set(update, memo);
    }
    const ctx = { naming: this.#d.naming, nodeDisablesSpiffeValidation: nodeDisables, encodeAny: this.#d.encodeAny };
    for (const name of names) {
      const key = `${String(nodeDisables)}\0${name}`;
      let r = memo.get(key);
      if (r === undefined) {
        const res = resolveResource(name, update, ctx);
        r = res.ok ? { name, any: this.#d.encodeAny('envoy.extensions.transport_sockets.tls.v3.Secret', res.secret) } : `${name} (${res.reason})`;
        memo.set(key, r);
      }
      if (typeof r === 'string') heldBack.push(r);
      else resources.push(r);
    }
    return { resources, heldBack };
  }

  readonly #rendered = new WeakMap<WorkloadUpdate, Map<string, Rendered>>();
  readonly #ids = new WeakMap<WorkloadUpdate, string[]>();

  /** The snapshot's SPIFFE IDs (for `sds status`), one array shared by its streams. */
  #spiffeIds(update: WorkloadUpdate): string[] {
    let ids = this.#ids.get(update);
    if (!ids) {
      ids = update.identities.map((i) => i.svid.id.toString());
      this.#ids.set(update, ids);
    }
    return ids;
  }

  /** `#resolve` plus the version and the encoded response, per snapshot and names (see Rendered). */
  #render(names: readonly string[], update: WorkloadUpdate, nodeDisables: boolean | undefined): Rendered {
    let memo = this.#rendered.get(update);
    if (!memo) {
      memo = new Map();
      this.#rendered.set(update, memo);
    }
    const key = `${String(nodeDisables)}\0${names.join('\0')}`;
    let r = memo.get(key);
    if (!r) {
      const { resources, heldBack } = this.#resolve(names, update, nodeDisables);
      const version = resources.length > 0 ? contentVersion(resources) : '';
      const body = resources.length > 0 ? this.#encodeResponse({ version_info: version, resources: resources.map((x) => x.any), type_url: SECRET_TYPE_URL }) : undefined;
      r = { resources, heldBack, version, body };
      memo.set(key, r);
    }
    return r;
  }

  #noteHeldBack(info: SdsStreamInfo, heldBack: string[], logged: Set<string>, log: Logger): void {
    info.heldBack = heldBack;
    for (const h of heldBack) {
      if (logged.has(h)) continue;
      logged.add(h);
      this.#d.metrics.sdsHeldBack.inc();
      log.warn({ resource: h, caller_pid: info.pid, node_id: info.nodeId, spiffe_ids: info.spiffeIds }, 'Holding back SDS resource the caller cannot have');
    }
  }
}

/**
 * Runs a stream's requests and pushes one at a time, in arrival order; a
 * failure ends the stream with its status. Returns the function that queues
 * a push (cache changes arrive between requests).
 */
function serveInOrder<Req>(
  call: grpc.ServerDuplexStream<Req, unknown>,
  onRequest: (req: Req) => Promise<void>,
  close: () => void,
  closed: () => boolean,
  log: Logger,
): (fn: () => Promise<void>) => void {
  let queue = Promise.resolve();
  const enqueue = (fn: () => Promise<void>): void => {
    queue = queue.then(fn).catch((err) => {
      if (closed()) return;
      failStream(call, err, log);
      close();
    });
  };
  call.on('data', (req: Req) => enqueue(() => onRequest(req)));
  call.on('end', () => {
    close();
    call.end();
  });
  call.on('cancelled', close);
  call.on('error', close);
  call.on('close', close);
  return enqueue;
}

function checkTypeUrl(typeUrl: string): void {
  if (typeUrl !== '' && typeUrl !== SECRET_TYPE_URL) {
    throw new HeraldError('ERR_INVALID_ARGUMENT_TYPE_URL', `type_url ${JSON.stringify(typeUrl)} is not ${SECRET_TYPE_URL}`);
  }
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const s = new Set(a);
  return b.every((n) => s.has(n));
}

function describeNode(info: SdsStreamInfo, node: EnvoyNode | null | undefined): void {
  info.nodeId = node?.id ?? '';
  info.cluster = node?.cluster ?? '';
  info.userAgent = [node?.user_agent_name, node?.user_agent_version].filter(Boolean).join('/');
}

/**
 * SPIRE honours node metadata `disable_spiffe_cert_validation` (bool or
 * "true"/"false"). google.protobuf.Value arrives with protobufjs's
 * camelCase field names (its built-in definition), whatever keepCase says.
 */
function nodeDisablesValidation(node: EnvoyNode | null | undefined): boolean | undefined {
  const v = node?.metadata?.fields?.disable_spiffe_cert_validation;
  if (!v) return undefined;
  if (v.kind === 'boolValue') return v.boolValue;
  if (v.kind === 'stringValue') return v.stringValue === 'true';
  return undefined;
}
