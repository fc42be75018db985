// `herald-server bundle show|list|set|delete|count`: SPIRE 1.13's flags,
// messages and output (cmd/spire-server/cli/bundle).
import { Services } from '../../common/grpc/protos.ts';
import { spiffeBundleFromWire, type WireBundle } from '../../common/wire/convert.ts';
import { SpiffeBundle } from '../../spiffe/bundle/spiffe-bundle.ts';
import { parseCertificatesPem } from '../../spiffe/bundle/der.ts';
import { TrustDomain } from '../../spiffe/trust-domain.ts';
import { type CliIo, type Command } from '../command.ts';
import { GrpcCode } from '../../common/errors.ts';
import { callUnary } from '../grpc-client.ts';
import { adminClients, adminFlags, outputFormat, readInput } from './common.ts';
import { pemOfDer } from './format.ts';
import { goFsError, pluralize, printProto, rpc, SpireCliError, spireFlags } from './spire-output.ts';

const BUNDLE_PKG = 'spire.api.server.bundle.v1';
type Status = { code: number; message: string };

/** validateFormat: "" is pem, case-insensitive. */
function bundleFormat(v: string): 'pem' | 'spiffe' {
  const f = v === '' ? 'pem' : v.toLowerCase();
  if (f === 'pem' || f === 'spiffe') return f;
  throw new SpireCliError(`invalid format: ${JSON.stringify(f)}`);
}

/** go-jose's JSONWebKey member order. */
const JWK_ORDER = ['use', 'kty', 'kid', 'crv', 'alg', 'k', 'x', 'y', 'n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi', 'x5c', 'x5u', 'x5t', 'x5t#S256'];

/**
 * The bundle as go-spiffe marshals a SPIFFE bundle (keys, then
 * spiffe_sequence and spiffe_refresh_hint when set), indented as Go's
 * json.Indent(…, "", "    ").
 */
export function spiffeBundleText(w: WireBundle): string {
  const doc = JSON.parse(spiffeBundleFromWire(w).marshal()) as { keys?: Record<string, unknown>[] };
  const keys = (doc.keys ?? []).map((k) => {
    const ordered: Record<string, unknown> = {};
    for (const name of JWK_ORDER) if (name in k) ordered[name] = k[name];
    for (const [name, v] of Object.entries(k)) if (!(name in ordered)) ordered[name] = v;
    return ordered;
  });
  const out: Record<string, unknown> = { keys: keys.length > 0 ? keys : null };
  if (Number(w.sequence_number) > 0) out.spiffe_sequence = Number(w.sequence_number);
  if (Number(w.refresh_hint) > 0) out.spiffe_refresh_hint = Number(w.refresh_hint);
  return JSON.stringify(out, null, 4) + '\n';
}

/** printBundleWithFormat. */
function printBundle(io: CliIo, w: WireBundle, format: string, header: boolean): void {
  const f = bundleFormat(format);
  if (header) io.stdout.write(`****************************************\n* ${w.trust_domain}\n****************************************\n`);
  io.stdout.write(f === 'pem' ? pemOfDer(w.x509_authorities.map((a) => a.asn1)) : spiffeBundleText(w));
}

export const bundleShow: Command = {
  synopsis: 'Prints server CA bundle to stdout',
  async run(args, io) {
    const f = spireFlags(
      { ...adminFlags, format: { type: 'string', usage: 'The format to show the bundle (only pretty output format supports this flag). Either "pem" or "spiffe".', default: 'pem' } },
      args,
      'bundle show',
      io,
      'server',
    );
    if (!f) return 0;
    const output = outputFormat(f.values.output);
    const { clients: [bundle], close } = adminClients(f.values.socketPath, Services.bundle);
    try {
      const b = await rpc(callUnary<WireBundle>(bundle!, 'GetBundle', {}));
      if (output === 'json') printProto(io, 'spire.api.types.Bundle', b);
      else printBundle(io, b, f.values.format, false);
      return 0;
    } finally {
      close();
    }
  },
};

export const bundleList: Command = {
  synopsis: 'Lists federated bundle data',
  async run(args, io) {
    const f = spireFlags(
      {
        ...adminFlags,
        id: { type: 'string', usage: 'SPIFFE ID of the trust domain' },
        format: { type: 'string', usage: 'The format to list federated bundles (only pretty output format supports this flag). Either "pem" or "spiffe".', default: 'pem' },
      },
      args,
      'bundle list',
      io,
      'server',
    );
    if (!f) return 0;
    const output = outputFormat(f.values.output);
    const { clients: [bundle], close } = adminClients(f.values.socketPath, Services.bundle);
    try {
      if (f.values.id) {
        const b = await rpc(callUnary<WireBundle>(bundle!, 'GetFederatedBundle', { trust_domain: f.values.id }));
        if (output === 'json') printProto(io, 'spire.api.types.Bundle', b);
        else printBundle(io, b, f.values.format, false);
        return 0;
      }
      const res = await rpc(callUnary<{ bundles: WireBundle[]; next_page_token: string }>(bundle!, 'ListFederatedBundles', {}));
      if (output === 'json') {
        printProto(io, `${BUNDLE_PKG}.ListFederatedBundlesResponse`, res);
        return 0;
      }
      res.bundles.forEach((b, i) => {
        if (i !== 0) io.stdout.write('\n');
        printBundle(io, b, f.values.format, true);
      });
      return 0;
    } finally {
      close();
    }
  },
};

