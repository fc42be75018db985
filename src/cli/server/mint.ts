// `herald-server x509 mint` and `jwt mint`: SVIDs minted by the server
// for a SPIFFE ID, without an entry (admin only).
import { generateKeyPairSync } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/fs.ts';
import { Services } from '../../common/grpc/protos.ts';
import { createCsr } from '../../spiffe/csr.ts';
import { SpiffeId } from '../../spiffe/id.ts';
import { HeraldError, errorMessage } from '../../common/errors.ts';
import { flagsOrHelp, type Command } from '../command.ts';
import { callUnary } from '../grpc-client.ts';
import { adminClients, adminFlags, outputFormat, parseSpiffeId, printJson, requireFlag } from './common.ts';
import { printProto, rpc, SpireCliError } from './spire-output.ts';
import { pemOfDer } from './format.ts';

function parseId(s: string): SpiffeId {
  try {
    return SpiffeId.fromString(s);
  } catch (err) {
    throw new HeraldError('ERR_INVALID_ARGUMENT_FLAG', `-spiffeID "${s}": ${errorMessage(err)}`, { cause: err });
  }
}

export const x509Mint: Command = {
  synopsis: 'Mints an X509-SVID',
  async run(args, io) {
    const f = flagsOrHelp(
      {
        ...adminFlags,
        spiffeID: { type: 'string', usage: 'SPIFFE ID of the X509-SVID' },
        ttl: { type: 'duration', usage: 'TTL of the X509-SVID', default: 0 },
        dns: { type: 'strings', usage: 'DNS name that will be included in SVID. Can be used more than once.' },
        write: { type: 'string', usage: 'Directory to write output to instead of stdout' },
      },
      args,
      'x509 mint',
      io,
    );
    if (!f) return 0;
    const id = parseId(requireFlag(f.values.spiffeID, 'id'));
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const csr = createCsr(privateKey, { uris: [id.toString()] });
    const { clients: [svid, bundle], close } = adminClients(f.values.socketPath, Services.svid, Services.bundle);
    try {
      const res = await callUnary<{ svid: { cert_chain: Buffer[]; expires_at: string } }>(svid!, 'MintX509SVID', { csr, ttl: Math.round(f.values.ttl / 1000) });
      const roots = await callUnary<{ x509_authorities: { asn1: Buffer }[] }>(bundle!, 'GetBundle', {});
      const svidPem = pemOfDer(res.svid.cert_chain);
      const keyPem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
      const bundlePem = pemOfDer(roots.x509_authorities.map((a) => a.asn1));
      if (outputFormat(f.values.output) === 'json') {
        printJson(io, { x509_svid: res.svid.cert_chain, private_key: privateKey.export({ format: 'der', type: 'pkcs8' }), root_cas: roots.x509_authorities.map((a) => a.asn1) });
        return 0;
      }
      if (f.values.write) {
        await mkdir(f.values.write, { recursive: true });
        await writeFileAtomic(join(f.values.write, 'svid.pem'), svidPem, { mode: 0o644 });
        await writeFileAtomic(join(f.values.write, 'key.pem'), keyPem, { mode: 0o600 });
        await writeFileAtomic(join(f.values.write, 'bundle.pem'), bundlePem, { mode: 0o644 });
        io.stdout.write(`X509-SVID written to ${join(f.values.write, 'svid.pem')}\nPrivate key written to ${join(f.values.write, 'key.pem')}\nRoot CAs written to ${join(f.values.write, 'bundle.pem')}\n`);
      } else {
        io.stdout.write(`X509-SVID:\n${svidPem}\nPrivate key:\n${keyPem}\nRoot CAs:\n${bundlePem}`);
      }
      return 0;
    } finally {
      close();
    }
  },
};

export const jwtMint: Command = {
  synopsis: 'Mints a JWT-SVID',
  async run(args, io) {
    const f = flagsOrHelp(
      {
        ...adminFlags,
        spiffeID: { type: 'string', usage: 'SPIFFE ID of the JWT-SVID' },
        audience: { type: 'strings', usage: 'Audience claim that will be included in the SVID. Can be used more than once.' },
        ttl: { type: 'duration', usage: 'TTL of the JWT-SVID', default: 0 },
        write: { type: 'string', usage: 'File to write token to instead of stdout' },
      },
      args,
      'jwt mint',
      io,
    );
    if (!f) return 0;
    const id = parseId(requireFlag(f.values.spiffeID, 'id'));
    if (f.values.audience.length === 0) throw new HeraldError('ERR_INVALID_ARGUMENT_FLAG', 'at least one audience must be provided');
    const { clients: [svid], close } = adminClients(f.values.socketPath, Services.svid);
    try {
      const res = await callUnary<{ svid: { token: string } }>(svid!, 'MintJWTSVID', {
        id: { trust_domain: id.trustDomain.name, path: id.path },
        audience: f.values.audience,
        ttl: Math.round(f.values.ttl / 1000),
      });
      if (outputFormat(f.values.output) === 'json') printJson(io, res);
      else if (f.values.write) {
        await writeFileAtomic(f.values.write, res.svid.token + '\n', { mode: 0o600 });
        io.stdout.write(`JWT-SVID written to ${f.values.write}\n`);
      } else io.stdout.write(res.svid.token + '\n');
      return 0;
    } finally {
      close();
    }
  },
};

export const tokenGenerate: Command = {
  synopsis: 'Generates a join token',
  async run(args, io) {
    const f = flagsOrHelp(
      {
        ...adminFlags,
        ttl: { type: 'int', usage: 'Token TTL in seconds', default: 600 },
        spiffeID: { type: 'string', usage: 'Additional SPIFFE ID to assign the token owner (optional)' },
      },
      args,
      'generate',
      io,
    );
    if (!f) return 0;
    const output = outputFormat(f.values.output);
    // SPIRE (token/generate.go): the ID as go-spiffe parses it, the TTL as an int32.
    const agentId = f.values.spiffeID ? parseSpiffeId(f.values.spiffeID) : undefined;
    if (f.values.ttl > 2 ** 31 - 1 || f.values.ttl < -(2 ** 31)) throw new SpireCliError(`invalid value for TTL: value ${f.values.ttl} overflows int32`);
    const { clients: [agent], close } = adminClients(f.values.socketPath, Services.agent);
    try {
      const res = await rpc(callUnary<{ value: string; expires_at: string }>(agent!, 'CreateJoinToken', { ttl: f.values.ttl, ...(agentId ? { agent_id: agentId } : {}) }));
      if (output === 'json') printProto(io, 'spire.api.types.JoinToken', res);
      else io.stdout.write(`Token: ${res.value}\n${agentId ? '' : 'Warning: Missing SPIFFE ID.\n'}`);
      return 0;
    } finally {
      close();
    }
  },
};
