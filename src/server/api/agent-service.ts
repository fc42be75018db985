// spire.api.server.agent.v1.Agent: attestation and renewal for agents
// (TLS listener), and agent administration and join tokens for admins.
import * as grpc from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import { HeraldError, errorMessage } from '../../common/errors.ts';
import { failStream } from '../../common/grpc/status.ts';
import { parseCsr } from '../../spiffe/csr.ts';
import type { SpiffeId } from '../../spiffe/id.ts';
import type { ListNodesRequest, NodeFilter } from '../datastore/index.ts';
import { joinTokenAgentId } from '../plugins/nodeattestor/join_token/join-token.ts';
import { attestationFinished, type Attestation } from './audit.ts';
import type { CallerResolver } from './caller.ts';
import { matchBehavior, pagination, streamCaller, unaryMethod, type ApiContext } from './context.ts';
import { agentToWire, applyOutputMask, selectorFromWire, spiffeIdFromWire, spiffeIdToWire, type WireSelector, type WireSpiffeId, type WireX509Svid } from '../../common/wire/convert.ts';

interface WireAgentFilter {
  by_attestation_type: string;
  by_selector_match: { selectors: WireSelector[]; match: string } | null;
  by_banned: { value: boolean } | null;
  by_can_reattest: { value: boolean } | null;
  by_expires_before: string;
}

function nodeFilter(f: WireAgentFilter | null): NodeFilter {
  if (!f) return {};
  const out: { -readonly [K in keyof NodeFilter]: NodeFilter[K] } = {};
  if (f.by_attestation_type) out.byAttestationType = f.by_attestation_type;
  if (f.by_banned) out.byBanned = f.by_banned.value;
  if (f.by_can_reattest) out.byCanReattest = f.by_can_reattest.value;
  if (f.by_expires_before) {
    const t = parseExpiresBefore(f.by_expires_before);
    if (Number.isNaN(t)) throw new HeraldError('ERR_INVALID_ARGUMENT_FILTER', `invalid by_expires_before "${f.by_expires_before}": want RFC 3339`);
    out.byExpiresBefore = Math.floor(t / 1000);
  }
  if (f.by_selector_match) out.bySelectors = { selectors: f.by_selector_match.selectors.map(selectorFromWire), match: matchBehavior(f.by_selector_match.match) };
  return out;
}

/** SPIRE's layout "2006-01-02 15:04:05 -0700 -07" (what its CLI sends), or RFC 3339. */
function parseExpiresBefore(s: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2}) [+-]\d{2}$/.exec(s);
  if (!m) return Date.parse(s);
  const [, y, mo, d, h, mi, sec, sign, oh, om] = m;
  const offsetMs = (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om)) * 60_000;
  return Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec)) - offsetMs;
}

/** SPIRE's wording (what its CLI prints); the ID is in the request. */
function notFound(_id: SpiffeId): HeraldError {
  return new HeraldError('ERR_AGENT_NOT_FOUND', 'agent not found');
}

/** Signs an agent SVID for `csr` and returns the wire form. */
async function signAgentSvid(ctx: ApiContext, agentId: SpiffeId, csr: Buffer): Promise<{ svid: WireX509Svid; serial: string; notAfter: number }> {
  if (!csr || csr.length === 0) throw new HeraldError('ERR_INVALID_ARGUMENT_CSR', 'missing CSR');
  const parsed = parseCsr(csr);
  const issued = await ctx.issuer.signX509Svid({ id: agentId, spki: parsed.spki, ttlSeconds: Math.ceil(ctx.agentSvidTtlMs / 1000), kind: 'agent' });
  return {
    svid: { id: spiffeIdToWire(agentId), cert_chain: issued.chain, expires_at: String(Math.floor(issued.expiresAt / 1000)), hint: '' },
    serial: issued.serial,
    notAfter: Math.floor(issued.expiresAt / 1000),
  };
}

