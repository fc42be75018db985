// `herald-server federation create|list|show|update|delete|refresh`: SPIRE
// 1.13's flags, messages and output (cmd/spire-server/cli/federation).
import { readFile } from 'node:fs/promises';
import { Services } from '../../common/grpc/protos.ts';
import type { WireBundle } from '../../common/wire/convert.ts';
import type { WireFederationRelationship } from '../../server/api/trustdomain-service.ts';
import { SpiffeBundle } from '../../spiffe/bundle/spiffe-bundle.ts';
import { parseCertificatesPem } from '../../spiffe/bundle/der.ts';
import { TrustDomain } from '../../spiffe/trust-domain.ts';
import { type CliIo, type Command } from '../command.ts';
import { GrpcCode } from '../../common/errors.ts';
import { callUnary } from '../grpc-client.ts';
import { adminClients, adminFlags, outputFormat, parseSpiffeId, readInput } from './common.ts';
import { codeName, goFsError, pluralize, printProto, rpc, SpireCliError, spireFlags } from './spire-output.ts';

const TD_PKG = 'spire.api.server.trustdomain.v1';
type Status = { code: number; message: string };

const configFlags = {
  trustDomain: { type: 'string', usage: 'Name of the trust domain to federate with (e.g., example.org)' },
  bundleEndpointURL: { type: 'string', usage: 'URL of the SPIFFE bundle endpoint that provides the trust bundle (must use the HTTPS protocol)' },
  bundleEndpointProfile: { type: 'string', usage: 'Endpoint profile type (either "https_web" or "https_spiffe")' },
  endpointSpiffeID: { type: 'string', usage: "SPIFFE ID of the SPIFFE bundle endpoint server. Only used for 'spiffe' profile." },
  trustDomainBundlePath: { type: 'string', usage: 'Path to the trust domain bundle data (optional).' },
  trustDomainBundleFormat: { type: 'string', usage: 'The format of the bundle data (optional). Either "pem" or "spiffe".', default: 'pem' },
} as const;

interface RelationshipConfig {
  trustDomain?: string | undefined;
  bundleEndpointURL?: string | undefined;
  bundleEndpointProfile?: string | undefined;
  endpointSpiffeID?: string | undefined;
  trustDomainBundle?: unknown;
  trustDomainBundleFormat?: string | undefined;
  trustDomainBundlePath?: string | undefined;
}

/** util.ParseBundle for a relationship's bundle. */
function parseBundle(text: string, format: string | undefined, td: string): WireBundle {
  if (format === 'pem') {
    let certs;
    try {
      certs = parseCertificatesPem(text);
    } catch (err) {
      throw new Error(`unable to parse bundle data: ${(err as Error).message}`, { cause: err });
    }
    if (certs.length === 0) throw new Error('unable to parse bundle data: no PEM blocks');
    return { trust_domain: td, x509_authorities: certs.map((c) => ({ asn1: c.raw, tainted: false })), jwt_authorities: [], refresh_hint: '0', sequence_number: '0' };
  }
  const trustDomain = TrustDomain.fromString(td);
  let b: SpiffeBundle;
  try {
    b = SpiffeBundle.parse(trustDomain, text);
  } catch (err) {
    throw new Error(`unable to parse to spiffe bundle: ${(err as Error).message}`, { cause: err });
  }
  return {
    trust_domain: trustDomain.name,
    x509_authorities: b.x509Authorities.map((c) => ({ asn1: c.raw, tainted: false })),
    jwt_authorities: [...b.jwtAuthorities].map(([kid, key]) => ({ key_id: kid, public_key: key.export({ format: 'der', type: 'spki' }), expires_at: '0', tainted: false })),
    refresh_hint: String(b.refreshHintSeconds ?? 0),
    sequence_number: String(b.sequenceNumber ?? 0n),
  };
}

