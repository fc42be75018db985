// x509pop node attestation (SPIRE plugin/server/nodeattestor/x509pop,
// "private" mode): the agent sends its certificate chain, which must chain
// to a configured CA bundle; the server sends a nonce; the agent proves it
// holds the key by signing sha256(server nonce || agent nonce) — i.e. an
// ECDSA or RSA-PSS/SHA-256 signature over the two nonces. Wire format and
// agent IDs as SPIRE's, so a spire-agent configured with x509pop works.
import { X509Certificate, constants, createHash, randomBytes, verify } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { HeraldError, errorMessage } from '../../../../common/errors.ts';
import type { Selector } from '../../../../common/selector.ts';
import { parseCertificatesPem, strictCertificate } from '../../../../spiffe/bundle/der.ts';
import { SpiffeId } from '../../../../spiffe/id.ts';
import type { TrustDomain } from '../../../../spiffe/trust-domain.ts';
import { KeyUsage, isCa, keyUsageOf } from '../../../../spiffe/x509-ext.ts';
import type { AttestationResult, NodeAttestor } from '../types.ts';

export const X509POP = 'x509pop';
const NONCE_LEN = 32;

function invalid(message: string): never {
  throw new HeraldError('ERR_INVALID_ARGUMENT_X509POP', `x509pop: ${message}`);
}
function denied(message: string): never {
  throw new HeraldError('ERR_PERMISSION_DENIED_X509POP', `x509pop: ${message}`);
}

const COORD_BYTES: Record<string, number> = { prime256v1: 32, secp384r1: 48, secp521r1: 66 };

/** Go's (r, s) big-endian integers as a fixed-width r||s signature. */
function ecdsaSignature(curve: string | undefined, r: Buffer, s: Buffer): Buffer {
  const n = COORD_BYTES[curve ?? ''];
  if (!n || r.length > n || s.length > n) denied(`unsupported or malformed ECDSA response for curve ${String(curve)}`);
  const out = Buffer.alloc(2 * n);
  r.copy(out, n - r.length);
  s.copy(out, 2 * n - s.length);
  return out;
}

/** SPIRE's fingerprint: hex SHA-1 of the certificate DER. */
export function fingerprint(cert: X509Certificate): string {
  return createHash('sha1').update(cert.raw).digest('hex');
}

/**
 * One certificate of the attestation data: DER only, as SPIRE's
 * x509.ParseCertificate (Node would also take PEM, and OpenSSL's message for
 * bytes that are neither names PEM: "no start line").
 */
function derCertificate(der: Buffer, what: string): X509Certificate {
  if (der[0] !== 0x30) invalid(`unable to parse certificate: ${what} is not a DER-encoded X.509 certificate (it does not start with a SEQUENCE)`);
  try {
    return strictCertificate(der);
  } catch (err) {
    invalid(`unable to parse certificate: ${what} is not a valid DER-encoded X.509 certificate: ${errorMessage(err)}`);
  }
}

const b64 = (v: unknown, what: string): Buffer => {
  if (typeof v !== 'string') invalid(`${what} is missing`);
  return Buffer.from(v, 'base64');
};

export class X509PopAttestor implements NodeAttestor {
  readonly name = X509POP;
  readonly #td: TrustDomain;
  readonly #roots: X509Certificate[];
  readonly #now: () => number;

  private constructor(td: TrustDomain, roots: X509Certificate[], now: () => number) {
    this.#td = td;
    this.#roots = roots;
    this.#now = now;
  }

  static async load(td: TrustDomain, caBundlePaths: readonly string[], now: () => number): Promise<X509PopAttestor> {
    const roots: X509Certificate[] = [];
    for (const path of caBundlePaths) {
      try {
        roots.push(...parseCertificatesPem(await readFile(path, 'utf8')));
      } catch (err) {
        throw new HeraldError('ERR_CONFIG_X509POP', `NodeAttestor "x509pop": cannot load ca_bundle_path ${path}: ${errorMessage(err)}`, { cause: err });
      }
    }
    if (roots.length === 0) throw new HeraldError('ERR_CONFIG_X509POP', 'NodeAttestor "x509pop": the CA bundle holds no certificate');
    return new X509PopAttestor(td, roots, now);
  }

