// `herald-agent api fetch x509|jwt|jwt-bundles`, `api validate jwt`, `api watch`
// (SPIRE's `spire-agent api …`, same output and file names).
import * as grpc from '@grpc/grpc-js';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { HeraldError } from '../../common/errors.ts';
import { writeFileAtomic } from '../../common/fs.ts';
import { serviceClient, Services } from '../../common/grpc/protos.ts';
import { fromStruct } from '../../common/grpc/struct.ts';
import { parseCertificatesDer } from '../../spiffe/bundle/der.ts';
import { flagsOrHelp, type CliIo, type Command } from '../command.ts';
import { agentSocketPath, firstMessage, headerMetadata, unaryCall, workloadClient, type WorkloadClient } from './workload-client.ts';

const common = {
  socketPath: { type: 'string', usage: 'Path to the Workload API socket (default: $SPIFFE_ENDPOINT_SOCKET or /tmp/herald-agent/public/api.sock)' },
  timeout: { type: 'duration', usage: 'Time to wait for a response', default: '5s' },
  output: { type: 'string', usage: 'Desired output format (pretty, json); default: pretty.', default: 'pretty' },
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

export const fetchX509: Command = {
  synopsis: 'Fetches X509-SVIDs from the Workload API',
  async run(args, io) {
    const f = flagsOrHelp({ ...common, write: { type: 'string', usage: 'Write SVID data to the specified path (optional; only available for pretty output format)' }, silent: { type: 'bool', usage: 'Suppress stdout' } }, args, 'api fetch x509', io);
    if (!f) return 0;
    const socket = agentSocketPath(f.values.socketPath, io.env);
    const started = performance.now();
    const res = await withClient(socket, (c) => firstMessage<{ svids: X509SvidMsg[]; federated_bundles: Record<string, Buffer> }>(c, 'FetchX509SVID', f.values.timeout));
    const elapsed = performance.now() - started;
    if (f.values.output === 'json') {
      printJson(io, res);
      return 0;
    }
    const out = (s: string): void => {
      if (!f.values.silent) io.stdout.write(s);
    };
    out(`Received ${res.svids.length} svid${res.svids.length === 1 ? '' : 's'} after ${elapsed.toFixed(3)}ms\n\n`);
    for (const svid of res.svids) {
      const chain = parseCertificatesDer(svid.x509_svid);
      const bundle = parseCertificatesDer(svid.bundle);
      out(`SPIFFE ID:\t\t${svid.spiffe_id}\n`);
      if (svid.hint) out(`Hint:\t\t\t${svid.hint}\n`);
      out(`SVID Valid After:\t${utc(chain[0]!.validFrom)}\nSVID Valid Until:\t${utc(chain[0]!.validTo)}\n`);
      chain.slice(1).forEach((c, i) => out(`Intermediate #${i + 1} Valid After:\t${utc(c.validFrom)}\nIntermediate #${i + 1} Valid Until:\t${utc(c.validTo)}\n`));
      bundle.forEach((c, i) => out(`CA #${i + 1} Valid After:\t${utc(c.validFrom)}\nCA #${i + 1} Valid Until:\t${utc(c.validTo)}\n`));
      out('\n');
    }
    if (f.values.write) {
      const dir = f.values.write;
      await mkdir(dir, { recursive: true });
      const feds = Object.entries(res.federated_bundles).sort(([a], [b]) => (a < b ? -1 : 1));
      for (const [i, svid] of res.svids.entries()) {
        const keyPem = createPrivateKey({ key: svid.x509_svid_key, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }).toString();
        out(`Writing SVID #${i} to file ${join(dir, `svid.${i}.pem`)}.\n`);
        await writeFileAtomic(join(dir, `svid.${i}.pem`), pem(parseCertificatesDer(svid.x509_svid)), { mode: 0o644 });
        out(`Writing key #${i} to file ${join(dir, `svid.${i}.key`)}.\n`);
        await writeFileAtomic(join(dir, `svid.${i}.key`), keyPem, { mode: 0o600 });
        out(`Writing bundle #${i} to file ${join(dir, `bundle.${i}.pem`)}.\n`);
        await writeFileAtomic(join(dir, `bundle.${i}.pem`), pem(parseCertificatesDer(svid.bundle)), { mode: 0o644 });
        for (const [j, [td, der]] of feds.entries()) {
          out(`Writing federated bundle #${j} for trust domain ${td} to file ${join(dir, `federated_bundle.${i}.${j}.pem`)}.\n`);
          await writeFileAtomic(join(dir, `federated_bundle.${i}.${j}.pem`), pem(parseCertificatesDer(der)), { mode: 0o644 });
        }
      }
    }
    return 0;
  },
};

export const fetchJwt: Command = {
  synopsis: 'Fetches a JWT-SVID from the Workload API',
  async run(args, io) {
    const f = flagsOrHelp({ ...common, audience: { type: 'strings', usage: 'comma separated list of audience values' }, spiffeID: { type: 'string', usage: 'SPIFFE ID subject (optional)' } }, args, 'api fetch jwt', io);
    if (!f) return 0;
    const audience = f.values.audience.flatMap((a) => a.split(',')).filter((a) => a !== '');
    if (audience.length === 0) throw new HeraldError('ERR_INVALID_ARGUMENT_FLAG', 'audience must be specified');
    const socket = agentSocketPath(f.values.socketPath, io.env);
    const res = await withClient(socket, async (c) => ({
      svids: (await unaryCall<{ svids: { spiffe_id: string; svid: string }[] }>(c, 'FetchJWTSVID', { audience, spiffe_id: f.values.spiffeID ?? '' }, f.values.timeout)).svids,
      bundles: (await firstMessage<{ bundles: Record<string, Buffer> }>(c, 'FetchJWTBundles', f.values.timeout)).bundles,
    }));
    if (f.values.output === 'json') {
      printJson(io, res);
      return 0;
    }
    for (const s of res.svids) io.stdout.write(`token(${s.spiffe_id}):\n\t${s.svid}\n`);
    for (const [td, jwks] of Object.entries(res.bundles)) io.stdout.write(`bundle(${td}):\n\t${Buffer.from(jwks).toString()}\n`);
    return 0;
  },
};

export const validateJwt: Command = {
  synopsis: 'Validates a JWT-SVID',
  async run(args, io) {
    const f = flagsOrHelp({ ...common, audience: { type: 'string', usage: 'expected audience value' }, svid: { type: 'string', usage: 'JWT SVID' } }, args, 'api validate jwt', io);
    if (!f) return 0;
    if (!f.values.audience) throw new HeraldError('ERR_INVALID_ARGUMENT_FLAG', 'audience must be specified');
    if (!f.values.svid) throw new HeraldError('ERR_INVALID_ARGUMENT_FLAG', 'svid must be specified');
    const socket = agentSocketPath(f.values.socketPath, io.env);
    const res = await withClient(socket, (c) =>
      unaryCall<{ spiffe_id: string; claims: { fields: Record<string, never> } }>(c, 'ValidateJWTSVID', { audience: f.values.audience, svid: f.values.svid }, f.values.timeout),
    );
    if (f.values.output === 'json') printJson(io, { spiffe_id: res.spiffe_id, claims: fromStruct(res.claims) });
    else io.stdout.write(`SVID is valid.\nSPIFFE ID : ${res.spiffe_id}\nClaims    : ${JSON.stringify(fromStruct(res.claims))}\n`);
    return 0;
  },
};

export const healthcheck: Command = {
  synopsis: 'Determines agent health status',
  async run(args, io) {
    const f = flagsOrHelp({ socketPath: common.socketPath, shallow: { type: 'bool', usage: 'Perform a less stringent health check' }, verbose: { type: 'bool', usage: 'Print verbose information' } }, args, 'healthcheck', io);
    if (!f) return 0;
    const socket = agentSocketPath(f.values.socketPath, io.env);
    const Ctor = serviceClient(Services.health);
    const client = new Ctor(`unix:${socket}`, grpc.credentials.createInsecure()) as unknown as WorkloadClient;
    try {
      const res = await new Promise<{ status: string }>((resolve, reject) =>
        (client.Check as (r: object, md: unknown, o: object, cb: (e: Error | null, r: { status: string }) => void) => void)({ service: '' }, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (e, r) => (e ? reject(e) : resolve(r))),
      );
      if (res.status !== 'SERVING') {
        io.stderr.write('Agent is unhealthy: agent is not ready yet\n');
        return 1;
      }
      io.stdout.write('Agent is healthy.\n');
      return 0;
    } catch (err) {
      if (f.values.verbose) io.stderr.write(`Failed to check health: ${(err as Error).message}\n`);
      io.stderr.write('Agent is unhealthy: unable to determine health\n');
      return 1;
    } finally {
      client.close();
    }
  },
};

export const fetchJwtBundle: Command = {
  synopsis: 'Fetches the JWT bundles (JWKS per trust domain) from the Workload API',
  async run(args, io) {
    const f = flagsOrHelp(common, args, 'api fetch jwtbundle', io);
    if (!f) return 0;
    const socket = agentSocketPath(f.values.socketPath, io.env);
    const res = await withClient(socket, (c) => firstMessage<{ bundles: Record<string, Buffer> }>(c, 'FetchJWTBundles', f.values.timeout));
    const bundles = Object.fromEntries(Object.entries(res.bundles).map(([td, jwks]) => [td, JSON.parse(Buffer.from(jwks).toString())]));
    if (f.values.output === 'json') printJson(io, { bundles });
    else for (const [td, jwks] of Object.entries(bundles)) io.stdout.write(`bundle(${td}):\n${JSON.stringify(jwks, null, 2)}\n`);
    return 0;
  },
};

export const watch: Command = {
  synopsis: 'Attaches to the Workload API and prints updated X509-SVIDs as they are received',
  async run(args, io) {
    const f = flagsOrHelp({ socketPath: common.socketPath, output: common.output, count: { type: 'int', usage: 'Exit after this many updates (0: run until interrupted)', default: 0 } }, args, 'api watch', io);
    if (!f) return 0;
    const socket = agentSocketPath(f.values.socketPath, io.env);
    const client = workloadClient(socket);
    let received = 0;
    const started = performance.now();
    try {
      await new Promise<void>((resolve, reject) => {
        const call = (client.FetchX509SVID as (req: object, md: grpc.Metadata) => grpc.ClientReadableStream<{ svids: X509SvidMsg[] }>)({}, headerMetadata());
        const onSignal = (): void => call.cancel();
        process.once('SIGINT', onSignal);
        call.on('data', (m: { svids: X509SvidMsg[] }) => {
          received++;
          if (f.values.output === 'json') printJson(io, m);
          else {
            io.stdout.write(`Received ${m.svids.length} svid${m.svids.length === 1 ? '' : 's'} after ${(performance.now() - started).toFixed(3)}ms\n\n`);
            for (const s of m.svids) {
              const leaf = parseCertificatesDer(s.x509_svid)[0]!;
              io.stdout.write(`SPIFFE ID:\t\t${s.spiffe_id}\nSVID Valid After:\t${utc(leaf.validFrom)}\nSVID Valid Until:\t${utc(leaf.validTo)}\n\n`);
            }
          }
          if (f.values.count > 0 && received >= f.values.count) call.cancel();
        });
        call.on('error', (err: grpc.ServiceError) => {
          process.off('SIGINT', onSignal);
          if (err.code === grpc.status.CANCELLED) resolve();
          else reject(err);
        });
        call.on('end', () => resolve());
      });
      return 0;
    } finally {
      client.close();
    }
  },
};