/** jsonToProto (federation/common.go). */
async function relationshipFromConfig(c: RelationshipConfig): Promise<WireFederationRelationship> {
  if (!c.trustDomain) throw new SpireCliError('trust domain is required');
  if (!c.bundleEndpointURL) throw new SpireCliError('bundle endpoint URL is required');
  const rel: WireFederationRelationship = { trust_domain: c.trustDomain, bundle_endpoint_url: c.bundleEndpointURL, trust_domain_bundle: null };
  let bundleTd = c.trustDomain;
  if (c.bundleEndpointProfile === 'https_web') rel.https_web = {};
  else if (c.bundleEndpointProfile === 'https_spiffe') {
    if (!c.endpointSpiffeID) throw new SpireCliError("endpoint SPIFFE ID is required if 'https_spiffe' endpoint profile is set");
    let id;
    try {
      id = parseSpiffeId(c.endpointSpiffeID);
    } catch (err) {
      throw new SpireCliError(`cannot parse bundle endpoint SPIFFE ID: ${(err as Error).message}`, { cause: err });
    }
    bundleTd = id.trust_domain;
    rel.https_spiffe = { endpoint_spiffe_id: c.endpointSpiffeID };
  } else throw new SpireCliError(`unknown bundle endpoint profile type: ${JSON.stringify(c.bundleEndpointProfile ?? '')}`);
  if (c.trustDomainBundlePath) {
    let text: string;
    try {
      text = await readFile(c.trustDomainBundlePath, 'utf8');
    } catch (err) {
      throw new SpireCliError(`cannot read bundle file: ${goFsError(err, c.trustDomainBundlePath)}`, { cause: err });
    }
    try {
      rel.trust_domain_bundle = parseBundle(text, c.trustDomainBundleFormat, bundleTd);
    } catch (err) {
      throw new SpireCliError(`cannot parse bundle file: ${(err as Error).message.replace(/^spiffeid: /, '')}`, { cause: err });
    }
  } else if (c.trustDomainBundle !== undefined && c.trustDomainBundle !== null) {
    try {
      if (c.trustDomainBundleFormat === 'pem') {
        if (typeof c.trustDomainBundle !== 'string') throw new Error('failed to unmarshal json: want a PEM string');
        rel.trust_domain_bundle = parseBundle(c.trustDomainBundle, 'pem', bundleTd);
      } else if (c.trustDomainBundleFormat === 'spiffe') {
        rel.trust_domain_bundle = parseBundle(JSON.stringify(c.trustDomainBundle), 'spiffe', bundleTd);
      } else throw new Error(`bundle format ${JSON.stringify(c.trustDomainBundleFormat ?? '')} is unsupported`);
    } catch (err) {
      throw new SpireCliError(`cannot parse bundle raw message: ${(err as Error).message.replace(/^spiffeid: /, '')}`, { cause: err });
    }
  }
  return rel;
}

/** getRelationships: -data (a file, or stdin for "-") or the flags, not both. */
async function relationships(v: RelationshipConfig & { data?: string | undefined }): Promise<WireFederationRelationship[]> {
  if (!v.data) return [await relationshipFromConfig(v)];
  const empty = !v.bundleEndpointProfile && !v.bundleEndpointURL && v.trustDomainBundleFormat === 'pem' && !v.trustDomainBundlePath && !v.endpointSpiffeID && !v.trustDomain;
  if (!empty) throw new SpireCliError("cannot use other flags to specify relationship fields when 'data' flag is set");
  let text: string;
  try {
    text = await readInput(v.data);
  } catch (err) {
    throw new SpireCliError(goFsError(err, v.data), { cause: err });
  }
  let doc: { federationRelationships?: unknown };
  try {
    doc = JSON.parse(text) as { federationRelationships?: unknown };
  } catch (err) {
    throw new SpireCliError(`failed to parse JSON: ${(err as Error).message}`, { cause: err });
  }
  // encoding/json matches field names case-insensitively.
  const lower = (o: unknown): Record<string, unknown> => Object.fromEntries(Object.entries((o ?? {}) as Record<string, unknown>).map(([k, x]) => [k.toLowerCase(), x]));
  const list = lower(doc).federationrelationships;
  const out: WireFederationRelationship[] = [];
  for (const [i, raw] of (Array.isArray(list) ? list : []).entries()) {
    const r = lower(raw);
    try {
      out.push(
        await relationshipFromConfig({
          trustDomain: r.trustdomain as string | undefined,
          bundleEndpointURL: r.bundleendpointurl as string | undefined,
          bundleEndpointProfile: r.bundleendpointprofile as string | undefined,
          endpointSpiffeID: r.endpointspiffeid as string | undefined,
          trustDomainBundle: r.trustdomainbundle,
          trustDomainBundleFormat: r.trustdomainbundleformat as string | undefined,
        }),
      );
    } catch (err) {
      throw new SpireCliError(`could not parse item ${i}: ${(err as Error).message}`, { cause: err });
    }
  }
  return out;
}

