// X.509 bundle: the CA certificates that are authoritative for one trust
// domain (go-spiffe bundle/x509bundle).
import type { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { BundleError } from '../errors.ts';
import type { TrustDomain } from '../trust-domain.ts';
import { certificatesToPem, concatDer, parseCertificatesDer, parseCertificatesPem } from './der.ts';

/** Anything that can hand out the X.509 bundle of a trust domain. */
export interface X509BundleSource {
  getX509BundleForTrustDomain(td: TrustDomain): X509Bundle | undefined;
}

export class X509Bundle implements X509BundleSource {
  readonly trustDomain: TrustDomain;
  readonly x509Authorities: readonly X509Certificate[];

  constructor(trustDomain: TrustDomain, authorities: readonly X509Certificate[] = []) {
    this.trustDomain = trustDomain;
    this.x509Authorities = Object.freeze([...authorities]);
  }

  /** From PEM CERTIFICATE blocks. */
  static parse(td: TrustDomain, pem: string): X509Bundle {
    let certs: X509Certificate[];
    try {
      certs = parseCertificatesPem(pem);
    } catch (err) {
      throw new BundleError('ERR_BUNDLE_X509_PARSE', `x509bundle: cannot parse certificate: ${(err as Error).message}`, { cause: err });
    }
    if (certs.length === 0 && pem.trim() !== '') throw new BundleError('ERR_BUNDLE_X509_PARSE', 'x509bundle: no PEM certificates found');
    return new X509Bundle(td, certs);
  }

  /** From concatenated DER certificates (the Workload API encoding). */
  static parseRaw(td: TrustDomain, der: Uint8Array): X509Bundle {
    try {
      return new X509Bundle(td, parseCertificatesDer(der));
    } catch (err) {
      throw new BundleError('ERR_BUNDLE_X509_PARSE', `x509bundle: cannot parse certificate: ${(err as Error).message}`, { cause: err });
    }
  }

  static async load(td: TrustDomain, path: string): Promise<X509Bundle> {
    return X509Bundle.parse(td, await readFile(path, 'utf8'));
  }

  marshal(): string {
    return certificatesToPem(this.x509Authorities);
  }

  marshalRaw(): Buffer {
    return concatDer(this.x509Authorities);
  }

  has(cert: X509Certificate): boolean {
    return this.x509Authorities.some((c) => c.raw.equals(cert.raw));
  }

  equal(other: X509Bundle): boolean {
    return this.trustDomain.equals(other.trustDomain) && sameCertificates(this.x509Authorities, other.x509Authorities);
  }

  getX509BundleForTrustDomain(td: TrustDomain): X509Bundle | undefined {
    return td.equals(this.trustDomain) ? this : undefined;
  }
}

export function sameCertificates(a: readonly X509Certificate[], b: readonly X509Certificate[]): boolean {
  return a.length === b.length && a.every((c, i) => c.raw.equals(b[i]!.raw));
}
