// `herald-server federation create|list|show|update|delete|refresh` (SPIRE's flags).
import { readFile } from 'node:fs/promises';
import { HeraldError, errorMessage } from '../../common/errors.ts';
import { Services } from '../../common/grpc/protos.ts';
import type { WireFederationRelationship } from '../../server/api/trustdomain-service.ts';
import { parseCertificatesPem } from '../../spiffe/bundle/der.ts';
import { SpiffeBundle } from '../../spiffe/bundle/spiffe-bundle.ts';
import { TrustDomain } from '../../spiffe/trust-domain.ts';
import { flagsOrHelp, labelled, type CliIo, type Command } from '../command.ts';
import { callUnary } from '../grpc-client.ts';
import { adminClients, adminFlags, batchFailed, outputFormat, printJson, requireFlag } from './common.ts';
import { plural } from './format.ts';

const relationshipFlags = {
  ...adminFlags,
  trustDomain: { type: 'string', usage: 'Name of the trust domain to federate with (e.g., example.org)' },
  bundleEndpointURL: { type: 'string', usage: 'URL of the SPIFFE bundle endpoint that provides the trust bundle (must use the HTTPS protocol)' },
  bundleEndpointProfile: { type: 'string', usage: 'Endpoint profile type (either "https_web" or "https_spiffe")', default: 'https_spiffe' },
  endpointSpiffeID: { type: 'string', usage: 'SPIFFE ID of the SPIFFE bundle endpoint server. Only used for \'spiffe\' profile.' },
  trustDomainBundlePath: { type: 'string', usage: 'Path to the trust domain bundle data (optional).' },
  trustDomainBundleFormat: { type: 'string', usage: 'The format of the bundle data (optional). Either "pem" or "spiffe".', default: 'pem' },
} as const;

async function relationshipFromFlags(v: Record<string, unknown>): Promise<WireFederationRelationship> {
  const tdName = requireFlag(v.trustDomain as string | undefined, 'trust domain name');
  let td: TrustDomain;
  try {
    td = TrustDomain.fromString(tdName);
  } catch (err) {
    throw new HeraldError('ERR_INVALID_ARGUMENT_FLAG', `-trustDomain "${tdName}": ${errorMessage(err)}`, { cause: err });
  }
  const url = requireFlag(v.bundleEndpointURL as string | undefined, 'bundle endpoint URL');
  const profile = v.bundleEndpointProfile as string;
  const rel: WireFederationRelationship = { trust_domain: td.name, bundle_endpoint_url: url, trust_domain_bundle: null };
  if (profile === 'https_spiffe') rel.https_spiffe = { endpoint_spiffe_id: requireFlag(v.endpointSpiffeID as string | undefined, 'endpoint SPIFFE ID') };
  else if (profile === 'https_web') rel.https_web = {};
  else throw new HeraldError('ERR_INVALID_ARGUMENT_FLAG', `unknown bundle endpoint profile type: "${profile}"`);
  const path = v.trustDomainBundlePath as string | undefined;
  if (path) {
    const text = await readFile(path, 'utf8');
    const format = v.trustDomainBundleFormat as string;
    let x509: Buffer[];
    let jwt: { key_id: string; public_key: Buffer; expires_at: string; tainted: boolean }[] = [];
    try {
      if (format === 'pem') x509 = parseCertificatesPem(text).map((c) => c.raw);
      else if (format === 'spiffe') {
        const b = SpiffeBundle.parse(td, text);
        x509 = b.x509Authorities.map((c) => c.raw);
        jwt = [...b.jwtAuthorities].map(([kid, key]) => ({ key_id: kid, public_key: key.export({ format: 'der', type: 'spki' }), expires_at: '0', tainted: false }));
      } else throw new Error(`unknown format "${format}": want pem or spiffe`);
    } catch (err) {
      throw new HeraldError('ERR_INVALID_ARGUMENT_BUNDLE', `cannot parse -trustDomainBundlePath ${path}: ${errorMessage(err)}`, { cause: err });
    }
    rel.trust_domain_bundle = { trust_domain: td.name, x509_authorities: x509.map((asn1) => ({ asn1, tainted: false })), jwt_authorities: jwt, refresh_hint: '0', sequence_number: '0' };
  }
  return rel;
}

/** SPIRE's -data file: {"federationRelationships": [...]} (proto or JSON field names). */
async function relationshipsFromData(path: string): Promise<WireFederationRelationship[]> {
  let doc: { federationRelationships?: unknown; federation_relationships?: unknown };
  try {
    doc = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new HeraldError('ERR_INVALID_ARGUMENT_DATA', `cannot read -data ${path}: ${errorMessage(err)}`, { cause: err });
  }
  const list = doc.federationRelationships ?? doc.federation_relationships;
  if (!Array.isArray(list)) throw new HeraldError('ERR_INVALID_ARGUMENT_DATA', `-data ${path}: want {"federationRelationships": [...]}`);
  return list.map((r: Record<string, unknown>) => {
    const spiffe = (r.httpsSpiffe ?? r.https_spiffe) as { endpointSpiffeId?: string; endpoint_spiffe_id?: string } | undefined;
    return {
      trust_domain: String(r.trustDomain ?? r.trust_domain ?? ''),
      bundle_endpoint_url: String(r.bundleEndpointUrl ?? r.bundle_endpoint_url ?? ''),
      ...(spiffe ? { https_spiffe: { endpoint_spiffe_id: String(spiffe.endpointSpiffeId ?? spiffe.endpoint_spiffe_id ?? '') } } : {}),
      ...((r.httpsWeb ?? r.https_web) ? { https_web: {} } : {}),
      trust_domain_bundle: null,
    };
  });
}

