// Node certificates for x509pop tests, made with openssl: a node CA and
// node certificates it signs (the files SPIRE's x509pop plugins read).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const KEYS = {
  'ec-p256': ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  'ec-p384': ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'],
  'rsa-2048': ['-newkey', 'rsa:2048'],
} as const;
export type NodeKeyType = keyof typeof KEYS;

const ossl = (...a: string[]) => execFileSync('openssl', a, { stdio: 'pipe' });

/**
 * `<dir>/<name>.pem` and `<name>.key`: a certificate with CN=`name`, a CA
 * when `ca`, signed by `<dir>/<issuer>.pem` (self-signed without one).
 */
export function makePopCert(dir: string, name: string, opts: { key?: NodeKeyType; ca?: boolean; issuer?: string } = {}): { cert: string; key: string } {
  const f = (n: string) => join(dir, n);
  writeFileSync(f(`${name}.ext`), opts.ca ? 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n' : 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n');
  ossl('req', ...KEYS[opts.key ?? 'ec-p256'], '-nodes', '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${name}`);
  const signer = opts.issuer ? ['-CA', f(`${opts.issuer}.pem`), '-CAkey', f(`${opts.issuer}.key`), '-CAcreateserial'] : ['-key', f(`${name}.key`)];
  ossl('x509', '-req', '-in', f(`${name}.csr`), ...signer, '-out', f(`${name}.pem`), '-days', '1', '-extfile', f(`${name}.ext`));
  return { cert: f(`${name}.pem`), key: f(`${name}.key`) };
}

/** SPIRE's x509pop agent ID path segment: hex SHA-1 of the certificate DER. */
export function popFingerprint(certPath: string): string {
  return execFileSync('openssl', ['x509', '-in', certPath, '-noout', '-fingerprint', '-sha1'], { encoding: 'utf8' }).split('=')[1]!.trim().replace(/:/g, '').toLowerCase();
}
