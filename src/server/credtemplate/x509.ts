// Certificates from a composed template (builder.ts): serial, validity and
// the to-be-signed bytes are prepared the same way for the inline path
// (signed by a Signer — a KeyManager key, possibly one that never leaves
// a KMS) and for the signing workers (signed with node:crypto by the
// worker's copy of an exportable key).
import { X509Certificate, sign as cryptoSign, type KeyObject } from 'node:crypto';
import type { SpiffeId } from '../../spiffe/id.ts';
import { X509SvidError } from '../../spiffe/errors.ts';
import type { TrustDomain } from '../../spiffe/trust-domain.ts';
import { certificateSignatureAlgorithm, type Signer } from '../../spiffe/signer.ts';
import { assembleCertificate, buildCaTbs, buildLeafTbs, caSigningInfo, type CaSigningInfo } from '../../spiffe/x509-leaf-der.ts';
import { NOT_BEFORE_BACKDATE_MS, randomSerial } from '../../spiffe/x509-template.ts';
import type { X509CaTemplate, X509SvidTemplate } from './builder.ts';

/**
 * A template as one string for a signing worker: cloning a string across
 * threads costs a fraction of cloning the objects it describes (issuance
 * sends one per SVID). Extra extensions' bytes travel as base64.
 */
export function serializeTemplate(t: X509SvidTemplate): string {
  if (t.extraExtensions.length === 0) return JSON.stringify(t);
  return JSON.stringify({ ...t, extraExtensions: t.extraExtensions.map((e) => ({ ...e, value: Buffer.from(e.value.buffer, e.value.byteOffset, e.value.byteLength).toString('base64') })) });
}

export function parseTemplate(text: string): X509SvidTemplate {
  const t = JSON.parse(text) as X509SvidTemplate & { extraExtensions: { oid: string; critical?: boolean; value: string | Uint8Array }[] };
  for (const e of t.extraExtensions) e.value = Buffer.from(e.value as string, 'base64');
  return t as X509SvidTemplate;
}

export interface SignedLeafDer {
  der: Buffer;
  serialHex: string;
  /** ms since epoch (whole seconds, as encoded). */
  notAfter: number;
}

export interface LeafRequest {
  /** The signing CA's certificate. */
  ca: X509Certificate;
  /** SubjectPublicKeyInfo DER of the SVID key (a CSR carries it). */
  spki: Buffer;
  id: SpiffeId | string;
  now: number;
  ttlMs: number;
  template: X509SvidTemplate;
}

interface PreparedLeaf {
  tbs: Buffer;
  info: CaSigningInfo;
  serialHex: string;
  notAfter: number;
}

/** Serial, validity (capped at the CA's notAfter) and TBSCertificate of an X509-SVID. */
function prepareLeaf(r: LeafRequest): PreparedLeaf {
  const id = r.id.toString();
  if (id.indexOf('/', 'spiffe://'.length) < 0) throw new X509SvidError('ERR_X509_SVID_LEAF_NO_PATH', 'x509svid: leaf certificate SPIFFE ID must have a path');
  const info = caSigningInfo(r.ca);
  const serialHex = randomSerial();
  const notAfter = Math.floor(Math.min(r.now + r.ttlMs, info.notAfter) / 1000) * 1000;
  const tbs = buildLeafTbs({
    ca: info,
    spki: r.spki,
    spiffeId: id,
    serialHex,
    notBefore: r.now - NOT_BEFORE_BACKDATE_MS,
    notAfter,
    subject: r.template.subject,
    dnsNames: r.template.dnsNames,
    extraExtensions: r.template.extraExtensions,
  });
  return { tbs, info, serialHex, notAfter };
}

/** Signs an X509-SVID with the CA's signer (the inline path; any KeyManager key). */
export async function signLeaf(r: LeafRequest & { signer: Signer }): Promise<SignedLeafDer> {
  const p = prepareLeaf(r);
  const signature = await r.signer.sign(p.tbs, p.info.hash);
  return { der: assembleCertificate(p.tbs, p.info.signatureAlgorithm, signature), serialHex: p.serialHex, notAfter: p.notAfter };
}

/** Signs an X509-SVID with a private key held in this thread (the signing workers). */
export function signLeafWithKey(r: LeafRequest & { privateKey: KeyObject }): SignedLeafDer {
  const p = prepareLeaf(r);
  const signature = cryptoSign(p.info.hash, p.tbs, r.privateKey);
  return { der: assembleCertificate(p.tbs, p.info.signatureAlgorithm, signature), serialHex: p.serialHex, notAfter: p.notAfter };
}

export interface CaRequest {
  trustDomain: TrustDomain;
  /** The new CA's public key. */
  publicKey: KeyObject;
  /** Signs the certificate: the CA's own key (self-signed) or the upstream CA's key with its certificate. */
  signer: Signer;
  issuer?: X509Certificate | undefined;
  notBefore: number;
  notAfter: number;
  template: X509CaTemplate;
}

/** A CA certificate from a composed template; notBefore backdated 10 s, notAfter capped at the issuer's. */
export async function signCaCertificate(r: CaRequest): Promise<X509Certificate> {
  const { algorithm, hash } = certificateSignatureAlgorithm(r.signer.publicKey);
  const tbs = buildCaTbs({
    spki: r.publicKey.export({ format: 'der', type: 'spki' }),
    issuer: r.issuer ? caSigningInfo(r.issuer) : undefined,
    signatureAlgorithm: algorithm,
    trustDomainId: r.trustDomain.idString(),
    serialHex: randomSerial(),
    notBefore: r.notBefore - NOT_BEFORE_BACKDATE_MS,
    notAfter: r.issuer ? Math.min(r.notAfter, Date.parse(r.issuer.validTo)) : r.notAfter,
    subject: r.template.subject,
    extraExtensions: r.template.extraExtensions,
  });
  return new X509Certificate(assembleCertificate(tbs, algorithm, await r.signer.sign(tbs, hash)));
}
