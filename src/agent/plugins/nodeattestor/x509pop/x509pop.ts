// x509pop, agent side (SPIRE plugin/agent/nodeattestor/x509pop): sends the
// certificate chain, then proves it holds the key by signing
// sha256(server nonce || own nonce) (RSA: PSS with the largest salt, as Go
// signs). Wire format as SPIRE's, so the agent attests to a SPIRE server's
// x509pop plugin as well as to Herald's.
import { X509Certificate, constants, createPrivateKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { HeraldError, errorMessage } from '../../../../common/errors.ts';
import { parseCertificatesPem } from '../../../../spiffe/bundle/der.ts';
import type { NodeAttestorClient } from '../types.ts';

const NONCE_LEN = 32;

export interface X509PopPaths {
  readonly privateKeyPath: string;
  readonly certificatePath: string;
  readonly intermediatesPath?: string | undefined;
}

interface Material {
  readonly key: KeyObject;
  readonly chain: readonly X509Certificate[];
}

function configError(message: string, cause?: unknown): HeraldError {
  return new HeraldError('ERR_CONFIG_X509POP', `NodeAttestor "x509pop": ${message}`, cause === undefined ? undefined : { cause });
}

async function readPem(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw configError(`cannot read ${what} ${path}: ${errorMessage(err)}`, err);
  }
}

/** Reads and checks the key pair: the key must be the leaf certificate's. */
export async function loadX509PopMaterial(p: X509PopPaths): Promise<Material> {
  let key: KeyObject;
  try {
    key = createPrivateKey(await readPem(p.privateKeyPath, 'private_key_path'));
  } catch (err) {
    if (err instanceof HeraldError) throw err;
    throw configError(`private_key_path ${p.privateKeyPath} holds no usable private key: ${errorMessage(err)}`, err);
  }
  const certs = (path: string, what: string) =>
    readPem(path, what).then((pem) => {
      try {
        const c = parseCertificatesPem(pem);
        if (c.length === 0) throw new Error('no CERTIFICATE block');
        return c;
      } catch (err) {
        throw configError(`${what} ${path}: ${errorMessage(err)}`, err);
      }
    });
  const leafFile = await certs(p.certificatePath, 'certificate_path');
  const intermediates = p.intermediatesPath === undefined ? [] : await certs(p.intermediatesPath, 'intermediates_path');
  const leaf = leafFile[0]!;
  if (!leaf.checkPrivateKey(key)) throw configError(`the private key in ${p.privateKeyPath} does not match the certificate in ${p.certificatePath}`);
  const type = key.asymmetricKeyType;
  if (type !== 'ec' && type !== 'rsa') throw configError(`unsupported key type ${String(type)} (ECDSA or RSA)`);
  return { key, chain: [...leafFile, ...intermediates] };
}

/** Go's big.Int.Bytes(): big-endian, no leading zeros. */
function minimal(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i);
}

/** The challenge response for `challenge` (SPIRE's x509pop.CalculateResponse). */
export function x509PopResponse(key: KeyObject, challenge: Buffer): Buffer {
  let c: { ecdsa_signature?: { nonce?: string }; rsa_signature?: { nonce?: string } };
  try {
    c = JSON.parse(challenge.toString('utf8'));
  } catch (err) {
    throw new HeraldError('ERR_ATTESTATION_FAILED_CHALLENGE', `x509pop: unable to unmarshal challenge: ${errorMessage(err)}`);
  }
  const rsa = key.asymmetricKeyType === 'rsa';
  const asked = rsa ? c.rsa_signature : c.ecdsa_signature;
  if (!asked || typeof asked.nonce !== 'string') {
    throw new HeraldError('ERR_ATTESTATION_FAILED_CHALLENGE', `x509pop: expecting ${rsa ? 'RSA' : 'ECDSA'} challenge`);
  }
  const theirs = Buffer.from(asked.nonce, 'base64');
  if (theirs.length !== NONCE_LEN) throw new HeraldError('ERR_ATTESTATION_FAILED_CHALLENGE', 'x509pop: invalid challenge nonce');
  const ours = randomBytes(NONCE_LEN);
  const signed = Buffer.concat([theirs, ours]);
  if (rsa) {
    const signature = sign('sha256', signed, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_MAX_SIGN });
    return Buffer.from(JSON.stringify({ rsa_signature: { nonce: ours.toString('base64'), signature: signature.toString('base64') } }));
  }
  const rs = sign('sha256', signed, { key, dsaEncoding: 'ieee-p1363' });
  const half = rs.length / 2;
  return Buffer.from(
    JSON.stringify({ ecdsa_signature: { nonce: ours.toString('base64'), r: minimal(rs.subarray(0, half)).toString('base64'), s: minimal(rs.subarray(half)).toString('base64') } }),
  );
}

/** Reads the files on every attestation, so a renewed node certificate is picked up. */
export function x509PopAttestor(paths: X509PopPaths): NodeAttestorClient {
  let key: KeyObject | undefined;
  return {
    type: 'x509pop',
    canReattest: true,
    async attestationData() {
      const m = await loadX509PopMaterial(paths);
      key = m.key;
      return Buffer.from(JSON.stringify({ certificates: m.chain.map((c) => c.raw.toString('base64')) }));
    },
    async answer(challenge) {
      if (!key) throw new HeraldError('ERR_ATTESTATION_FAILED_CHALLENGE', 'x509pop: challenge before attestation data');
      return x509PopResponse(key, challenge);
    },
  };
}
