// spire.api.server.trustdomain.v1.TrustDomain: federation relationships
// (admin only) and on-demand bundle refresh.
import type * as grpc from '@grpc/grpc-js';
import { GrpcCode, HeraldError, errorMessage } from '../../common/errors.ts';
import { SpiffeId } from '../../spiffe/id.ts';
import type { TrustDomain } from '../../spiffe/trust-domain.ts';
import { bundleEndpointUrlProblem } from '../config.ts';
import type { BundleEndpointProfile, FederationRelationship, FederationRelationshipInput, FederationRelationshipMask } from '../datastore/index.ts';
import type { CallerResolver } from './caller.ts';
import { pagination, unaryMethod, type ApiContext } from './context.ts';
import { bundleFromWire, bundleToWire, invalidArgument, OK_STATUS, statusOf, trustDomainFromWire, wireStatus, type WireBundle } from '../../common/wire/convert.ts';

export interface WireFederationRelationship {
  trust_domain: string;
  bundle_endpoint_url: string;
  bundle_endpoint_profile?: 'https_web' | 'https_spiffe';
  https_web?: object | null;
  https_spiffe?: { endpoint_spiffe_id: string } | null;
  trust_domain_bundle: WireBundle | null;
}

export function relationshipToWire(r: FederationRelationship): WireFederationRelationship {
  return {
    trust_domain: r.trustDomain.name,
    bundle_endpoint_url: r.bundleEndpointUrl,
    ...(r.profile.type === 'https_spiffe' ? { https_spiffe: { endpoint_spiffe_id: r.profile.endpointSpiffeId.toString() } } : { https_web: {} }),
    trust_domain_bundle: r.trustDomainBundle ? bundleToWire(r.trustDomainBundle) : null,
  };
}

/** Validates a relationship from the wire (SPIRE api.ProtoToFederationRelationship). */
export function relationshipFromWire(w: WireFederationRelationship, own: TrustDomain): FederationRelationshipInput {
  const td = trustDomainFromWire(w.trust_domain.replace(/^spiffe:\/\//, ''), 'trust domain');
  if (td.equals(own)) throw invalidArgument(`"${td.name}" is the server's own trust domain; a server cannot federate with itself`);
  const urlProblem = bundleEndpointUrlProblem(w.bundle_endpoint_url);
  if (urlProblem) throw invalidArgument(`invalid bundle endpoint URL: ${urlProblem}`);
  let profile: BundleEndpointProfile;
  if (w.https_spiffe) {
    let id: SpiffeId;
    try {
      id = SpiffeId.fromString(w.https_spiffe.endpoint_spiffe_id);
    } catch (err) {
      throw invalidArgument(`invalid endpoint SPIFFE ID: ${errorMessage(err)}`, err);
    }
    if (!id.memberOf(td)) throw invalidArgument(`endpoint SPIFFE ID "${id}" is not a member of trust domain "${td.name}"`);
    profile = { type: 'https_spiffe', endpointSpiffeId: id };
  } else if (w.https_web) {
    profile = { type: 'https_web' };
  } else {
    throw invalidArgument('unsupported bundle endpoint profile: want https_spiffe or https_web');
  }
  let bundle;
  if (w.trust_domain_bundle) {
    bundle = bundleFromWire(w.trust_domain_bundle);
    if (!bundle.trustDomain.equals(td)) throw invalidArgument(`trust domain bundle is for "${bundle.trustDomain.name}", not "${td.name}"`);
  }
  return { trustDomain: td, bundleEndpointUrl: w.bundle_endpoint_url, profile, ...(bundle ? { trustDomainBundle: bundle } : {}) };
}

export function trustDomainService(ctx: ApiContext, resolver: CallerResolver): grpc.UntypedServiceImplementation {
  const { ds } = ctx;
  return {
    ListFederationRelationships: unaryMethod<{ page_size: number; page_token: string }, unknown>(ctx, resolver, 'admin', async (req) => {
      const page = pagination(req.page_size, req.page_token);
      const res = await ds.listFederationRelationships(page ? { pagination: page } : {});
      return { federation_relationships: res.items.map(relationshipToWire), next_page_token: res.nextPageToken ?? '' };
    }),

    GetFederationRelationship: unaryMethod<{ trust_domain: string }, unknown>(ctx, resolver, 'admin', async (req) => {
      const td = trustDomainFromWire(req.trust_domain.replace(/^spiffe:\/\//, ''), 'trust domain');
      const r = await ds.getFederationRelationship(td);
      if (!r) throw new HeraldError('ERR_NOT_FOUND_FEDERATION_RELATIONSHIP', 'federation relationship does not exist');
      return relationshipToWire(r);
    }),

    BatchCreateFederationRelationship: unaryMethod<{ federation_relationships: WireFederationRelationship[] }, unknown>(ctx, resolver, 'admin', async (req) => {
      const results = [];
      for (const w of req.federation_relationships) {
        try {
          const created = await ds.createFederationRelationship(relationshipFromWire(w, ctx.trustDomain));
          ctx.log.info({ trust_domain: created.trustDomain.name, bundle_endpoint_url: created.bundleEndpointUrl }, 'Federation relationship created');
          results.push({ status: OK_STATUS, federation_relationship: relationshipToWire(created) });
        } catch (err) {
          results.push({ status: statusOf(err), federation_relationship: null });
        }
      }
      return { results };
    }),

    BatchUpdateFederationRelationship: unaryMethod<{ federation_relationships: WireFederationRelationship[]; input_mask: Record<string, boolean> | null }, unknown>(ctx, resolver, 'admin', async (req) => {
      const m = req.input_mask;
      const mask: FederationRelationshipMask | undefined = m
        ? { bundleEndpointUrl: m.bundle_endpoint_url ?? false, profile: m.bundle_endpoint_profile ?? false, trustDomainBundle: m.trust_domain_bundle ?? false }
        : undefined;
      const results = [];
      for (const w of req.federation_relationships) {
        try {
          const input = relationshipFromWire(w, ctx.trustDomain);
          const updated = await ds.updateFederationRelationship(input, mask);
          results.push({ status: OK_STATUS, federation_relationship: relationshipToWire(updated) });
        } catch (err) {
          results.push({ status: statusOf(err), federation_relationship: null });
        }
      }
      return { results };
    }),

    BatchDeleteFederationRelationship: unaryMethod<{ trust_domains: string[] }, unknown>(ctx, resolver, 'admin', async (req) => {
      const results = [];
      for (const name of req.trust_domains) {
        try {
          await ds.deleteFederationRelationship(trustDomainFromWire(name.replace(/^spiffe:\/\//, ''), 'trust domain'));
          results.push({ status: OK_STATUS, trust_domain: name });
        } catch (err) {
          const status = statusOf(err);
          // SPIRE's wording for a missing relationship.
          results.push({ status: status.code === GrpcCode.NOT_FOUND ? wireStatus('ERR_NOT_FOUND_FEDERATION_RELATIONSHIP', 'federation relationship not found') : status, trust_domain: name });
        }
      }
      return { results };
    }),

    RefreshBundle: unaryMethod<{ trust_domain: string }, object>(ctx, resolver, 'admin', async (req) => {
      const td = trustDomainFromWire(req.trust_domain.replace(/^spiffe:\/\//, ''), 'trust domain');
      if (!ctx.refreshBundle) throw new HeraldError('ERR_FAILED_PRECONDITION_FEDERATION', 'federation is not running');
      await ctx.refreshBundle(td);
      return {};
    }),
  };
}
