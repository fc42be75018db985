// spire.api.server.svid.v1.SVID: SVIDs for the entries an agent is
// authorized for (BatchNewX509SVID, NewJWTSVID) and admin minting.
import type * as grpc from '@grpc/grpc-js';
import { GrpcCode, HeraldError, type ErrorCode } from '../../common/errors.ts';
import { parseCsr } from '../../spiffe/csr.ts';
import type { SpiffeId } from '../../spiffe/id.ts';
import type { RegistrationEntry } from '../datastore/index.ts';
import type { Caller, CallerResolver } from './caller.ts';
import { unaryMethod, type ApiContext } from './context.ts';
import { OK_STATUS, spiffeIdFromWire, spiffeIdToWire, wireStatus, type WireSpiffeId, type WireStatus, type WireX509Svid } from '../../common/wire/convert.ts';

interface BatchResult {
  status: WireStatus;
  svid: WireX509Svid | null;
}

function svidToWire(id: SpiffeId, chain: Buffer[], expiresAt: number): WireX509Svid {
  return { id: spiffeIdToWire(id), cert_chain: chain, expires_at: String(Math.floor(expiresAt / 1000)), hint: '' };
}

/** The entries `caller` may get SVIDs for, by entry ID. */
async function authorizedEntries(ctx: ApiContext, caller: Caller): Promise<Map<string, RegistrationEntry>> {
  if (caller.kind !== 'agent') throw new HeraldError('ERR_PERMISSION_DENIED', 'only agents can request SVIDs for entries');
  await ctx.entries.current();
  const selectors = await ctx.ds.getNodeSelectors(caller.id);
  return new Map(ctx.entries.getAuthorizedEntries(caller.id, selectors).map((e) => [e.id, e]));
}

function audienceList(audience: readonly string[]): string[] {
  const list = audience.filter((a) => a !== '');
  if (list.length === 0) throw new HeraldError('ERR_INVALID_ARGUMENT_AUDIENCE', 'at least one audience is required');
  return list;
}

