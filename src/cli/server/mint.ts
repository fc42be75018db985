// `herald-server x509 mint` and `jwt mint`: SVIDs minted by the server
// for a SPIFFE ID, without an entry (admin only).
import { generateKeyPairSync } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../common/fs.ts';
import { Services } from '../../common/grpc/protos.ts';
import { createCsr } from '../../spiffe/csr.ts';
import { type Command } from '../command.ts';
import { callUnary } from '../grpc-client.ts';
import { adminClients, adminFlags, outputFormat, parseSpiffeId } from './common.ts';
import { goFsError, printProto, printStruct, rpc, SpireCliError, spireFlags } from './spire-output.ts';
import { pemBlock } from '../../spiffe/pem.ts';


/** ttlToSeconds: a duration rounded up to whole seconds, as an int32. */
function ttlSeconds(ms: number): number {
  const s = Math.ceil(ms / 1000);
  if (s > 2 ** 31 - 1) throw new SpireCliError(`invalid value for TTL: value ${s} overflows int32`);
  return s;
}

async function writeOrFail(path: string, data: string, mode: number, what: string): Promise<void> {
  try {
    await writeFileAtomic(path, data, { mode });
  } catch (err) {
    throw new SpireCliError(`unable to write ${what}: ${goFsError(err, path)}`, { cause: err });
  }
}

export const x509Mint: Command = {
  synopsis: 'Mints an X509-SVID',
  async run(args, io) {
    const f = spireFlags(
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
      'server',
    );
    if (!f) return 0;
    const output = outputFormat(f.values.output);
    if (!f.values.spiffeID) throw new SpireCliError('spiffeID must be specified');
    const id = parseSpiffeId(f.values.spiffeID);
    const ttl = ttlSeconds(f.values.ttl);
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const csr = createCsr(privateKey, { uris: [`spiffe://${id.trust_domain}${id.path}`], ...(f.values.dns.length > 0 ? { dnsNames: [...f.values.dns] } : {}) });
    const { clients: [svid, bundle], close } = adminClients(f.values.socketPath, Services.svid, Services.bundle);
    try {
      const res = await rpc(callUnary<{ svid: { cert_chain: Buffer[]; expires_at: string } }>(svid!, 'MintX509SVID', { csr, ttl }), 'unable to mint SVID');
      if (res.svid.cert_chain.length === 0) throw new SpireCliError('server response missing SVID chain');
      const roots = await rpc(callUnary<{ x509_authorities: { asn1: Buffer }[] }>(bundle!, 'GetBundle', {}), 'unable to get bundle');
      if (roots.x509_authorities.length === 0) throw new SpireCliError('server response missing X509 Authorities');
      const eol = Number(res.svid.expires_at) * 1000;
      if (eol - Date.now() < f.values.ttl) io.stderr.write(`X509-SVID lifetime was capped shorter than specified ttl; expires "${new Date(eol).toISOString().replace(/\.\d+Z$/, 'Z')}"\n`);
      const keyDer = privateKey.export({ format: 'der', type: 'pkcs8' });
      const rootCas = roots.x509_authorities.map((a) => a.asn1);
      if (!f.values.write) {
        if (output === 'json') printStruct(io, [{ x509_svid: res.svid.cert_chain.map((c) => c.toString('base64')), private_key: keyDer.toString('base64'), root_cas: rootCas.map((c) => c.toString('base64')) }]);
        else io.stdout.write(`X509-SVID:\n${res.svid.cert_chain.map((c) => pemBlock('CERTIFICATE', c)).join('')}\nPrivate key:\n${pemBlock('PRIVATE KEY', keyDer)}\nRoot CAs:\n${rootCas.map((c) => pemBlock('CERTIFICATE', c)).join('')}\n`);
        return 0;
      }
      const dir = f.values.write;
      // Herald creates the directory (spire-server requires it to exist).
      await mkdir(dir, { recursive: true });
      await writeOrFail(join(dir, 'svid.pem'), res.svid.cert_chain.map((c) => pemBlock('CERTIFICATE', c)).join(''), 0o644, 'SVID');
      io.stdout.write(`X509-SVID written to ${join(dir, 'svid.pem')}\n`);
      await writeOrFail(join(dir, 'key.pem'), pemBlock('PRIVATE KEY', keyDer), 0o600, 'key');
      io.stdout.write(`Private key written to ${join(dir, 'key.pem')}\n`);
      await writeOrFail(join(dir, 'bundle.pem'), rootCas.map((c) => pemBlock('CERTIFICATE', c)).join(''), 0o644, 'bundle');
      io.stdout.write(`Root CAs written to ${join(dir, 'bundle.pem')}\n`);
      return 0;
    } finally {
      close();
    }
  },
};

export const jwtMint: Command = {
  synopsis: 'Mints a JWT-SVID',
  async run(args, io) {
    const f = spireFlags(
      {
        ...adminFlags,
        spiffeID: { type: 'string', usage: 'SPIFFE ID of the JWT-SVID' },
        ttl: { type: 'duration', usage: 'TTL of the JWT-SVID', default: 0 },
        audience: { type: 'strings', usage: 'Audience claim that will be included in the SVID. Can be used more than once.' },
        write: { type: 'string', usage: 'File to write token to instead of stdout' },
      },
      args,
      'jwt mint',
      io,
      'server',
    );
    if (!f) return 0;
    const output = outputFormat(f.values.output);
    if (!f.values.spiffeID) throw new SpireCliError('spiffeID must be specified');
    if (f.values.audience.length === 0) throw new SpireCliError('at least one audience must be specified');
    const id = parseSpiffeId(f.values.spiffeID);
    const ttl = ttlSeconds(f.values.ttl);
    const { clients: [svid], close } = adminClients(f.values.socketPath, Services.svid);
    try {
      const res = await rpc(callUnary<{ svid: { token: string } }>(svid!, 'MintJWTSVID', { id, audience: f.values.audience, ttl }), 'unable to mint SVID');
      const token = res.svid.token;
      if (!token) throw new SpireCliError('server response missing token');
      try {
        const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { exp?: number };
        if (typeof claims.exp !== 'number') throw new Error('no expiry claim');
        if (claims.exp * 1000 - Date.now() < f.values.ttl) io.stderr.write(`JWT-SVID lifetime was capped shorter than specified ttl; expires "${new Date(claims.exp * 1000).toISOString().replace(/\.\d+Z$/, 'Z')}"\n`);
      } catch (err) {
        io.stderr.write(`Unable to determine JWT-SVID lifetime: ${(err as Error).message}\n`);
      }
      if (!f.values.write) {
        if (output === 'json') printProto(io, 'spire.api.server.svid.v1.MintJWTSVIDResponse', res);
        else io.stdout.write(token + '\n');
        return 0;
      }
      await writeOrFail(f.values.write, token, 0o600, 'token');
      io.stdout.write(`JWT-SVID written to ${f.values.write}\n`);
      return 0;
    } finally {
      close();
    }
  },
};

export const tokenGenerate: Command = {
  synopsis: 'Generates a join token',
  async run(args, io) {
    const f = spireFlags(
      {
        ...adminFlags,
        ttl: { type: 'int', usage: 'Token TTL in seconds', default: 600 },
        spiffeID: { type: 'string', usage: 'Additional SPIFFE ID to assign the token owner (optional)' },
      },
      args,
      'generate',
      io,
      'server',
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
