// spire.api.server.bundle.v1.Bundle: the trust domain's own bundle (open to
// anyone, as in SPIRE) and federated bundles (agents read, admins write).
import type * as grpc from '@grpc/grpc-js';
import { GrpcCode, HeraldError } from '../../common/errors.ts';
import type { StoredBundle } from '../datastore/index.ts';
import { DeleteMode } from '../datastore/datastore.ts';
import type { TrustDomain } from '../../spiffe/trust-domain.ts';
import type { CallerResolver } from './caller.ts';
import { pagination, unaryMethod, type ApiContext } from './context.ts';
import { applyOutputMask, bundleFromWire, bundleToWire, trustDomainFromWire, type WireBundle, OK_STATUS, statusOf, wireStatus } from '../../common/wire/convert.ts';

/** spire.api.types.BundleMask; trust_domain is always filled. */
type Mask = { x509_authorities?: boolean; jwt_authorities?: boolean; refresh_hint?: boolean; sequence_number?: boolean } | null | undefined;
const masked = (mask: Mask) => (b: StoredBundle): WireBundle => applyOutputMask(bundleToWire(b), mask, ['trust_domain']);


const DELETE_MODES: Record<string, DeleteMode> = { RESTRICT: DeleteMode.Restrict, DELETE: DeleteMode.Delete, DISSOCIATE: DeleteMode.Dissociate };