export function agentService(ctx: ApiContext, resolver: CallerResolver): grpc.UntypedServiceImplementation {
  const { ds } = ctx;
  return {
    CountAgents: unaryMethod<{ filter: WireAgentFilter | null }, { count: number }>(ctx, resolver, 'admin', async (req) => ({
      count: await ds.countAttestedNodes(nodeFilter(req.filter)),
    })),

    ListAgents: unaryMethod<{ filter: WireAgentFilter | null; output_mask: Record<string, boolean> | null; page_size: number; page_token: string }, unknown>(ctx, resolver, 'admin', async (req) => {
      const page = pagination(req.page_size, req.page_token);
      const listReq: ListNodesRequest = { ...nodeFilter(req.filter), fetchSelectors: true, ...(page ? { pagination: page } : {}) };
      const res = await ds.listAttestedNodes(listReq);
      return { agents: res.items.map((n) => applyOutputMask(agentToWire(n), req.output_mask, ['id'])), next_page_token: res.nextPageToken ?? '' };
    }),

    GetAgent: unaryMethod<{ id: WireSpiffeId | null; output_mask: Record<string, boolean> | null }, unknown>(ctx, resolver, 'admin', async (req) => {
      const id = spiffeIdFromWire(req.id, 'agent ID');
      const node = await ds.getAttestedNode(id, { fetchSelectors: true });
      if (!node) throw notFound(id);
      return applyOutputMask(agentToWire(node), req.output_mask, ['id']);
    }),

    DeleteAgent: unaryMethod<{ id: WireSpiffeId | null }, object>(ctx, resolver, 'admin', async (req) => {
      const id = spiffeIdFromWire(req.id, 'agent ID');
      if (!(await ds.getAttestedNode(id))) throw notFound(id);
      await ds.deleteAttestedNode(id);
      ctx.log.info({ agent_id: id.toString() }, 'Agent deleted');
      return {};
    }),

    BanAgent: unaryMethod<{ id: WireSpiffeId | null }, object>(ctx, resolver, 'admin', async (req) => {
      const id = spiffeIdFromWire(req.id, 'agent ID');
      if (!(await ds.getAttestedNode(id))) throw notFound(id);
      await ds.banAttestedNode(id);
      ctx.log.info({ agent_id: id.toString() }, 'Agent banned');
      return {};
    }),

    CreateJoinToken: unaryMethod<{ ttl: number; token: string; agent_id: WireSpiffeId | null }, unknown>(ctx, resolver, 'admin', async (req) => {
      if (!(req.ttl > 0)) throw new HeraldError('ERR_INVALID_ARGUMENT_TTL', 'ttl is required, you must provide one');
      const token = req.token || randomUUID();
      // The token becomes a path segment of the agent's ID; reject what cannot be one.
      let agentId: SpiffeId;
      try {
        agentId = joinTokenAgentId(ctx.trustDomain, token);
      } catch (err) {
        throw new HeraldError('ERR_INVALID_ARGUMENT_TOKEN', `invalid token: ${errorMessage(err)}`, { cause: err });
      }
      const alias = req.agent_id ? spiffeIdFromWire(req.agent_id, 'agent ID') : undefined;
      if (alias && !alias.memberOf(ctx.trustDomain)) throw new HeraldError('ERR_INVALID_ARGUMENT_AGENT_ID', `invalid agent ID: "${alias}" is not a member of trust domain "${ctx.trustDomain.name}"`);
      const expiresAt = Math.floor(ctx.clock.now() / 1000) + req.ttl;
      await ds.createJoinToken({ token, expiresAt });
      if (alias) {
        // SPIRE's node alias for a join token: the given ID is the agent's.
        await ds.createEntry({ parentId: agentId, spiffeId: alias, selectors: [{ type: 'spiffe_id', value: agentId.toString() }] });
      }
      return { value: token, expires_at: String(expiresAt) };
    }),

    PostStatus: unaryMethod(ctx, resolver, 'agent', async () => {
      throw new HeraldError('ERR_UNIMPLEMENTED', 'PostStatus is not implemented');
    }),

    RenewAgent: unaryMethod<{ params: { csr: Buffer } | null }, { svid: WireX509Svid }>(ctx, resolver, 'agent', async (req, caller, call) => {
      if (caller.kind !== 'agent') throw new HeraldError('ERR_PERMISSION_DENIED', 'only agents can renew their SVID');
      if (!req.params) throw new HeraldError('ERR_INVALID_ARGUMENT_PARAMS', 'params cannot be nil');
      await ctx.rateLimits?.wait('x509', call);
      const signed = await signAgentSvid(ctx, caller.id, req.params.csr);
      await ds.updateAttestedNode(
        { spiffeId: caller.id, newCertSerialNumber: signed.serial, newCertNotAfter: signed.notAfter },
        { newCertSerialNumber: true, newCertNotAfter: true },
      );
      ctx.metrics.agentRenewals.inc();
      return { svid: signed.svid };
    }),

    AttestAgent: (call: grpc.ServerDuplexStream<AttestRequest, unknown>) => {
      const seen: Attestation = { started: performance.now() };
      attestAgent(ctx, resolver, call, seen).then(
        () => attestationFinished(ctx, call, seen),
        (err) => {
          attestationFinished(ctx, call, seen, err);
          failStream(call, err, ctx.log);
        },
      );
    },
  };
}

