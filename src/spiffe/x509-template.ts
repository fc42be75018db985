// Certificate profiles (SPIRE pkg/server/credtemplate/builder.go and the
// seed-000 leaf): the CA certificate of a trust domain and X509-SVID leaves,
// both written as DER and signed with node:crypto (x509-leaf-der.ts).
import { X509Certificate, createHash, randomBytes, type KeyObject } from 'node:crypto';
import { X509SvidError } from './errors.ts';
import { buildCaCertificateDer, buildLeafCertificateDer, caSigningInfo } from './x509-leaf-der.ts';
import type { SpiffeId } from './id.ts';
import type { TrustDomain } from './trust-domain.ts';

/** Clock-skew cushion on notBefore (SPIRE: 10 s). */
export const NOT_BEFORE_BACKDATE_MS = 10_000;

export interface CertSubject {
  country?: readonly string[];
  organization?: readonly string[];
  commonName?: string;
}

export const DEFAULT_CA_SUBJECT: CertSubject = { country: ['US'], organization: ['SPIFFE'] };
export const DEFAULT_SVID_SUBJECT: CertSubject = { country: ['US'], organization: ['SPIRE'] };

/** A random serial in [1, 2^128 − 1], as lowercase hex. */
export function randomSerial(): string {
  const b = randomBytes(16);
  b[0]! &= 0x7f; // positive
  if (b.every((x) => x === 0)) b[15] = 1;
  return b.toString('hex');
}

/** x500UniqueIdentifier: the first 16 bytes of SHA-256(SPIFFE ID), hex (SPIRE's uniqueid composer). */
export function uniqueIdFor(id: SpiffeId): string {
  return createHash('sha256').update(id.toString()).digest().subarray(0, 16).toString('hex');
}

function clampNotAfter(notAfter: number, issuer?: X509Certificate): number {
  if (!issuer) return notAfter;
  return Math.min(notAfter, Date.parse(issuer.validTo));
}

export interface CreateCaOptions {
  trustDomain: TrustDomain;
  publicKey: KeyObject;
  /** Signs the certificate: the CA's own key (self-signed) or the upstream CA's key. */
  signer: { privateKey: KeyObject; certificate?: X509Certificate };
  subject?: CertSubject;
  notBefore: number;
  notAfter: number;
}

/** A CA certificate: URI SAN = trust domain ID, CA:TRUE, keyCertSign|cRLSign, SKI/AKI. */
export async function createCaCertificate(opts: CreateCaOptions): Promise<X509Certificate> {
  const subject = opts.subject ?? DEFAULT_CA_SUBJECT;
  const der = buildCaCertificateDer({
    spki: opts.publicKey.export({ format: 'der', type: 'spki' }),
    signerKey: opts.signer.privateKey,
    issuer: opts.signer.certificate,
    trustDomainId: opts.trustDomain.idString(),
    serialHex: randomSerial(),
    notBefore: opts.notBefore - NOT_BEFORE_BACKDATE_MS,
    notAfter: clampNotAfter(opts.notAfter, opts.signer.certificate),
    country: subject.country ?? [],
    organization: subject.organization ?? [],
    commonName: subject.commonName,
  });
  return new X509Certificate(der);
}

export interface SignSvidOptions {
  ca: { certificate: X509Certificate; privateKey: KeyObject };
  publicKey: KeyObject;
  id: SpiffeId;
  now: number;
  ttlMs: number;
  dnsNames?: readonly string[];
  /** Overrides C=US, O=SPIRE. */
  subject?: CertSubject;
}

/**
 * An X509-SVID leaf (seed 000): Subject C=US, O=SPIRE, x500UniqueIdentifier;
 * KU digitalSignature|keyEncipherment|keyAgreement (critical); EKU
 * serverAuth+clientAuth; CA:FALSE (critical); SKI/AKI; URI SAN = SPIFFE ID;
 * DNS SANs with CN = the first; notAfter capped at the CA's notAfter.
 */
export async function signX509Svid(opts: SignSvidOptions): Promise<X509Certificate> {
  return new X509Certificate(signX509SvidDer({ ...opts, spki: opts.publicKey.export({ format: 'der', type: 'spki' }) }).der);
}

export interface SignedLeafDer {
  der: Buffer;
  serialHex: string;
  /** ms since epoch (whole seconds, as encoded). */
  notAfter: number;
}

/**
 * signX509Svid for issuance at volume: takes the key as SPKI DER (a CSR
 * carries it) and returns DER, skipping a key export and a certificate parse.
 */
export function signX509SvidDer(opts: Omit<SignSvidOptions, 'publicKey'> & { spki: Buffer }): SignedLeafDer {
  if (opts.id.isTrustDomainId()) throw new X509SvidError('ERR_X509_SVID_LEAF_NO_PATH', 'x509svid: leaf certificate SPIFFE ID must have a path');
  const subject = opts.subject ?? DEFAULT_SVID_SUBJECT;
  const serialHex = randomSerial();
  const caNotAfter = caSigningInfo(opts.ca.certificate, opts.ca.privateKey).notAfter;
  const notAfter = Math.floor(Math.min(opts.now + opts.ttlMs, caNotAfter) / 1000) * 1000;
  const der = buildLeafCertificateDer({
    ca: opts.ca.certificate,
    caKey: opts.ca.privateKey,
    spki: opts.spki,
    spiffeId: opts.id.toString(),
    serialHex,
    notBefore: opts.now - NOT_BEFORE_BACKDATE_MS,
    notAfter,
    dnsNames: opts.dnsNames ?? [],
    country: subject.country ?? [],
    organization: subject.organization ?? [],
    uniqueId: uniqueIdFor(opts.id),
  });
  return { der, serialHex, notAfter };
}