/** util.ParseBundle. */
function parseBundle(text: string, format: 'pem' | 'spiffe', id: string): WireBundle {
  if (format === 'pem') {
    let certs;
    try {
      certs = parseCertificatesPem(text);
    } catch (err) {
      throw new SpireCliError(`unable to parse bundle data: ${(err as Error).message}`, { cause: err });
    }
    if (certs.length === 0) throw new SpireCliError('unable to parse bundle data: no PEM blocks');
    return { trust_domain: id, x509_authorities: certs.map((c) => ({ asn1: c.raw, tainted: false })), jwt_authorities: [], refresh_hint: '0', sequence_number: '0' };
  }
  let td: TrustDomain;
  try {
    td = TrustDomain.fromString(id);
  } catch (err) {
    throw new SpireCliError((err as Error).message.replace(/^spiffeid: /, ''), { cause: err });
  }
  let b: SpiffeBundle;
  try {
    b = SpiffeBundle.parse(td, text);
  } catch (err) {
    throw new SpireCliError(`unable to parse to spiffe bundle: ${(err as Error).message}`, { cause: err });
  }
  return {
    trust_domain: td.name,
    x509_authorities: b.x509Authorities.map((c) => ({ asn1: c.raw, tainted: false })),
    jwt_authorities: [...b.jwtAuthorities].map(([kid, key]) => ({ key_id: kid, public_key: key.export({ format: 'der', type: 'spki' }), expires_at: '0', tainted: false })),
    refresh_hint: String(b.refreshHintSeconds ?? 0),
    sequence_number: String(b.sequenceNumber ?? 0n),
  };
}

export const bundleSet: Command = {
  synopsis: 'Creates or updates federated bundle data',
  async run(args, io) {
    const f = spireFlags(
      {
        ...adminFlags,
        id: { type: 'string', usage: 'SPIFFE ID of the trust domain' },
        path: { type: 'string', usage: 'Path to the bundle data' },
        format: { type: 'string', usage: 'The format of the bundle data. Either "pem" or "spiffe".', default: 'pem' },
      },
      args,
      'bundle set',
      io,
      'server',
    );
    if (!f) return 0;
    const output = outputFormat(f.values.output);
    if (!f.values.id) throw new SpireCliError('id flag is required');
    const format = bundleFormat(f.values.format);
    let text: string;
    try {
      // SPIRE reads stdin when -path is not set.
      text = await readInput(f.values.path || '-');
    } catch (err) {
      throw new SpireCliError(`unable to load bundle data: ${goFsError(err, f.values.path ?? '')}`, { cause: err });
    }
    const wire = parseBundle(text, format, f.values.id);
    const { clients: [bundle], close } = adminClients(f.values.socketPath, Services.bundle);
    try {
      const res = await rpc(callUnary<{ results: { status: Status; bundle: WireBundle | null }[] }>(bundle!, 'BatchSetFederatedBundle', { bundle: [wire] }), 'failed to set federated bundle');
      if (output === 'json') {
        printProto(io, `${BUNDLE_PKG}.BatchSetFederatedBundleResponse`, res);
        return 0;
      }
      const r = res.results[0]!;
      if (r.status.code !== GrpcCode.OK) throw new SpireCliError(`failed to set federated bundle: ${r.status.message}`);
      io.stdout.write('bundle set.\n');
      return 0;
    } finally {
      close();
    }
  },
};

export const bundleDelete: Command = {
  synopsis: 'Deletes federated bundle data',
  async run(args, io) {
    const f = spireFlags(
      {
        ...adminFlags,
        id: { type: 'string', usage: 'SPIFFE ID of the trust domain' },
        mode: { type: 'string', usage: 'Deletion mode: one of restrict, delete, or dissociate', default: 'restrict' },
      },
      args,
      'bundle delete',
      io,
      'server',
    );
    if (!f) return 0;
    const output = outputFormat(f.values.output);
    if (!f.values.id) throw new SpireCliError('id is required');
    const mode = ({ '': 'RESTRICT', restrict: 'RESTRICT', delete: 'DELETE', dissociate: 'DISSOCIATE' } as Record<string, string>)[f.values.mode];
    if (!mode) throw new SpireCliError(`unsupported mode ${JSON.stringify(f.values.mode)}`);
    const { clients: [bundle], close } = adminClients(f.values.socketPath, Services.bundle);
    try {
      const res = await rpc(
        callUnary<{ results: { status: Status; trust_domain: string }[] }>(bundle!, 'BatchDeleteFederatedBundle', { trust_domains: [f.values.id], mode }),
        'failed to delete federated bundle',
      );
      if (output === 'json') {
        printProto(io, `${BUNDLE_PKG}.BatchDeleteFederatedBundleResponse`, res);
        return 0;
      }
      const r = res.results[0]!;
      if (r.status.code !== GrpcCode.OK) throw new SpireCliError(`failed to delete federated bundle ${JSON.stringify(r.trust_domain)}: ${r.status.message}`);
      io.stdout.write('bundle deleted.\n');
      return 0;
    } finally {
      close();
    }
  },
};

export const bundleCount: Command = {
  synopsis: 'Count bundles',
  async run(args, io) {
    const f = spireFlags(adminFlags, args, 'bundle count', io, 'server');
    if (!f) return 0;
    const output = outputFormat(f.values.output);
    const { clients: [bundle], close } = adminClients(f.values.socketPath, Services.bundle);
    try {
      const res = await rpc(callUnary<{ count: number }>(bundle!, 'CountBundles', {}));
      if (output === 'json') printProto(io, `${BUNDLE_PKG}.CountBundlesResponse`, res);
      else io.stdout.write(pluralize(`${res.count} `, 'bundle', 'bundles', res.count) + '\n');
      return 0;
    } finally {
      close();
    }
  },
};
