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
import { assembleCertificate, buildCaTbs, caSigningInfo, leafTemplateDer, writeLeafTbs, type LeafParts } from '../../spiffe/x509-leaf-der.ts';
import { NOT_BEFORE_BACKDATE_MS, randomSerial, randomSerials } from '../../spiffe/x509-template.ts';
import type { X509CaTemplate, X509SvidTemplate } from './builder.ts';

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

/** Everything of a leaf but its key: serial, validity and the encoded template. */
export interface PlannedLeaf extends Omit<LeafParts, 'spki'> {
  serialHex: string;
}

/**
 * Serial, validity (capped at the CA's notAfter) and the template's DER
 * of an X509-SVID. `serial`: one of randomSerials(), so that a batch draws
 * its serials from the CSPRNG at once.
 */
export function planLeaf(r: Omit<LeafRequest, 'spki'>, serial: Buffer = randomSerials(1)[0]!): PlannedLeaf {
  const id = r.id.toString();
  if (id.indexOf('/', 'spiffe://'.length) < 0) throw new X509SvidError('ERR_X509_SVID_LEAF_NO_PATH', 'x509svid: leaf certificate SPIFFE ID must have a path');
  const info = caSigningInfo(r.ca);
  return {
    ...leafTemplateDer(id, r.template),
    serial,
    serialHex: serial.toString('hex'),
    notBefore: r.now - NOT_BEFORE_BACKDATE_MS,
    notAfter: Math.floor(Math.min(r.now + r.ttlMs, info.notAfter) / 1000) * 1000,
  };
}

/** Signs an X509-SVID with the CA's signer (the inline path; any KeyManager key). */
export async function signLeaf(r: LeafRequest & { signer: Signer }): Promise<SignedLeafDer> {
  const plan = planLeaf(r);
  const info = caSigningInfo(r.ca);
  const tbs = writeLeafTbs(info, { ...plan, spki: r.spki });
  const signature = await r.signer.sign(tbs, info.hash);
  return { der: assembleCertificate(tbs, info.signatureAlgorithm, signature), serialHex: plan.serialHex, notAfter: plan.notAfter };
}

/** Signs a planned X509-SVID with a private key held in this thread (the signing workers); the leaf's DER. */
export function signLeafWithKey(ca: X509Certificate, privateKey: KeyObject, parts: LeafParts): Buffer {
  const info = caSigningInfo(ca);
  const tbs = writeLeafTbs(info, parts);
  return assembleCertificate(tbs, info.signatureAlgorithm, cryptoSign(info.hash, tbs, privateKey));
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