export function svidService(ctx: ApiContext, resolver: CallerResolver): grpc.UntypedServiceImplementation {
  return {
    BatchNewX509SVID: unaryMethod<{ params: { entry_id: string; csr: Buffer }[] }, { results: BatchResult[] }>(ctx, resolver, 'agent', async (req, caller, call) => {
      await ctx.rateLimits?.wait('x509', call, req.params.length);
      const entries = await authorizedEntries(ctx, caller);
      const started = performance.now();
      // Per-item checks first; CSR verification and signing then run as one batch.
      const results: BatchResult[] = new Array(req.params.length);
      const work: { index: number; entry: RegistrationEntry; csr: Buffer }[] = [];
      req.params.forEach((p, index) => {
        const fail = (code: ErrorCode, message: string): void => void (results[index] = { status: wireStatus(code, message), svid: null });
        if (!p.entry_id) return fail('ERR_INVALID_ARGUMENT_ENTRY_ID', 'missing entry ID');
        const entry = entries.get(p.entry_id);
        if (!entry) return fail('ERR_NOT_FOUND_ENTRY', `entry "${p.entry_id}" not found or not authorized`);
        if (!p.csr?.length) return fail('ERR_INVALID_ARGUMENT_CSR', 'missing CSR');
        work.push({ index, entry, csr: p.csr });
      });
      const signed = await ctx.issuer.signX509SvidBatch(work.map((w) => ({ id: w.entry.spiffeId, csr: w.csr, ttlSeconds: w.entry.x509SvidTtlSeconds, dnsNames: w.entry.dnsNames, entry: w.entry })));
      signed.forEach((r, k) => {
        const w = work[k]!;
        if (r.ok) results[w.index] = { status: OK_STATUS, svid: svidToWire(w.entry.spiffeId, r.svid.chain, r.svid.expiresAt) };
        else {
          if (r.code === GrpcCode.INTERNAL) ctx.log.error({ entry_id: w.entry.id, err: r.message }, 'Failed to sign X509-SVID');
          results[w.index] = { status: { code: r.code, message: r.code === GrpcCode.INTERNAL ? 'failed to sign X509-SVID' : r.message }, svid: null };
        }
      });
      ctx.metrics.issued('x509', started, results.map((r) => r.status.code));
      return { results };
    }),

    NewJWTSVID: unaryMethod<{ entry_id: string; audience: string[] }, unknown>(ctx, resolver, 'agent', async (req, caller, call) => {
      const audience = audienceList(req.audience);
      await ctx.rateLimits?.wait('jwt', call);
      const entry = (await authorizedEntries(ctx, caller)).get(req.entry_id);
      if (!entry) throw new HeraldError('ERR_NOT_FOUND_ENTRY', `entry "${req.entry_id}" not found or not authorized`);
      const jwt = await ctx.metrics.timeIssue('jwt', () => ctx.issuer.signJwtSvid({ id: entry.spiffeId, audience, ttlSeconds: entry.jwtSvidTtlSeconds, entry }));
      return { svid: jwtToWire(entry.spiffeId, jwt, entry.hint) };
    }),

    MintX509SVID: unaryMethod<{ csr: Buffer; ttl: number }, { svid: WireX509Svid }>(ctx, resolver, 'admin', async (req) => {
      if (!req.csr?.length) throw new HeraldError('ERR_INVALID_ARGUMENT_CSR', 'missing CSR');
      const csr = parseCsr(req.csr);
      if (csr.uris.length !== 1) throw new HeraldError('ERR_INVALID_ARGUMENT_CSR', `CSR must have exactly one URI SAN, found ${csr.uris.length}`);
      const id = spiffeIdFromWire(uriToWire(csr.uris[0]!), 'CSR URI SAN');
      if (!id.memberOf(ctx.trustDomain)) throw new HeraldError('ERR_INVALID_ARGUMENT_CSR', `CSR URI SAN is invalid: "${id}" is not a member of trust domain "${ctx.trustDomain.name}"`);
      if (req.ttl < 0) throw new HeraldError('ERR_INVALID_ARGUMENT_TTL', 'ttl must not be negative');
      // The CSR's DNS names go into the SVID, as SPIRE's MintX509SVID does (x509 mint -dns).
      const issued = await ctx.issuer.signX509Svid({ id, spki: csr.spki, ttlSeconds: req.ttl, ...(csr.dnsNames.length > 0 ? { dnsNames: csr.dnsNames } : {}) });
      return { svid: svidToWire(id, issued.chain, issued.expiresAt) };
    }),

    MintJWTSVID: unaryMethod<{ id: WireSpiffeId | null; audience: string[]; ttl: number }, unknown>(ctx, resolver, 'admin', async (req) => {
      const id = spiffeIdFromWire(req.id, 'SPIFFE ID');
      if (!id.memberOf(ctx.trustDomain)) throw new HeraldError('ERR_INVALID_ARGUMENT_ID', `"${id}" is not a member of trust domain "${ctx.trustDomain.name}"`);
      const audience = audienceList(req.audience);
      if (req.ttl < 0) throw new HeraldError('ERR_INVALID_ARGUMENT_TTL', 'ttl must not be negative');
      const jwt = await ctx.issuer.signJwtSvid({ id, audience, ttlSeconds: req.ttl });
      return { svid: jwtToWire(id, jwt, '') };
    }),

    NewDownstreamX509CA: unaryMethod(ctx, resolver, 'admin', async () => {
      throw new HeraldError('ERR_UNIMPLEMENTED', 'nested SPIRE (downstream CAs) is not supported by Herald');
    }),
  };
}

function jwtToWire(id: SpiffeId, jwt: { token: string; issuedAt: number; expiresAt: number }, hint: string): unknown {
  return { token: jwt.token, id: spiffeIdToWire(id), expires_at: String(jwt.expiresAt / 1000), issued_at: String(jwt.issuedAt / 1000), hint };
}

function uriToWire(uri: string): WireSpiffeId {
  const m = /^spiffe:\/\/([^/]*)(.*)$/.exec(uri);
  if (!m) throw new HeraldError('ERR_INVALID_ARGUMENT_CSR', `CSR URI SAN "${uri}" is not a SPIFFE ID`);
  return { trust_domain: m[1]!, path: m[2]! };
}