/** printFederationRelationship. */
function formatRelationship(r: WireFederationRelationship): string {
  let s = `Trust domain              : ${r.trust_domain}\nBundle endpoint URL       : ${r.bundle_endpoint_url}\n`;
  if (r.https_web) s += 'Bundle endpoint profile   : https_web\n';
  else if (r.https_spiffe) s += `Bundle endpoint profile   : https_spiffe\nEndpoint SPIFFE ID        : ${r.https_spiffe.endpoint_spiffe_id}\n`;
  return s;
}

type Result = { status: Status; federation_relationship: WireFederationRelationship | null };

function writeCommand(verb: 'create' | 'update', synopsis: string): Command {
  const method = verb === 'create' ? 'BatchCreateFederationRelationship' : 'BatchUpdateFederationRelationship';
  return {
    synopsis,
    async run(args, io: CliIo) {
      const f = spireFlags(
        { ...adminFlags, data: { type: 'string', usage: "Path to a file containing federation relationships in JSON format (optional). If set to '-', read the JSON from stdin." }, ...configFlags },
        args,
        `federation ${verb}`,
        io,
        'server',
      );
      if (!f) return 0;
      const output = outputFormat(f.values.output);
      const rels = await relationships(f.values);
      const { clients: [td], close } = adminClients(f.values.socketPath, Services.trustDomain);
      try {
        const res = await rpc(callUnary<{ results: Result[] }>(td!, method, { federation_relationships: rels }), 'request failed');
        if (output === 'json') {
          printProto(io, `${TD_PKG}.${method}Response`, res);
          return 0;
        }
        const failed: Result[] = [];
        res.results.forEach((r, i) => {
          if (r.status.code !== GrpcCode.OK) failed.push({ ...r, federation_relationship: rels[i] ?? null });
        });
        for (const r of res.results) if (r.status.code === GrpcCode.OK) io.stdout.write('\n' + formatRelationship(r.federation_relationship!));
        for (const r of failed) {
          io.stdout.write('\n');
          io.stderr.write(`Failed to ${verb} the following federation relationship (code: ${codeName(r.status.code)}, msg: ${JSON.stringify(r.status.message)}):\n`);
          io.stderr.write(formatRelationship(r.federation_relationship!));
        }
        if (failed.length > 0) throw new SpireCliError(`failed to ${verb} one or more federation relationships`);
        return 0;
      } finally {
        close();
      }
    },
  };
}

export const federationCreate = writeCommand('create', 'Creates a dynamic federation relationship with a foreign trust domain');
export const federationUpdate = writeCommand('update', 'Updates a dynamic federation relationship with a foreign trust domain');

export const federationList: Command = {
  synopsis: 'Lists all dynamic federation relationships',
  async run(args, io) {
    const f = spireFlags(adminFlags, args, 'federation list', io, 'server');
    if (!f) return 0;
    const output = outputFormat(f.values.output);
    const { clients: [td], close } = adminClients(f.values.socketPath, Services.trustDomain);
    try {
      const res = await rpc(callUnary<{ federation_relationships: WireFederationRelationship[]; next_page_token: string }>(td!, 'ListFederationRelationships', {}), 'error listing federation relationship');
      if (output === 'json') {
        printProto(io, `${TD_PKG}.ListFederationRelationshipsResponse`, res);
        return 0;
      }
      const n = res.federation_relationships.length;
      io.stdout.write(pluralize(`Found ${n} `, 'federation relationship', 'federation relationships', n) + '\n');
      for (const r of res.federation_relationships) io.stdout.write('\n' + formatRelationship(r));
      return 0;
    } finally {
      close();
    }
  },
};

