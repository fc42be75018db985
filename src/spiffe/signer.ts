// A signing key seen only through its public half and a sign operation
// (Go's crypto.Signer): what certificates and JWTs are signed with, so a
// key may live where it can never be exported (a KMS, an HSM, a TPM).
import { createPublicKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { seq, oid } from './der-writer.ts';

export type SignatureHash = 'sha256' | 'sha384' | 'sha512';

export interface Signer {
  readonly publicKey: KeyObject;
  /**
   * Signs `data` hashed with `hash`. ECDSA signatures are DER
   * (Ecdsa-Sig-Value, as X.509 carries them); RSA is PKCS#1 v1.5.
   */
  sign(data: Uint8Array, hash: SignatureHash): Promise<Buffer>;
}

/** A signer whose private key can be exported (PKCS#8 DER) — only to hand it to signing worker threads. */
export interface ExportableSigner extends Signer {
  exportPkcs8(): Buffer;
}

/** A signer over a node:crypto private key held in this process. */
export function keyObjectSigner(privateKey: KeyObject, publicKey?: KeyObject): ExportableSigner {
  const pub = publicKey ?? createPublicKey(privateKey);
  return {
    publicKey: pub,
    sign: async (data, hash) => cryptoSign(hash, data, privateKey),
    exportPkcs8: () => privateKey.export({ format: 'der', type: 'pkcs8' }),
  };
}

const OID = {
  ecdsaSha256: '1.2.840.10045.4.3.2',
  ecdsaSha384: '1.2.840.10045.4.3.3',
  rsaSha256: '1.2.840.113549.1.1.11',
} as const;

export interface SignatureAlgorithm {
  /** The AlgorithmIdentifier DER for certificates this key signs. */
  algorithm: Buffer;
  hash: 'sha256' | 'sha384';
}

/** The certificate signature algorithm for a key: ECDSA P-256 → SHA-256, P-384 → SHA-384, RSA → PKCS#1 v1.5 SHA-256. */
export function certificateSignatureAlgorithm(key: KeyObject): SignatureAlgorithm {
  if (key.asymmetricKeyType === 'rsa') return { algorithm: seq(oid(OID.rsaSha256), Buffer.from([0x05, 0x00])), hash: 'sha256' };
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== 'ec' || (curve !== 'prime256v1' && curve !== 'secp384r1')) {
    throw new TypeError(`x509svid: unsupported key ${String(key.asymmetricKeyType)} ${String(curve ?? '')}`.trimEnd());
  }
  return curve === 'secp384r1' ? { algorithm: seq(oid(OID.ecdsaSha384)), hash: 'sha384' } : { algorithm: seq(oid(OID.ecdsaSha256)), hash: 'sha256' };
}

/** An ECDSA DER signature (SEQUENCE { r INTEGER, s INTEGER }) as JOSE's fixed-size r‖s. */
export function ecdsaDerToJose(der: Buffer, size: number): Buffer {
  let off = 2;
  if (der[1]! & 0x80) off = 2 + (der[1]! & 0x7f);
  const int = (at: number): { value: Buffer; end: number } => {
    if (der[at] !== 0x02) throw new TypeError('ecdsa: malformed signature');
    const len = der[at + 1]!;
    let value = der.subarray(at + 2, at + 2 + len);
    while (value.length > size && value[0] === 0) value = value.subarray(1);
    if (value.length > size) throw new TypeError('ecdsa: malformed signature');
    return { value, end: at + 2 + len };
  };
  const r = int(off);
  const s = int(r.end);
  const out = Buffer.alloc(2 * size);
  r.value.copy(out, size - r.value.length);
  s.value.copy(out, 2 * size - s.value.length);
  return out;
}
