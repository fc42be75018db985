// Certificates made at test time (go-spiffe internal/test/ca.go style),
// with switches to break each X509-SVID rule. Nothing is committed.
import { X509Certificate, type KeyObject } from 'node:crypto';
import { generateKeyPair } from '../../src/spiffe/keys.ts';
import { px509 } from '../../src/spiffe/peculiar.ts';
import { randomSerial } from '../../src/spiffe/x509-template.ts';

export interface CertOptions {
  uris?: string[];
  ca?: boolean;
  keyUsage?: number;
  notBefore?: Date;
  notAfter?: Date;
  subject?: string;
}

export interface TestCert {
  cert: X509Certificate;
  key: KeyObject;
}

const HOUR = 3600_000;

export async function makeCert(opts: CertOptions, issuer?: TestCert): Promise<TestCert> {
  const { privateKey, publicKey } = generateKeyPair('ec-p256');
  const alg = { name: 'ECDSA', namedCurve: 'P-256' } as const;
  const pub = await publicKey.toCryptoKey(alg, true, ['verify']);
  const signKey = await (issuer?.key ?? privateKey).toCryptoKey(alg, true, ['sign']);
  const subject = opts.subject ?? 'C=US, O=TEST';
  const exts: px509.Extension[] = [new px509.BasicConstraintsExtension(opts.ca ?? false, undefined, true)];
  if (opts.keyUsage !== undefined) exts.push(new px509.KeyUsagesExtension(opts.keyUsage, true));
  if (opts.uris && opts.uris.length > 0) exts.push(new px509.SubjectAlternativeNameExtension(opts.uris.map((u) => ({ type: 'url' as const, value: u }))));
  const cert = await px509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject,
    issuer: issuer ? new px509.X509Certificate(issuer.cert.raw).subject : subject,
    notBefore: opts.notBefore ?? new Date(Date.now() - HOUR),
    notAfter: opts.notAfter ?? new Date(Date.now() + HOUR),
    publicKey: pub,
    signingKey: signKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: exts,
  });
  return { cert: new X509Certificate(Buffer.from(cert.rawData)), key: privateKey };
}

const KU = px509.KeyUsageFlags;
export const CA_KU = KU.keyCertSign | KU.cRLSign;
export const LEAF_KU = KU.digitalSignature | KU.keyEncipherment | KU.keyAgreement;

export async function makeCa(td: string, issuer?: TestCert): Promise<TestCert> {
  return makeCert({ uris: [`spiffe://${td}`], ca: true, keyUsage: CA_KU }, issuer);
}

export async function makeLeaf(id: string, issuer: TestCert, extra: Partial<CertOptions> = {}): Promise<TestCert> {
  return makeCert({ uris: [id], ca: false, keyUsage: LEAF_KU, ...extra }, issuer);
}