export const federationShow: Command = {
  synopsis: 'Shows a dynamic federation relationship',
  async run(args, io) {
    const f = spireFlags({ ...adminFlags, trustDomain: { type: 'string', usage: 'The trust domain name of the federation relationship to show' } }, args, 'federation show', io, 'server');
    if (!f) return 0;
    const output = outputFormat(f.values.output);
    if (!f.values.trustDomain) throw new SpireCliError('a trust domain name is required');
    const { clients: [td], close } = adminClients(f.values.socketPath, Services.trustDomain);
    try {
      const r = await rpc(callUnary<WireFederationRelationship>(td!, 'GetFederationRelationship', { trust_domain: f.values.trustDomain }), 'error showing federation relationship');
      if (output === 'json') printProto(io, 'spire.api.types.FederationRelationship', r);
      else io.stdout.write(`Found a federation relationship with trust domain ${f.values.trustDomain}:\n\n${formatRelationship(r)}`);
      return 0;
    } finally {
      close();
    }
  },
};

export const federationDelete: Command = {
  synopsis: 'Deletes a dynamic federation relationship',
  async run(args, io) {
    const f = spireFlags({ ...adminFlags, id: { type: 'string', usage: 'SPIFFE ID of the trust domain' } }, args, 'federation delete', io, 'server');
    if (!f) return 0;
    const output = outputFormat(f.values.output);
    if (!f.values.id) throw new SpireCliError('id is required');
    const { clients: [td], close } = adminClients(f.values.socketPath, Services.trustDomain);
    try {
      const res = await rpc(
        callUnary<{ results: { status: Status; trust_domain: string }[] }>(td!, 'BatchDeleteFederationRelationship', { trust_domains: [f.values.id] }),
        'failed to delete federation relationship',
      );
      if (output === 'json') {
        printProto(io, `${TD_PKG}.BatchDeleteFederationRelationshipResponse`, res);
        return 0;
      }
      const r = res.results[0];
      if (!r) throw new SpireCliError('internal error: cli printer; please report this bug');
      if (r.status.code !== GrpcCode.OK) throw new SpireCliError(`failed to delete federation relationship ${JSON.stringify(r.trust_domain)}: ${r.status.message}`);
      io.stdout.write('federation relationship deleted.\n');
      return 0;
    } finally {
      close();
    }
  },
};

export const federationRefresh: Command = {
  synopsis: 'Refreshes the bundle from the specified federated trust domain',
  async run(args, io) {
    const f = spireFlags({ ...adminFlags, id: { type: 'string', usage: 'SPIFFE ID of the trust domain' } }, args, 'federation refresh', io, 'server');
    if (!f) return 0;
    const output = outputFormat(f.values.output);
    if (!f.values.id) throw new SpireCliError('id is required');
    const { clients: [td], close } = adminClients(f.values.socketPath, Services.trustDomain);
    try {
      try {
        await callUnary(td!, 'RefreshBundle', { trust_domain: f.values.id });
      } catch (err) {
        const code = (err as { code?: number }).code;
        if (code === GrpcCode.NOT_FOUND) throw new SpireCliError(`there is no federation relationship with trust domain ${JSON.stringify(f.values.id)}`, { cause: err });
        await rpc(Promise.reject(err), 'failed to refresh bundle');
      }
      if (output === 'json') io.stdout.write('{"code":0,"message":"OK"}\n');
      else io.stdout.write('Bundle refreshed\n');
      return 0;
    } finally {
      close();
    }
  },
};