export function bundleService(ctx: ApiContext, resolver: CallerResolver): grpc.UntypedServiceImplementation {
  const { ds } = ctx;

  const ownBundle = async (): Promise<StoredBundle> => {
    const b = await ds.getBundle(ctx.trustDomain);
    if (!b) throw new HeraldError('ERR_BUNDLE_NOT_FOUND', 'bundle not found');
    return b;
  };

  /** `authorities`: whether the call writes them (an update's input mask may leave them as they are). */
  const federated = (wire: WireBundle, authorities = true): StoredBundle => {
    const b = bundleFromWire(wire);
    if (b.trustDomain.equals(ctx.trustDomain)) throw new HeraldError('ERR_INVALID_ARGUMENT_BUNDLE', `bundle for the server's own trust domain "${ctx.trustDomain.name}" cannot be set as federated`);
    if (authorities && b.x509Authorities.length === 0 && b.jwtAuthorities.length === 0) throw new HeraldError('ERR_INVALID_ARGUMENT_BUNDLE', `bundle for "${b.trustDomain.name}" has no authorities`);
    return b;
  };

  const foreignTd = (name: string): TrustDomain => {
    const td = trustDomainFromWire(name.replace(/^spiffe:\/\//, ''), 'trust domain');
    if (td.equals(ctx.trustDomain)) throw new HeraldError('ERR_INVALID_ARGUMENT_TRUST_DOMAIN', `"${td.name}" is the server's own trust domain, not a federated one`);
    return td;
  };

  const batch = <T>(items: T[], mask: Mask, fn: (item: T) => Promise<StoredBundle>) =>
    Promise.all(
      items.map(async (item) => {
        try {
          return { status: OK_STATUS, bundle: masked(mask)(await fn(item)) };
        } catch (err) {
          return { status: statusOf(err), bundle: null };
        }
      }),
    );

  return {
    GetBundle: unaryMethod<{ output_mask: Mask }, unknown>(ctx, resolver, 'any', async (req) => masked(req.output_mask)(await ownBundle())),

    CountBundles: unaryMethod(ctx, resolver, 'admin', async () => ({ count: await ds.countBundles() })),

    AppendBundle: unaryMethod<{ x509_authorities: WireBundle['x509_authorities']; jwt_authorities: WireBundle['jwt_authorities']; output_mask: Mask }, unknown>(ctx, resolver, 'admin', async (req) => {
      if (req.x509_authorities.length === 0 && req.jwt_authorities.length === 0) throw new HeraldError('ERR_INVALID_ARGUMENT_BUNDLE', 'no authorities to append');
      const parsed = bundleFromWire({ trust_domain: ctx.trustDomain.name, x509_authorities: req.x509_authorities, jwt_authorities: req.jwt_authorities, refresh_hint: '0', sequence_number: '0' });
      const current = await ownBundle();
      return masked(req.output_mask)(await ds.appendBundle({ ...parsed, refreshHint: current.refreshHint }));
    }),

    PublishJWTAuthority: unaryMethod(ctx, resolver, 'admin', async () => {
      throw new HeraldError('ERR_UNIMPLEMENTED', 'PublishJWTAuthority is for nested SPIRE, which Herald does not support');
    }),

    ListFederatedBundles: unaryMethod<{ page_size: number; page_token: string; output_mask: Mask }, unknown>(ctx, resolver, 'agent-or-admin', async (req) => {
      const page = pagination(req.page_size, req.page_token);
      const res = await ds.listBundles(page ? { pagination: page } : {});
      return { bundles: res.items.filter((b) => !b.trustDomain.equals(ctx.trustDomain)).map(masked(req.output_mask)), next_page_token: res.nextPageToken ?? '' };
    }),

    GetFederatedBundle: unaryMethod<{ trust_domain: string; output_mask: Mask }, unknown>(ctx, resolver, 'agent-or-admin', async (req) => {
      const td = foreignTd(req.trust_domain);
      const b = await ds.getBundle(td);
      if (!b) throw new HeraldError('ERR_BUNDLE_NOT_FOUND', 'bundle not found');
      return masked(req.output_mask)(b);
    }),

    BatchCreateFederatedBundle: unaryMethod<{ bundle: WireBundle[]; output_mask: Mask }, unknown>(ctx, resolver, 'admin', async (req) => ({
      results: await batch(req.bundle, req.output_mask, (w) => ds.createBundle(federated(w))),
    })),

    BatchUpdateFederatedBundle: unaryMethod<{ bundle: WireBundle[]; input_mask: Mask; output_mask: Mask }, unknown>(ctx, resolver, 'admin', async (req) => ({
      results: await batch(req.bundle, req.output_mask, (w) =>
        ds.updateBundle(
          federated(w, !req.input_mask || !!req.input_mask.x509_authorities || !!req.input_mask.jwt_authorities),
          req.input_mask
            ? { x509Authorities: !!req.input_mask.x509_authorities, jwtAuthorities: !!req.input_mask.jwt_authorities, refreshHint: !!req.input_mask.refresh_hint, sequenceNumber: !!req.input_mask.sequence_number }
            : undefined,
        ),
      ),
    })),

    BatchSetFederatedBundle: unaryMethod<{ bundle: WireBundle[]; output_mask: Mask }, unknown>(ctx, resolver, 'admin', async (req) => ({
      results: await batch(req.bundle, req.output_mask, (w) => ds.setBundle(federated(w))),
    })),

    BatchDeleteFederatedBundle: unaryMethod<{ trust_domains: string[]; mode: string }, unknown>(ctx, resolver, 'admin', async (req) => {
      const mode = DELETE_MODES[req.mode] ?? DeleteMode.Restrict;
      const results = [];
      for (const name of req.trust_domains) {
        try {
          await ds.deleteBundle(foreignTd(name), mode);
          results.push({ status: OK_STATUS, trust_domain: name });
        } catch (err) {
          // SPIRE's wording: "bundle not found", else "failed to delete federated bundle: <cause>".
          const status = statusOf(err);
          if (status.code === GrpcCode.NOT_FOUND) results.push({ status: wireStatus('ERR_BUNDLE_NOT_FOUND', 'bundle not found'), trust_domain: name });
          else if (status.code === GrpcCode.INVALID_ARGUMENT && (err as { code?: string }).code?.startsWith('ERR_INVALID_ARGUMENT')) results.push({ status, trust_domain: name });
          else results.push({ status: { code: status.code, message: `failed to delete federated bundle: ${status.message}` }, trust_domain: name });
        }
      }
      return { results };
    }),
  };
}
