// `herald-server bundle show|list|set|delete|count` (own and federated bundles).
import { readFile } from 'node:fs/promises';
import { HeraldError, errorMessage } from '../../common/errors.ts';
import { Services } from '../../common/grpc/protos.ts';
import { spiffeBundleFromWire, type WireBundle } from '../../server/api/convert.ts';
import { SpiffeBundle } from '../../spiffe/bundle/spiffe-bundle.ts';
import { parseCertificatesPem } from '../../spiffe/bundle/der.ts';
import { TrustDomain } from '../../spiffe/trust-domain.ts';
import { flagsOrHelp, type CliIo, type Command } from '../command.ts';
import { callUnary } from '../grpc-client.ts';
import { adminClients, adminFlags, batchFailed, outputFormat, printJson, requireFlag } from './common.ts';
import { pemOfDer } from './format.ts';

const formatFlag = { format: { type: 'string', usage: 'The format to show the bundle (only pretty output format supports this flag). Either "pem" or "spiffe".', default: 'pem' } } as const;

function bundleFormat(v: string): 'pem' | 'spiffe' {
  if (v === 'pem' || v === 'spiffe') return v;
  throw new HeraldError('ERR_INVALID_ARGUMENT_FLAG', `invalid format: "${v}"`);
}

function printBundle(io: CliIo, w: WireBundle, format: 'pem' | 'spiffe'): void {
  if (format === 'pem') io.stdout.write(pemOfDer(w.x509_authorities.map((a) => a.asn1)));
  else io.stdout.write(JSON.stringify(JSON.parse(spiffeBundleFromWire(w).marshal()), null, 4) + '\n');
}

export const bundleShow: Command = {
  synopsis: 'Prints server CA bundle to stdout',
  async run(args, io) {
    const f = flagsOrHelp({ ...adminFlags, ...formatFlag }, args, 'bundle show', io);
    if (!f) return 0;
    const format = bundleFormat(f.values.format);
    const { clients: [bundle], close } = adminClients(f.values.socketPath, Services.bundle);
    try {
      const b = await callUnary<WireBundle>(bundle!, 'GetBundle', {});
      if (outputFormat(f.values.output) === 'json') printJson(io, b);
      else printBundle(io, b, format);
      return 0;
    } finally {
      close();
    }
  },
};

export const bundleList: Command = {
  synopsis: 'Lists federated bundle data',
  async run(args, io) {
    const f = flagsOrHelp({ ...adminFlags, ...formatFlag, id: { type: 'string', usage: 'SPIFFE ID of the trust domain' } }, args, 'bundle list', io);
    if (!f) return 0;
    const format = bundleFormat(f.values.format);
    const { clients: [bundle], close } = adminClients(f.values.socketPath, Services.bundle);
    try {
      const bundles = f.values.id
        ? [await callUnary<WireBundle>(bundle!, 'GetFederatedBundle', { trust_domain: f.values.id })]
        : (await callUnary<{ bundles: WireBundle[] }>(bundle!, 'ListFederatedBundles', {})).bundles;
      if (outputFormat(f.values.output) === 'json') {
        printJson(io, { bundles });
        return 0;
      }
      for (const [i, b] of bundles.entries()) {
        if (!f.values.id) io.stdout.write(`${i > 0 ? '\n' : ''}****************************************\n* spiffe://${b.trust_domain}\n****************************************\n`);
        printBundle(io, b, format);
      }
      return 0;
    } finally {
      close();
    }
  },
};

