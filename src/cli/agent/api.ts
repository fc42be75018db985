// `herald-agent api fetch x509|jwt|jwt-bundles`, `api validate jwt`, `api watch`
// (SPIRE's `spire-agent api …`, same output and file names).
import * as grpc from '@grpc/grpc-js';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/fs.ts';
import { fromStruct } from '../../common/grpc/struct.ts';
import { parseCertificatesDer } from '../../spiffe/bundle/der.ts';
import { flagsOrHelp, type CliIo, type Command } from '../command.ts';
import { FlagError, parseFlags } from '../flags.ts';
import { GrpcCode } from '../../common/errors.ts';
import { connectionErrorOf } from '../grpc-client.ts';
import { BareCliError, codeName, goDuration, goJson, printProto, protoJson, spireFlags } from '../server/spire-output.ts';
import { socketPathFlag } from './socket-path.ts';
import { agentSocketPath, firstMessage, headerMetadata, unaryCall, workloadClient, type WorkloadClient } from './workload-client.ts';

const common = {
  socketPath: socketPathFlag,
  timeout: { type: 'duration', usage: 'Time to wait for a response', default: '5s', goVar: 'withDefault' },
  output: { type: 'string', usage: 'Desired output format (pretty, json); default: pretty.', default: 'pretty', goVar: true },
} as const;

interface X509SvidMsg {
  spiffe_id: string;
  x509_svid: Buffer;
  x509_svid_key: Buffer;
  bundle: Buffer;
  hint: string;
}

function utc(d: string): string {
  return new Date(d).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' +0000 UTC');
}

function pem(certs: readonly X509Certificate[]): string {
  return certs.map((c) => c.toString().trimEnd() + '\n').join('');
}