function formatRelationship(r: WireFederationRelationship): string {
  const rows: [string, string][] = [
    ['Trust domain', r.trust_domain],
    ['Bundle endpoint URL', r.bundle_endpoint_url],
    ['Bundle endpoint profile', r.https_spiffe ? 'https_spiffe' : 'https_web'],
  ];
  if (r.https_spiffe) rows.push(['Endpoint SPIFFE ID', r.https_spiffe.endpoint_spiffe_id]);
  return labelled(rows, 26);
}

type Result = { status: { code: number; message: string }; federation_relationship: WireFederationRelationship | null };

function writeOrUpdate(method: 'BatchCreateFederationRelationship' | 'BatchUpdateFederationRelationship', done: string): Command {
  return {
    synopsis: method.startsWith('BatchCreate') ? 'Creates a dynamic federation relationship with a foreign trust domain' : 'Updates a dynamic federation relationship with a foreign trust domain',
    async run(args, io) {
      const f = flagsOrHelp({ ...relationshipFlags, data: { type: 'string', usage: 'Path to a file containing federation relationships in JSON format (optional)' } }, args, 'federation', io);
      if (!f) return 0;
      const rels = f.values.data ? await relationshipsFromData(f.values.data) : [await relationshipFromFlags(f.values)];
      const { clients: [td], close } = adminClients(f.values.socketPath, Services.trustDomain);
      try {
        const res = await callUnary<{ results: Result[] }>(td!, method, { federation_relationships: rels });
        if (outputFormat(f.values.output) === 'json') printJson(io, res);
        let failed = false;
        for (const r of res.results) {
          if (batchFailed(io, method.startsWith('BatchCreate') ? 'create federation relationship' : 'update federation relationship', r.status)) failed = true;
          else if (outputFormat(f.values.output) === 'pretty') io.stdout.write(`${done}\n${formatRelationship(r.federation_relationship!)}`);
        }
        return failed ? 1 : 0;
      } finally {
        close();
      }
    },
  };
}

export const federationCreate = writeOrUpdate('BatchCreateFederationRelationship', 'Federation relationship created.');
export const federationUpdate = writeOrUpdate('BatchUpdateFederationRelationship', 'Federation relationship updated.');

export const federationList: Command = {
  synopsis: 'Lists all dynamic federation relationships',
  async run(args, io: CliIo) {
    const f = flagsOrHelp(adminFlags, args, 'federation list', io);
    if (!f) return 0;
    const { clients: [td], close } = adminClients(f.values.socketPath, Services.trustDomain);
    try {
      const res = await callUnary<{ federation_relationships: WireFederationRelationship[] }>(td!, 'ListFederationRelationships', {});
      if (outputFormat(f.values.output) === 'json') printJson(io, res);
      else {
        io.stdout.write(plural(res.federation_relationships.length, 'federation relationship', 'federation relationships'));
        for (const r of res.federation_relationships) io.stdout.write('\n' + formatRelationship(r));
      }
      return 0;
    } finally {
      close();
    }
  },
};

function byTrustDomain(synopsis: string, method: string, done: (td: string) => string): Command {
  return {
    synopsis,
    async run(args, io) {
      const f = flagsOrHelp({ ...adminFlags, trustDomain: { type: 'string', usage: 'The trust domain name of the federation relationship' } }, args, 'federation', io);
      if (!f) return 0;
      const name = requireFlag(f.values.trustDomain, 'trust domain');
      const { clients: [td], close } = adminClients(f.values.socketPath, Services.trustDomain);
      try {
        if (method === 'BatchDeleteFederationRelationship') {
          const res = await callUnary<{ results: { status: { code: number; message: string } }[] }>(td!, method, { trust_domains: [name] });
          if (outputFormat(f.values.output) === 'json') printJson(io, res);
          if (batchFailed(io, 'delete federation relationship', res.results[0]!.status)) return 1;
        } else {
          const res = await callUnary<WireFederationRelationship>(td!, method, { trust_domain: name });
          if (outputFormat(f.values.output) === 'json') {
            printJson(io, res);
            return 0;
          }
          if (method === 'GetFederationRelationship') {
            io.stdout.write(`Found a federation relationship with trust domain ${name}:\n\n${formatRelationship(res)}`);
            return 0;
          }
        }
        if (outputFormat(f.values.output) === 'pretty') io.stdout.write(done(name));
        return 0;
      } finally {
        close();
      }
    },
  };
}

export const federationShow = byTrustDomain('Shows a dynamic federation relationship', 'GetFederationRelationship', () => '');
export const federationDelete = byTrustDomain('Deletes a dynamic federation relationship', 'BatchDeleteFederationRelationship', () => 'Federation relationship deleted.\n');
export const federationRefresh = byTrustDomain('Refreshes the bundle from the specified federated trust domain', 'RefreshBundle', () => 'Bundle refreshed\n');