  async attest(payload: Buffer, challenge: (data: Buffer) => Promise<Buffer>): Promise<AttestationResult> {
    let data: { certificates?: unknown };
    try {
      data = JSON.parse(payload.toString('utf8'));
    } catch (err) {
      invalid(`failed to unmarshal data: ${errorMessage(err)}`);
    }
    if (!Array.isArray(data.certificates) || data.certificates.length === 0) invalid('no certificate to attest');
    const certs = data.certificates.map((c, i) => derCertificate(b64(c, `certificates[${i}]`), `certificates[${i}]`));
    const leaf = certs[0]!;
    const chain = this.#verify(leaf, certs.slice(1));
    const ku = keyUsageOf(leaf);
    if (ku !== undefined && (ku & KeyUsage.digitalSignature) === 0) denied('certificate not intended for digital signature use');

    const key = leaf.publicKey;
    const isRsa = key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss';
    if (!isRsa && key.asymmetricKeyType !== 'ec') denied(`unsupported public key type ${String(key.asymmetricKeyType)}`);
    const nonce = randomBytes(NONCE_LEN);
    const field = isRsa ? 'rsa_signature' : 'ecdsa_signature';
    const replyBytes = await challenge(Buffer.from(JSON.stringify({ [field]: { nonce: nonce.toString('base64') } })));
    let reply: Record<string, Record<string, unknown> | undefined>;
    try {
      reply = JSON.parse(replyBytes.toString('utf8'));
    } catch (err) {
      invalid(`unable to unmarshal challenge response: ${errorMessage(err)}`);
    }
    const r = reply[field];
    if (!r) denied(`expecting ${isRsa ? 'RSA' : 'ECDSA'} response`);
    const theirs = b64(r.nonce, 'response nonce');
    if (theirs.length !== NONCE_LEN) denied('invalid response nonce');
    // SPIRE signs sha256(nonces) as the digest, which is a SHA-256 signature over the nonces.
    const signed = Buffer.concat([nonce, theirs]);
    let ok: boolean;
    try {
      ok = isRsa
        ? verify('sha256', signed, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, b64(r.signature, 'signature'))
        : verify('sha256', signed, { key, dsaEncoding: 'ieee-p1363' }, ecdsaSignature(key.asymmetricKeyDetails?.namedCurve, b64(r.r, 'r'), b64(r.s, 's')));
    } catch (err) {
      if (err instanceof HeraldError) throw err;
      denied(`challenge response verification failed: ${errorMessage(err)}`);
    }
    if (!ok) denied('challenge response verification failed');

    const selectors: Selector[] = [];
    const cn = /(?:^|\n)CN=([^\n]*)/.exec(leaf.subject)?.[1];
    if (cn) selectors.push({ type: X509POP, value: `subject:cn:${cn}` });
    for (const c of chain.slice(1)) selectors.push({ type: X509POP, value: `ca:fingerprint:${fingerprint(c)}` });
    const serial = leaf.serialNumber.toLowerCase().replace(/^0+(?=.)/, '');
    selectors.push({ type: X509POP, value: `serialnumber:${serial.length % 2 ? `0${serial}` : serial}` });
    return { agentId: SpiffeId.fromSegments(this.#td, 'spire', 'agent', X509POP, fingerprint(leaf)), selectors, canReattest: true };
  }

  /** leaf → intermediates → a configured root, every certificate valid now. Returns the chain. */
  #verify(leaf: X509Certificate, intermediates: X509Certificate[]): X509Certificate[] {
    const now = this.#now();
    const valid = (c: X509Certificate) => Date.parse(c.validFrom) <= now && now <= Date.parse(c.validTo);
    const chain = [leaf];
    let cur = leaf;
    for (let depth = 0; depth < 8; depth++) {
      if (!valid(cur)) denied(`certificate verification failed: ${cur.subject.replace(/\n/g, ', ')} is not valid at this time`);
      const root = this.#roots.find((r) => cur.checkIssued(r) && cur.verify(r.publicKey));
      if (root) {
        if (!valid(root)) denied('certificate verification failed: the CA certificate is not valid at this time');
        return root.raw.equals(cur.raw) ? chain : [...chain, root];
      }
      const next = intermediates.find((i) => isCa(i) && cur.checkIssued(i) && cur.verify(i.publicKey));
      if (!next) break;
      chain.push(next);
      cur = next;
    }
    denied('certificate verification failed: certificate signed by unknown authority');
  }
}