interface AttestRequest {
  step?: 'params' | 'challenge_response';
  params?: { data: { type: string; payload: Buffer } | null; params: { csr: Buffer } | null };
  challenge_response?: Buffer;
}

/**
 * Reads the stream's messages one at a time. An async iterator buffers what
 * arrives between reads, so a quick challenge response is never lost.
 */
function messages(call: grpc.ServerDuplexStream<AttestRequest, unknown>): () => Promise<AttestRequest> {
  const it = call[Symbol.asyncIterator]() as AsyncIterator<AttestRequest>;
  return async () => {
    const next = await it.next();
    if (next.done) throw new HeraldError('ERR_INVALID_ARGUMENT_ATTEST', 'agent closed the attestation stream early');
    return next.value;
  };
}

async function attestAgent(ctx: ApiContext, resolver: CallerResolver, call: grpc.ServerDuplexStream<AttestRequest, unknown>, seen: Attestation): Promise<void> {
  const nextMessage = messages(call);
  // Before anything else: a flood of attempts (bad tokens) costs one token bucket check each.
  await ctx.rateLimits?.wait('attestation', call);
  await streamCaller(resolver, 'any', call);
  const first = await nextMessage();
  const params = first.params;
  if (!params?.data) throw new HeraldError('ERR_INVALID_ARGUMENT_ATTEST', 'malformed param: missing attestation data');
  if (!params.params?.csr?.length) throw new HeraldError('ERR_INVALID_ARGUMENT_ATTEST', 'malformed param: missing X509-SVID params');
  seen.attestor = params.data.type;
  const attestor = ctx.attestors.get(params.data.type);
  if (!attestor) throw new HeraldError('ERR_FAILED_PRECONDITION_ATTESTOR', `error getting node attestor: could not find node attestor type "${params.data.type}"`);
  // Parse the CSR before attesting, so a bad CSR does not burn a join token.
  parseCsr(params.params.csr);

  const result = await attestor.attest(params.data.payload, async (challenge) => {
    call.write({ challenge });
    const reply = await nextMessage();
    if (!reply.challenge_response) throw new HeraldError('ERR_INVALID_ARGUMENT_ATTEST', 'expected a challenge response');
    return reply.challenge_response;
  });

  seen.agentId = result.agentId.toString();
  // Fresh, not the sync-read cache's: a ban at another server must hold even within its notice's round trip.
  const existing = await ctx.ds.getAttestedNode(result.agentId, { fresh: true });
  if (existing?.banned) throw new HeraldError('ERR_AGENT_BANNED', 'failed to attest: agent is banned');
  const signed = await signAgentSvid(ctx, result.agentId, params.params.csr);
  if (existing) {
    await ctx.ds.updateAttestedNode(
      { spiffeId: result.agentId, certSerialNumber: signed.serial, certNotAfter: signed.notAfter, newCertSerialNumber: '', newCertNotAfter: 0, canReattest: result.canReattest },
      { certSerialNumber: true, certNotAfter: true, newCertSerialNumber: true, newCertNotAfter: true, canReattest: true },
    );
  } else {
    await ctx.ds.createAttestedNode({
      spiffeId: result.agentId,
      attestationDataType: attestor.name,
      certSerialNumber: signed.serial,
      certNotAfter: signed.notAfter,
      canReattest: result.canReattest,
    });
  }
  await ctx.ds.setNodeSelectors(result.agentId, result.selectors);
  ctx.log.info({ agent_id: result.agentId.toString(), node_attestor_type: attestor.name }, 'Agent attestation request completed');
  call.write({ result: { svid: signed.svid, reattestable: result.canReattest } });
  call.end();
}

