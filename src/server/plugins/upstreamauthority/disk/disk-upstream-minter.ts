// UpstreamAuthority "disk" (SPIRE plugin/server/upstreamauthority/disk):
// Herald's CA becomes an intermediate signed by a CA whose certificate and
// key are files on disk; the bundle then holds the upstream roots.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { HeraldError, errorMessage } from '../../../../common/errors.ts';
import { parseCertificatesPem } from '../../../../spiffe/bundle/der.ts';
import type { TrustDomain } from '../../../../spiffe/trust-domain.ts';
import { isCa } from '../../../../spiffe/x509-ext.ts';
import { keyObjectSigner, type Signer } from '../../../../spiffe/signer.ts';
import type { CertSubject } from '../../../../spiffe/x509-template.ts';
import { CredentialBuilder, type X509CaTemplate } from '../../../credtemplate/builder.ts';
import { signCaCertificate } from '../../../credtemplate/x509.ts';
import type { KeyManagerKey } from '../../keymanager/types.ts';
import type { X509CaMinter } from '../../../ca/manager.ts';

export class UpstreamAuthorityError extends HeraldError {}

function fail(message: string, cause?: unknown): never {
  throw new UpstreamAuthorityError('ERR_CONFIG_UPSTREAM_AUTHORITY', `UpstreamAuthority "disk": ${message}`, { cause });
}

export class DiskUpstreamMinter implements X509CaMinter {
  readonly #td: TrustDomain;
  readonly #subject: CertSubject | undefined;
  readonly #cert: X509Certificate;
  readonly #chain: X509Certificate[];
  /** The upstream CA's key (from key_file_path), as a signer. */
  readonly #key: Signer;
  readonly #roots: X509Certificate[];

  private constructor(td: TrustDomain, subject: CertSubject | undefined, chain: X509Certificate[], key: KeyObject, roots: X509Certificate[]) {
    this.#td = td;
    this.#subject = subject;
    this.#cert = chain[0]!;
    this.#chain = chain;
    this.#key = keyObjectSigner(key, this.#cert.publicKey);
    this.#roots = roots;
  }

  static async load(opts: { trustDomain: TrustDomain; subject?: CertSubject; certFilePath: string; keyFilePath: string; bundleFilePath?: string | undefined }): Promise<DiskUpstreamMinter> {
    const read = async (path: string, what: string): Promise<string> => {
      try {
        return await readFile(path, 'utf8');
      } catch (err) {
        fail(`cannot read ${what} ${path}: ${errorMessage(err)}`, err);
      }
    };
    let chain: X509Certificate[];
    try {
      chain = parseCertificatesPem(await read(opts.certFilePath, 'cert_file_path'));
    } catch (err) {
      fail(`cert_file_path ${opts.certFilePath}: ${errorMessage(err)}`, err);
    }
    if (chain.length === 0) fail(`cert_file_path ${opts.certFilePath} holds no certificate`);
    if (!isCa(chain[0]!)) fail(`cert_file_path ${opts.certFilePath}: the certificate is not a CA (basicConstraints CA:TRUE required)`);
    let key: KeyObject;
    try {
      key = createPrivateKey(await read(opts.keyFilePath, 'key_file_path'));
    } catch (err) {
      fail(`key_file_path ${opts.keyFilePath}: ${errorMessage(err)}`, err);
    }
    if (!chain[0]!.checkPrivateKey(key)) fail(`key_file_path ${opts.keyFilePath} does not match the certificate in ${opts.certFilePath}`);
    let roots: X509Certificate[];
    if (opts.bundleFilePath) {
      try {
        roots = parseCertificatesPem(await read(opts.bundleFilePath, 'bundle_file_path'));
      } catch (err) {
        fail(`bundle_file_path ${opts.bundleFilePath}: ${errorMessage(err)}`, err);
      }
      if (roots.length === 0) fail(`bundle_file_path ${opts.bundleFilePath} holds no certificate`);
    } else {
      // SPIRE: without bundle_file_path the upstream CA is its own root.
      const last = chain[chain.length - 1]!;
      if (!issues(last, last)) fail(`cert_file_path ${opts.certFilePath}: without bundle_file_path the upstream CA must be self-signed (or its chain must end with its self-signed root); set bundle_file_path to the upstream roots`);
      roots = [last];
    }
    // As SPIRE's disk plugin: a CA that does not chain to the roots would
    // sign SVIDs no verifier accepts.
    if (!chainsTo(chain, roots)) {
      fail(`cert_file_path ${opts.certFilePath}: the certificate cannot be validated with ${opts.bundleFilePath ? `the roots in bundle_file_path ${opts.bundleFilePath}` : 'its own chain'}`);
    }
    return new DiskUpstreamMinter(opts.trustDomain, opts.subject, chain, key, roots);
  }

  /** Signs the new CA's public key (`key` itself never leaves the key manager) with the upstream key. */
  async mint(args: { key: KeyManagerKey; notBefore: number; notAfter: number; template?: X509CaTemplate }): Promise<{ certificate: X509Certificate; upstreamChain: X509Certificate[] }> {
    const template = args.template ?? (await new CredentialBuilder({ trustDomain: this.#td, caSubject: this.#subject }).buildX509CaTemplate({ publicKey: args.key.publicKey }));
    const certificate = await signCaCertificate({
      trustDomain: this.#td,
      publicKey: args.key.publicKey,
      signer: this.#key,
      issuer: this.#cert,
      notBefore: args.notBefore,
      notAfter: args.notAfter,
      template,
    });
    return { certificate, upstreamChain: [...this.#chain] };
  }

  trustAnchorsFor(): X509Certificate[] {
    return [...this.#roots];
  }
}

function issues(issuer: X509Certificate, cert: X509Certificate): boolean {
  return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
}

/** chain[0] reaches one of `roots` through the rest of `chain`. */
function chainsTo(chain: readonly X509Certificate[], roots: readonly X509Certificate[]): boolean {
  let cur = chain[0]!;
  for (let hops = 0; hops <= chain.length; hops++) {
    if (roots.some((r) => issues(r, cur))) return true;
    const next = chain.find((c) => c !== cur && issues(c, cur));
    if (!next) return false;
    cur = next;
  }
  return false;
}
