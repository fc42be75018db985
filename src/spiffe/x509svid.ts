// X509-SVIDs (go-spiffe svid/x509svid): a SPIFFE ID, its certificate chain
// (leaf first) and, when held by its owner, the private key. Loading an SVID
// enforces the leaf and chain rules of the X509-SVID standard.
import type { ErrorCodeSuffix } from '../common/error-registry.ts';
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { certificatesToPem, concatDer, parseCertificatesDer, parseCertificatesPem } from './bundle/der.ts';
import { X509SvidError } from './errors.ts';
import { SpiffeId } from './id.ts';
import { KeyUsage, isCa, keyUsageOf, uriSansOf } from './x509-ext.ts';

export interface X509Svid {
  readonly id: SpiffeId;
  /** Leaf first, then intermediates. */
  readonly certificates: readonly X509Certificate[];
  readonly privateKey?: KeyObject;
  readonly hint?: string;
}

function fail(code: ErrorCodeSuffix<'ERR_X509_SVID_'>, message: string, cause?: unknown): never {
  throw new X509SvidError(`ERR_X509_SVID_${code}`, `x509svid: ${message}`, cause === undefined ? {} : { cause });
}

/** The SPIFFE ID of a certificate: exactly one URI SAN, a valid SPIFFE ID. */
export function idFromCert(cert: X509Certificate): SpiffeId {
  const uris = uriSansOf(cert);
  if (uris.length === 0) fail('NO_URI_SAN', 'certificate contains no URI SAN');
  if (uris.length > 1) fail('MULTIPLE_URI_SANS', 'certificate contains more than one URI SAN');
  try {
    return SpiffeId.fromString(uris[0]!);
  } catch (err) {
    return fail('INVALID_SPIFFE_ID', `unable to parse SPIFFE ID in certificate: ${(err as Error).message}`, err);
  }
}

/** Leaf rules every verifier applies (go-spiffe Verify). */
export function checkLeaf(leaf: X509Certificate): SpiffeId {
  const id = idFromCert(leaf);
  if (id.isTrustDomainId()) fail('LEAF_NO_PATH', 'leaf certificate SPIFFE ID must have a path');
  if (isCa(leaf)) fail('LEAF_IS_CA', 'leaf certificate must not have CA flag set to true');
  const ku = keyUsageOf(leaf);
  if (ku !== undefined && ku & KeyUsage.keyCertSign) fail('LEAF_KEY_CERT_SIGN', 'leaf certificate must not have KeyCertSign as key usage');
  if (ku !== undefined && ku & KeyUsage.cRLSign) fail('LEAF_CRL_SIGN', 'leaf certificate must not have CRLSign as key usage');
  return id;
}

/** Rules for an SVID being loaded with its key (go-spiffe newSVID). */
function checkOwnSvid(certs: readonly X509Certificate[], key: KeyObject): SpiffeId {
  if (certs.length === 0) fail('NO_CERTIFICATES', 'no certificates found');
  const leaf = certs[0]!;
  const id = checkLeaf(leaf);
  const ku = keyUsageOf(leaf);
  if (ku === undefined || !(ku & KeyUsage.digitalSignature)) fail('LEAF_NO_DIGITAL_SIGNATURE', 'leaf certificate must have digitalSignature as key usage');
  certs.slice(1).forEach((c) => {
    if (!isCa(c)) fail('INTERMEDIATE_NOT_CA', 'signing certificate must have CA flag set to true');
    const cku = keyUsageOf(c);
    if (cku === undefined || !(cku & KeyUsage.keyCertSign)) fail('INTERMEDIATE_NO_KEY_CERT_SIGN', 'signing certificate must have keyCertSign as key usage');
  });
  if (!leaf.checkPrivateKey(key)) fail('KEY_MISMATCH', 'leaf certificate does not match private key');
  return id;
}

/** From concatenated DER certificates and a PKCS#8 DER key (the Workload API encoding). */
export function parseRaw(certsDer: Uint8Array, keyDer: Uint8Array, hint?: string): X509Svid {
  let certs: X509Certificate[];
  let key: KeyObject;
  try {
    certs = parseCertificatesDer(certsDer);
  } catch (err) {
    return fail('PARSE_CERTIFICATES', `cannot parse certificates: ${(err as Error).message}`, err);
  }
  try {
    key = createPrivateKey({ key: Buffer.from(keyDer), format: 'der', type: 'pkcs8' });
  } catch (err) {
    return fail('PARSE_KEY', `cannot parse PKCS#8 private key: ${(err as Error).message}`, err);
  }
  const id = checkOwnSvid(certs, key);
  return hint ? { id, certificates: certs, privateKey: key, hint } : { id, certificates: certs, privateKey: key };
}

/** From PEM CERTIFICATE blocks and a PEM PRIVATE KEY. */
export function parse(certsPem: string, keyPem: string): X509Svid {
  let certs: X509Certificate[];
  let key: KeyObject;
  try {
    certs = parseCertificatesPem(certsPem);
  } catch (err) {
    return fail('PARSE_CERTIFICATES', `cannot parse certificates: ${(err as Error).message}`, err);
  }
  try {
    key = createPrivateKey({ key: keyPem, format: 'pem' });
  } catch (err) {
    return fail('PARSE_KEY', `cannot parse private key: ${(err as Error).message}`, err);
  }
  return { id: checkOwnSvid(certs, key), certificates: certs, privateKey: key };
}

export async function load(certFile: string, keyFile: string): Promise<X509Svid> {
  return parse(await readFile(certFile, 'utf8'), await readFile(keyFile, 'utf8'));
}

export function marshal(svid: X509Svid): { certificates: string; privateKey: string } {
  if (!svid.privateKey) throw new TypeError('x509svid: marshal needs the private key');
  return { certificates: certificatesToPem(svid.certificates), privateKey: svid.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() };
}

export function marshalRaw(svid: X509Svid): { certificates: Buffer; privateKey: Buffer } {
  if (!svid.privateKey) throw new TypeError('x509svid: marshalRaw needs the private key');
  return { certificates: concatDer(svid.certificates), privateKey: svid.privateKey.export({ format: 'der', type: 'pkcs8' }) };
}

export { X509Certificate };