async function withClient<T>(socket: string, fn: (c: WorkloadClient) => Promise<T>): Promise<T> {
  const client = workloadClient(socket);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

function printJson(io: CliIo, v: unknown): void {
  io.stdout.write(JSON.stringify(v, (_k, x) => (x && x.type === 'Buffer' && Array.isArray(x.data) ? Buffer.from(x.data).toString('base64') : x), 2) + '\n');
}

/** A gRPC status error as spire-agent prints it, bare (`rpc error: code = … desc = …`, Go's status text). */
function rpcFailure(err: unknown, prefix?: string): never {
  const e = err as { code?: unknown; details?: unknown };
  if (typeof e?.code === 'number' && typeof e.details === 'string') {
    const text = `rpc error: code = ${codeName(e.code)} desc = ${e.details}`;
    throw new BareCliError(prefix ? `${prefix}: ${text}` : text, { cause: err });
  }
  throw err;
}

/** printX509SVIDResponse (spire-agent api/printer.go); `watch` prints no hints (its X509SVIDs carry none). */
function prettyX509(svids: readonly X509SvidMsg[], feds: readonly (readonly [string, X509Certificate[]])[], elapsedMs: number, hints: boolean): string {
  let out = `Received ${svids.length} svid${svids.length === 1 ? '' : 's'} after ${goDuration(elapsedMs)}\n`;
  for (const svid of svids) {
    const chain = parseCertificatesDer(svid.x509_svid);
    const bundle = parseCertificatesDer(svid.bundle);
    out += `\nSPIFFE ID:\t\t${svid.spiffe_id}\n`;
    if (hints && svid.hint) out += `Hint:\t\t\t${svid.hint}\n`;
    out += `SVID Valid After:\t${utc(chain[0]!.validFrom)}\nSVID Valid Until:\t${utc(chain[0]!.validTo)}\n`;
    chain.slice(1).forEach((c, i) => (out += `Intermediate #${i + 1} Valid After:\t${utc(c.validFrom)}\nIntermediate #${i + 1} Valid Until:\t${utc(c.validTo)}\n`));
    bundle.forEach((c, i) => (out += `CA #${i + 1} Valid After:\t${utc(c.validFrom)}\nCA #${i + 1} Valid Until:\t${utc(c.validTo)}\n`));
    for (const [td, certs] of feds) certs.forEach((c, i) => (out += `[${td}] CA #${i + 1} Valid After:\t${utc(c.validFrom)}\n[${td}] CA #${i + 1} Valid Until:\t${utc(c.validTo)}\n`));
  }
  return out + '\n';
}

export const fetchX509: Command = {
  synopsis: 'Fetches X509 SVIDs from the Workload API',
  async run(args, io) {
    const f = spireFlags({ ...common, write: { type: 'string', usage: 'Write SVID data to the specified path (optional; only available for pretty output format)' }, silent: { type: 'bool', usage: 'Suppress stdout' } }, args, 'fetch x509', io, 'agent');
    if (!f) return 0;
    const socket = agentSocketPath(f.values.socketPath, io.env);
    const started = performance.now();
    const res = await withClient(socket, (c) => firstMessage(c, 'FetchX509SVID', {}, f.values.timeout)).catch((err) => rpcFailure(err));
    const elapsed = performance.now() - started;
    if (f.values.output.toLowerCase() === 'json') {
      printProto(io, 'X509SVIDResponse', res);
      return 0;
    }
    // parseAndValidateX509SVIDResponse (spire-agent api/fetch_x509.go).
    if (res.svids.length === 0) throw new BareCliError('workload response contains no svids');
    const feds = Object.entries(res.federated_bundles).sort(([a], [b]) => (a < b ? -1 : 1)).map(([td, der]) => [td, parseCertificatesDer(der)] as const);
    if (!f.values.silent) io.stdout.write(prettyX509(res.svids, feds, elapsed, true));
    if (f.values.write) {
      // As spire-agent: the "Writing …" lines are printed even with -silent.
      const dir = f.values.write;
      await mkdir(dir, { recursive: true });
      for (const [i, svid] of res.svids.entries()) {
        const keyPem = createPrivateKey({ key: svid.x509_svid_key, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }).toString();
        io.stdout.write(`Writing SVID #${i} to file ${join(dir, `svid.${i}.pem`)}.\n`);
        await writeFileAtomic(join(dir, `svid.${i}.pem`), pem(parseCertificatesDer(svid.x509_svid)), { mode: 0o644 });
        io.stdout.write(`Writing key #${i} to file ${join(dir, `svid.${i}.key`)}.\n`);
        await writeFileAtomic(join(dir, `svid.${i}.key`), keyPem, { mode: 0o600 });
        io.stdout.write(`Writing bundle #${i} to file ${join(dir, `bundle.${i}.pem`)}.\n`);
        await writeFileAtomic(join(dir, `bundle.${i}.pem`), pem(parseCertificatesDer(svid.bundle)), { mode: 0o644 });
        for (const [j, [td, certs]] of feds.entries()) {
          io.stdout.write(`Writing federated bundle #${j} for trust domain ${td} to file ${join(dir, `federated_bundle.${i}.${j}.pem`)}.\n`);
          await writeFileAtomic(join(dir, `federated_bundle.${i}.${j}.pem`), pem(certs), { mode: 0o644 });
        }
      }
    }
    return 0;
  },
};

export const fetchJwt: Command = {
  synopsis: 'Fetches a JWT SVID from the Workload API',
  async run(args, io) {
    const f = spireFlags(
      {
        ...common,
        audience: { type: 'strings', usage: 'comma separated list of audience values' },
        spiffeID: { type: 'string', usage: 'SPIFFE ID subject (optional)' },
        format: { type: 'string', usage: 'deprecated; use -output', goVar: true },
      },
      args,
      'fetch jwt',
      io,
      'agent',
    );
    if (!f) return 0;
    const output = (f.values.format ?? f.values.output).toLowerCase();
    const audience = f.values.audience.flatMap((a) => a.split(','));
    if (audience.length === 0) throw new BareCliError('audience must be specified');
    const socket = agentSocketPath(f.values.socketPath, io.env);
    // spire-agent fetches the bundles first, then the SVID.
    const res = await withClient(socket, async (c) => {
      const bundles = await firstMessage(c, 'FetchJWTBundles', {}, f.values.timeout).catch((err) => rpcFailure(err));
      const svids = await unaryCall(c, 'FetchJWTSVID', { audience, spiffe_id: f.values.spiffeID ?? '' }, f.values.timeout).catch((err) => rpcFailure(err));
      return { svids, bundles };
    });
    if (output === 'json') {
      // cliprinter prints two messages as a JSON array.
      io.stdout.write(`[${protoJson('JWTSVIDResponse', res.svids)},${protoJson('JWTBundlesResponse', res.bundles)}]\n`);
      return 0;
    }
    let out = '';
    for (const s of res.svids.svids) {
      out += `token(${s.spiffe_id}):\n\t${s.svid}\n`;
      if (s.hint) out += `hint(${s.spiffe_id}):\n\t${s.hint}\n`;
    }
    for (const [td, jwks] of Object.entries(res.bundles.bundles).sort(([a], [b]) => (a < b ? -1 : 1))) out += `bundle(${td}):\n\t${Buffer.from(jwks).toString()}\n`;
    io.stdout.write(out);
    return 0;
  },
};

export const validateJwt: Command = {
  synopsis: 'Validates a JWT SVID',
  async run(args, io) {
    const f = spireFlags({ ...common, audience: { type: 'string', usage: 'expected audience value' }, svid: { type: 'string', usage: 'JWT SVID' } }, args, 'validate jwt', io, 'agent');
    if (!f) return 0;
    if (!f.values.audience) throw new BareCliError('audience must be specified');
    if (!f.values.svid) throw new BareCliError('svid must be specified');
    const socket = agentSocketPath(f.values.socketPath, io.env);
    const res = await withClient(socket, (c) =>
      unaryCall(c, 'ValidateJWTSVID', { audience: f.values.audience, svid: f.values.svid }, f.values.timeout),
    ).catch((err) => {
      const e = err as { code?: unknown; details?: unknown };
      if (e?.code === GrpcCode.INVALID_ARGUMENT && typeof e.details === 'string') throw new BareCliError(`SVID is not valid: ${e.details}`, { cause: err });
      return rpcFailure(err, 'unable to validate JWT SVID');
    });
    const claims = res.claims ? fromStruct(res.claims) : {};
    if (f.values.output.toLowerCase() === 'json') io.stdout.write(goJson({ claims, spiffe_id: res.spiffe_id }) + '\n');
    else io.stdout.write(`SVID is valid.\nSPIFFE ID : ${res.spiffe_id}\nClaims    : ${goJson(claims)}\n`);
    return 0;
  },
};

export { healthcheck } from './healthcheck.ts';

export const fetchJwtBundle: Command = {
  synopsis: 'Fetches the JWT bundles (JWKS per trust domain) from the Workload API',
  async run(args, io) {
    const f = flagsOrHelp(common, args, 'api fetch jwtbundle', io);
    if (!f) return 0;
    const socket = agentSocketPath(f.values.socketPath, io.env);
    const res = await withClient(socket, (c) => firstMessage(c, 'FetchJWTBundles', {}, f.values.timeout));
    const bundles = Object.fromEntries(Object.entries(res.bundles).map(([td, jwks]) => [td, JSON.parse(Buffer.from(jwks).toString())]));
    if (f.values.output === 'json') printJson(io, { bundles });
    else for (const [td, jwks] of Object.entries(bundles)) io.stdout.write(`bundle(${td}):\n${JSON.stringify(jwks, null, 2)}\n`);
    return 0;
  },
};

// SPIRE's `api watch` (go-spiffe's WatchX509Context): only -socketPath; each update printed as
// `api fetch x509` prints it (no hints), the time since the previous one; Ctrl-C ends it as
// spire-agent's does (the canceled watch reported twice, exit 1). Unlike spire-agent, which
// retries forever, a watch that cannot reach the agent or whose stream fails exits 1.
export const watch: Command = {
  synopsis: "Attaches to the Workload API and prints updates as they're received",
  async run(args, io) {
    let f;
    try {
      f = parseFlags({ socketPath: { type: 'string', usage: common.socketPath.usage } }, args, { command: 'watch' });
    } catch (err) {
      // Go's flag package prints the error and the usage, then Run prints the error again.
      if (err instanceof FlagError) throw new BareCliError(`${err.goMessage}\n${err.usage}${err.goMessage}`, { cause: err });
      throw err;
    }
    if (f.help) {
      // mitchellh/cli prints Help(), which is the flag set's usage and then "flag: help requested".
      io.stderr.write(`${f.usage}flag: help requested\n`);
      return 0;
    }
    const socket = agentSocketPath(f.values.socketPath, io.env);
    const client = workloadClient(socket);
    let last = performance.now();
    try {
      const interrupted = await new Promise<boolean>((resolve, reject) => {
        const call = client.FetchX509SVID({}, headerMetadata());
        const onSignal = (): void => call.cancel();
        process.once('SIGINT', onSignal);
        call.on('data', (m: { svids: X509SvidMsg[]; federated_bundles: Record<string, Buffer> }) => {
          const own = new Set(m.svids.map((s) => /^spiffe:\/\/([^/]+)/.exec(s.spiffe_id)?.[1]));
          const feds = Object.entries(m.federated_bundles ?? {}).filter(([td]) => !own.has(td)).sort(([a], [b]) => (a < b ? -1 : 1)).map(([td, der]) => [td, parseCertificatesDer(der)] as const);
          io.stdout.write(prettyX509(m.svids, feds, performance.now() - last, false));
          last = performance.now();
        });
        call.on('error', (err: grpc.ServiceError) => {
          process.off('SIGINT', onSignal);
          if (err.code === grpc.status.CANCELLED) resolve(true);
          else reject(connectionErrorOf(err, socket, 'agent'));
        });
        call.on('end', () => {
          process.off('SIGINT', onSignal);
          resolve(false);
        });
      });
      if (!interrupted) return 0;
      io.stderr.write('rpc error: code = Canceled desc = context canceled\n'.repeat(2));
      return 1;
    } finally {
      client.close();
    }
  },
};