export const bundleSet: Command = {
  synopsis: 'Creates or updates federated bundle data',
  async run(args, io) {
    const f = flagsOrHelp(
      { ...adminFlags, ...formatFlag, id: { type: 'string', usage: 'SPIFFE ID of the trust domain' }, path: { type: 'string', usage: 'Path to the bundle data' } },
      args,
      'bundle set',
      io,
    );
    if (!f) return 0;
    const id = requireFlag(f.values.id, 'id');
    let td: TrustDomain;
    try {
      td = TrustDomain.fromString(id);
    } catch (err) {
      throw new HeraldError('ERR_INVALID_ARGUMENT_FLAG', `-id "${id}": ${errorMessage(err)}`, { cause: err });
    }
    const path = requireFlag(f.values.path, 'path');
    const text = path === '-' ? await stdinText() : await readFile(path, 'utf8');
    const format = bundleFormat(f.values.format);
    let wire: WireBundle;
    try {
      if (format === 'pem') {
        const certs = parseCertificatesPem(text);
        if (certs.length === 0) throw new Error('no certificates found');
        wire = { trust_domain: td.name, x509_authorities: certs.map((c) => ({ asn1: c.raw, tainted: false })), jwt_authorities: [], refresh_hint: '0', sequence_number: '0' };
      } else {
        const b = SpiffeBundle.parse(td, text);
        wire = {
          trust_domain: td.name,
          x509_authorities: b.x509Authorities.map((c) => ({ asn1: c.raw, tainted: false })),
          jwt_authorities: [...b.jwtAuthorities].map(([kid, key]) => ({ key_id: kid, public_key: key.export({ format: 'der', type: 'spki' }), expires_at: '0', tainted: false })),
          refresh_hint: String(b.refreshHintSeconds ?? 0),
          sequence_number: String(b.sequenceNumber ?? 0n),
        };
      }
    } catch (err) {
      throw new HeraldError('ERR_INVALID_ARGUMENT_BUNDLE', `unable to parse bundle data in ${path} (format ${format}): ${errorMessage(err)}`, { cause: err });
    }
    const { clients: [bundle], close } = adminClients(f.values.socketPath, Services.bundle);
    try {
      const res = await callUnary<{ results: { status: { code: number; message: string } }[] }>(bundle!, 'BatchSetFederatedBundle', { bundle: [wire] });
      if (outputFormat(f.values.output) === 'json') printJson(io, res);
      if (batchFailed(io, 'set federated bundle', res.results[0]!.status)) return 1;
      if (outputFormat(f.values.output) === 'pretty') io.stdout.write('bundle set.\n');
      return 0;
    } finally {
      close();
    }
  },
};

export const bundleDelete: Command = {
  synopsis: 'Deletes bundle data',
  async run(args, io) {
    const f = flagsOrHelp(
      { ...adminFlags, id: { type: 'string', usage: 'SPIFFE ID of the trust domain' }, mode: { type: 'string', usage: 'Deletion mode: one of restrict, delete, or dissociate', default: 'restrict' } },
      args,
      'bundle delete',
      io,
    );
    if (!f) return 0;
    const mode = { restrict: 'RESTRICT', delete: 'DELETE', dissociate: 'DISSOCIATE' }[f.values.mode];
    if (!mode) throw new HeraldError('ERR_INVALID_ARGUMENT_FLAG', `unsupported mode "${f.values.mode}"`);
    const { clients: [bundle], close } = adminClients(f.values.socketPath, Services.bundle);
    try {
      const res = await callUnary<{ results: { status: { code: number; message: string } }[] }>(bundle!, 'BatchDeleteFederatedBundle', { trust_domains: [requireFlag(f.values.id, 'id')], mode });
      if (outputFormat(f.values.output) === 'json') printJson(io, res);
      if (batchFailed(io, 'delete federated bundle', res.results[0]!.status)) return 1;
      if (outputFormat(f.values.output) === 'pretty') io.stdout.write('bundle deleted.\n');
      return 0;
    } finally {
      close();
    }
  },
};

export const bundleCount: Command = {
  synopsis: 'Count bundles',
  async run(args, io) {
    const f = flagsOrHelp(adminFlags, args, 'bundle count', io);
    if (!f) return 0;
    const { clients: [bundle], close } = adminClients(f.values.socketPath, Services.bundle);
    try {
      const res = await callUnary<{ count: number }>(bundle!, 'CountBundles', {});
      if (outputFormat(f.values.output) === 'json') printJson(io, res);
      else io.stdout.write(`${res.count} ${res.count === 1 ? 'bundle' : 'bundles'}\n`);
      return 0;
    } finally {
      close();
    }
  },
};

async function stdinText(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
