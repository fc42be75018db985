// Certificate profiles (SPIRE pkg/server/credtemplate/builder.go and the
// seed-000 leaf): the CA certificate of a trust domain and X509-SVID leaves,
// signed with @peculiar/x509 over WebCrypto keys derived from KeyObjects.
import { X509Certificate, createHash, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
// @peculiar/x509 (with asn1js and reflect-metadata) builds CA certificates
// only; leaves are built straight in DER (x509-leaf-der.ts). It is loaded on
// the first createCaCertificate, so a server that finds its CA in the journal
// and the signing workers never load it.
import type { px509 as Px509 } from './peculiar.ts';
import { X509SvidError } from './errors.ts';
import { buildLeafCertificateDer, caSigningInfo } from './x509-leaf-der.ts';
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

const cryptoKeys = new WeakMap<KeyObject, Promise<webcrypto.CryptoKey>>();

/** The WebCrypto signing algorithm for a private key (SHA-256 for P-256/RSA, SHA-384 for P-384). */
function algorithmsFor(key: KeyObject): { importAlg: webcrypto.EcKeyImportParams | webcrypto.RsaHashedImportParams; signAlg: webcrypto.EcdsaParams | webcrypto.Algorithm } {
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return { importAlg: { name: 'ECDSA', namedCurve: 'P-256' }, signAlg: { name: 'ECDSA', hash: 'SHA-256' } };
    if (curve === 'secp384r1') return { importAlg: { name: 'ECDSA', namedCurve: 'P-384' }, signAlg: { name: 'ECDSA', hash: 'SHA-384' } };
    throw new TypeError(`x509svid: unsupported EC curve ${String(curve)}`);
  }
  if (key.asymmetricKeyType === 'rsa') {
    return { importAlg: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, signAlg: { name: 'RSASSA-PKCS1-v1_5' } };
  }
  throw new TypeError(`x509svid: unsupported key type ${String(key.asymmetricKeyType)}`);
}

function cryptoKeyOf(key: KeyObject): Promise<webcrypto.CryptoKey> {
  let p = cryptoKeys.get(key);
  if (!p) {
    const { importAlg } = algorithmsFor(key);
    p = Promise.resolve(key.toCryptoKey(importAlg, true, key.type === 'private' ? ['sign'] : ['verify']));
    cryptoKeys.set(key, p);
  }
  return p;
}

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

function nameOf(px509: typeof Px509, subject: CertSubject): Px509.Name {
  const attrs: { [type: string]: string[] }[] = [];
  for (const c of subject.country ?? []) attrs.push({ C: [c] });
  for (const o of subject.organization ?? []) attrs.push({ O: [o] });
  if (subject.commonName) attrs.push({ CN: [subject.commonName] });
  return new px509.Name(attrs);
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
  const { px509 } = await import('./peculiar.ts');
  const subject = nameOf(px509, opts.subject ?? DEFAULT_CA_SUBJECT);
  const issuerCert = opts.signer.certificate ? new px509.X509Certificate(opts.signer.certificate.raw) : undefined;
  const publicCryptoKey = await cryptoKeyOf(opts.publicKey);
  const extensions: Px509.Extension[] = [
    new px509.BasicConstraintsExtension(true, undefined, true),
    new px509.KeyUsagesExtension(px509.KeyUsageFlags.keyCertSign | px509.KeyUsageFlags.cRLSign, true),
    await px509.SubjectKeyIdentifierExtension.create(publicCryptoKey),
    new px509.SubjectAlternativeNameExtension([{ type: 'url', value: opts.trustDomain.idString() }]),
  ];
  if (issuerCert) {
    const ski = issuerCert.getExtension(px509.SubjectKeyIdentifierExtension);
    if (ski) extensions.push(new px509.AuthorityKeyIdentifierExtension(ski.keyId));
  }
  const cert = await px509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject,
    issuer: issuerCert ? issuerCert.subjectName : subject,
    notBefore: new Date(opts.notBefore - NOT_BEFORE_BACKDATE_MS),
    notAfter: new Date(clampNotAfter(opts.notAfter, opts.signer.certificate)),
    publicKey: publicCryptoKey,
    signingKey: await cryptoKeyOf(opts.signer.privateKey),
    signingAlgorithm: algorithmsFor(opts.signer.privateKey).signAlg,
    extensions,
  });
  return new X509Certificate(Buffer.from(cert.rawData));
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
