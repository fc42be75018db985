// PKCS#10 CSRs: openssl-made requests of every supported signature algorithm
// parse and verify; createCsr output is accepted by openssl; each kind of bad
// input fails with a CsrError naming the problem.
import { spawnSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CsrError, createCsr, parseCsr } from '../../src/spiffe/csr.ts';
import { bitString, element, explicit, oid, seq, tlv, uint } from '../../src/spiffe/der-writer.ts';
import { grpcStatusFor, GrpcCode } from '../../src/common/errors.ts';
import { makeTempDir } from '../helpers/tmp.ts';

let dir: { path: string; cleanup: () => Promise<void> };
const keyFiles: Record<string, string> = {};

const GENPKEY: Record<string, string[]> = {
  p256: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  p384: ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'],
  rsa: ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
  ed25519: ['-algorithm', 'ED25519'],
};

function openssl(args: string[]): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

function privateKey(name: string): KeyObject {
  return createPrivateKey(readFileSync(keyFiles[name]!));
}

function spkiOf(key: KeyObject): Buffer {
  return (key.type === 'public' ? key : createPublicKey(key)).export({ type: 'spki', format: 'der' });
}

let csrCount = 0;
function opensslCsr(key: string, extra: string[] = []): Buffer {
  const out = join(dir.path, `req-${csrCount++}.der`);
  const r = openssl(['req', '-new', '-key', keyFiles[key]!, '-subj', '/CN=x', '-outform', 'DER', '-out', out, ...extra]);
  if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
  return readFileSync(out);
}

function caught(fn: () => unknown): CsrError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CsrError) return err;
    throw new Error(`expected a CsrError, got ${String(err)}`, { cause: err });
  }
  throw new Error('expected a CsrError, got success');
}

beforeAll(async () => {
  dir = await makeTempDir('herald-csr-');
  for (const [name, args] of Object.entries(GENPKEY)) {
    keyFiles[name] = join(dir.path, `${name}.pem`);
    const r = openssl(['genpkey', ...args, '-out', keyFiles[name]]);
    if (r.status !== 0) throw new Error(`openssl genpkey failed: ${r.stderr}`);
  }
});

afterAll(async () => {
  await dir?.cleanup();
});

const PSS = ['-sigopt', 'rsa_padding_mode:pss'];
const SAN = (...uris: string[]) => ['-addext', `subjectAltName=${uris.map((u) => `URI:${u}`).join(',')}`];

describe('parseCsr on openssl CSRs', () => {
  const cases: { name: string; alg: string; key: string; args: string[]; uris: string[] }[] = [
    { name: 'EC P-256, SHA-256', alg: '1.2.840.10045.4.3.2', key: 'p256', args: [], uris: [] },
    { name: 'EC P-256, SHA-256, URI SAN', alg: '1.2.840.10045.4.3.2', key: 'p256', args: SAN('spiffe://example.org/w'), uris: ['spiffe://example.org/w'] },
    { name: 'EC P-256, SHA-512', alg: '1.2.840.10045.4.3.4', key: 'p256', args: ['-sha512'], uris: [] },
    { name: 'EC P-384, SHA-384, URI SAN', alg: '1.2.840.10045.4.3.3', key: 'p384', args: ['-sha384', ...SAN('spiffe://example.org/w')], uris: ['spiffe://example.org/w'] },
    { name: 'RSA-2048, SHA-256', alg: '1.2.840.113549.1.1.11', key: 'rsa', args: [], uris: [] },
    { name: 'RSA-2048, SHA-384, two URI SANs', alg: '1.2.840.113549.1.1.12', key: 'rsa', args: ['-sha384', ...SAN('spiffe://example.org/a', 'https://x.test/b')], uris: ['spiffe://example.org/a', 'https://x.test/b'] },
    { name: 'RSA-2048, SHA-512', alg: '1.2.840.113549.1.1.13', key: 'rsa', args: ['-sha512'], uris: [] },
    { name: 'RSA-PSS, SHA-256, salt 32', alg: '1.2.840.113549.1.1.10', key: 'rsa', args: [...PSS, '-sigopt', 'rsa_pss_saltlen:32', ...SAN('spiffe://example.org/w')], uris: ['spiffe://example.org/w'] },
    { name: 'RSA-PSS, SHA-384, salt 20', alg: '1.2.840.113549.1.1.10', key: 'rsa', args: ['-sha384', ...PSS, '-sigopt', 'rsa_pss_saltlen:20'], uris: [] },
    { name: 'RSA-PSS, SHA-512, salt 64', alg: '1.2.840.113549.1.1.10', key: 'rsa', args: ['-sha512', ...PSS, '-sigopt', 'rsa_pss_saltlen:64'], uris: [] },
    { name: 'Ed25519, URI SAN', alg: '1.3.101.112', key: 'ed25519', args: SAN('spiffe://example.org/w'), uris: ['spiffe://example.org/w'] },
    {
      name: 'EC P-256, DNS and email SANs around a URI',
      alg: '1.2.840.10045.4.3.2',
      key: 'p256',
      args: ['-addext', 'subjectAltName=DNS:a.test,URI:spiffe://example.org/w,email:a@b.test', '-addext', 'keyUsage=digitalSignature'],
      uris: ['spiffe://example.org/w'],
    },
  ];

  it.each(cases)('$name', ({ alg, key, args, uris }) => {
    const der = opensslCsr(key, args);
    expect(der.includes(oid(alg)), `openssl signed with ${alg}`).toBe(true);
    const csr = parseCsr(der);
    expect(csr.uris).toEqual(uris);
    expect(spkiOf(csr.publicKey)).toEqual(spkiOf(privateKey(key)));
    expect(csr.der.equals(der)).toBe(true);
  });

  it('accepts a plain Uint8Array', () => {
    const der = opensslCsr('p256', SAN('spiffe://example.org/w'));
    expect(parseCsr(new Uint8Array(der)).uris).toEqual(['spiffe://example.org/w']);
  });
});

describe('createCsr', () => {
  const keys: { name: string; make: () => KeyObject }[] = [
    { name: 'EC P-256', make: () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey },
    { name: 'EC P-384', make: () => generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey },
    { name: 'RSA-2048', make: () => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey },
    { name: 'Ed25519', make: () => generateKeyPairSync('ed25519').privateKey },
  ];
  const uriSets = [[], ['spiffe://example.org/workload'], ['spiffe://example.org/a', 'spiffe://example.org/b']];
  const expectedAlg: Record<string, string> = {
    'EC P-256': 'ecdsa-with-SHA256',
    'EC P-384': 'ecdsa-with-SHA384',
    'RSA-2048': 'sha256WithRSAEncryption',
    Ed25519: 'ED25519',
  };

  it.each(keys.flatMap((k) => uriSets.map((uris) => ({ ...k, uris, n: uris.length }))))('$name with $n URI(s): openssl verifies it, parseCsr reads it back', ({ name, make, uris }) => {
    const key = make();
    const der = createCsr(key, { uris });
    const csr = parseCsr(der);
    expect(csr.uris).toEqual(uris);
    expect(spkiOf(csr.publicKey)).toEqual(spkiOf(key));

    const file = join(dir.path, `created-${csrCount++}.der`);
    writeFileSync(file, der);
    const r = openssl(['req', '-inform', 'DER', '-in', file, '-verify', '-noout', '-text']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr + r.stdout).toContain('verify OK');
    expect(r.stdout).toContain(`Signature Algorithm: ${expectedAlg[name]}`);
    for (const u of uris) expect(r.stdout).toContain(`URI:${u}`);
    if (uris.length === 0) expect(r.stdout).not.toContain('Subject Alternative Name');
  });

  it('rejects a public key and an unsupported curve', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    expect(caught(() => createCsr(publicKey)).message).toBe('cannot sign a CSR with a public key');
    const k256 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey;
    expect(caught(() => createCsr(k256)).message).toBe('unsupported CSR key type ec (secp256k1)');
  });
});

describe('parseCsr rejects bad input with a CsrError', () => {
  const p256 = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
  const ECDSA_SHA256 = Buffer.from('06082a8648ce3d040302', 'hex');

  /** A CSR from parts, signed over `info` with `signWith`, for structures openssl will not make. */
  function build(info: Buffer, algId: Buffer, signWith: (data: Buffer) => Buffer): Buffer {
    return seq(info, algId, bitString(signWith(info)));
  }
  const ecInfo = (key: KeyObject, attrs: Buffer = explicit(0)) => seq(uint(Buffer.from([0])), seq(), spkiOf(key), attrs);

  it('is INVALID_ARGUMENT over gRPC', () => {
    const err = caught(() => parseCsr(Buffer.alloc(0)));
    expect(err.code).toBe('ERR_CSR_INVALID');
    expect(grpcStatusFor(err)).toBe(GrpcCode.INVALID_ARGUMENT);
  });

  const valid = () => createCsr(p256(), { uris: ['spiffe://example.org/w'] });
  const cases: { name: string; input: () => Uint8Array; message: string | RegExp }[] = [
    { name: 'empty', input: () => new Uint8Array(0), message: 'malformed CSR: empty' },
    { name: 'not DER', input: () => Buffer.from('not a CSR at all'), message: 'malformed CSR: unexpected tag 0x6e at offset 0, expected SEQUENCE' },
    {
      name: 'truncated',
      input: () => valid().subarray(0, 100),
      message: /^malformed CSR: truncated SEQUENCE at offset 0: length \d+, 97 bytes available$/,
    },
    { name: 'trailing garbage', input: () => Buffer.concat([valid(), Buffer.from([0, 0])]), message: 'malformed CSR: trailing data after CertificationRequest' },
    {
      name: 'signature byte flipped',
      input: () => {
        const der = valid();
        der[der.length - 1] ^= 0x01;
        return der;
      },
      message: "invalid CSR signature: ecdsa-with-SHA256 signature does not verify with the CSR's public key",
    },
    {
      name: 'SPKI swapped for another key',
      input: () => {
        const key = p256();
        const der = createCsr(key);
        const spki = spkiOf(key);
        spkiOf(p256()).copy(der, der.indexOf(spki));
        return der;
      },
      message: "invalid CSR signature: ecdsa-with-SHA256 signature does not verify with the CSR's public key",
    },
    {
      name: 'unsupported algorithm (ecdsa-with-SHA224)',
      input: () => {
        const der = valid();
        der[der.indexOf(ECDSA_SHA256) + ECDSA_SHA256.length - 1] = 0x01;
        return der;
      },
      message: 'unsupported CSR signature algorithm 1.2.840.10045.4.3.1',
    },
    {
      name: 'unsupported algorithm (sha1WithRSAEncryption)',
      input: () => opensslCsr('rsa', ['-sha1']),
      message: 'unsupported CSR signature algorithm 1.2.840.113549.1.1.5',
    },
    {
      name: 'RSA-PSS with SHA-1',
      input: () => opensslCsr('rsa', ['-sha1', ...PSS]),
      message: 'unsupported CSR signature algorithm 1.2.840.113549.1.1.10 (hash 1.3.14.3.2.26)',
    },
    {
      name: 'RSA signature labelled ECDSA',
      input: () => {
        const rsa = privateKey('rsa');
        return build(ecInfo(rsa), seq(ECDSA_SHA256), (d) => sign('sha256', d, rsa));
      },
      message: 'invalid CSR signature: ecdsa-with-SHA256 does not match the rsa public key',
    },
    {
      name: 'version 1',
      input: () => {
        const key = p256();
        const info = seq(uint(Buffer.from([1])), seq(), spkiOf(key), explicit(0));
        return build(info, seq(ECDSA_SHA256), (d) => sign('sha256', d, key));
      },
      message: 'malformed CSR: unsupported version at offset 5, expected 0',
    },
    {
      name: 'no attributes',
      input: () => {
        const key = p256();
        const info = seq(uint(Buffer.from([0])), seq(), spkiOf(key));
        return build(info, seq(ECDSA_SHA256), (d) => sign('sha256', d, key));
      },
      message: /^malformed CSR: unexpected end of data at offset \d+, expected \[0\]$/,
    },
    {
      name: 'signature BIT STRING with unused bits',
      input: () => {
        const key = p256();
        const info = ecInfo(key);
        return seq(info, seq(ECDSA_SHA256), bitString(sign('sha256', info, key), 1));
      },
      message: 'malformed CSR: signature BIT STRING has unused bits',
    },
    {
      name: 'ECDSA with NULL parameters',
      input: () => {
        const key = p256();
        return build(ecInfo(key), seq(ECDSA_SHA256, Buffer.from([5, 0])), (d) => sign('sha256', d, key));
      },
      message: 'malformed CSR: unexpected parameters for ecdsa-with-SHA256',
    },
    {
      name: 'indefinite length (BER)',
      input: () => {
        const der = valid();
        return Buffer.concat([Buffer.from([0x30, 0x80]), der.subarray(element(der, 0).contentStart), Buffer.from([0, 0])]);
      },
      message: 'malformed CSR: indefinite length at offset 0',
    },
    {
      name: 'non-minimal length',
      input: () => {
        const key = p256();
        const info = seq(Buffer.from([0x02, 0x81, 0x01, 0x00]), seq(), spkiOf(key), explicit(0));
        return build(info, seq(ECDSA_SHA256), (d) => sign('sha256', d, key));
      },
      message: 'malformed CSR: non-minimal length at offset 5',
    },
    // OpenSSL reads these keys (the signature verifies); Go's crypto/x509 refuses each, so an SVID carrying one would not parse.
    {
      name: 'public key BIT STRING with unused bits (fuzz finding)',
      input: () => {
        const key = p256();
        const spki = spkiOf(key);
        spki[spki.indexOf(Buffer.from([0x03, 0x42, 0x00])) + 2] = 1;
        return build(seq(uint(Buffer.from([0])), seq(), spki, explicit(0)), seq(ECDSA_SHA256), (d) => sign('sha256', d, key));
      },
      message: 'malformed CSR: subject public key BIT STRING has unused bits',
    },
    {
      name: 'EC point in compressed form',
      input: () => {
        const key = p256();
        const spki = spkiOf(key);
        const at = spki.indexOf(Buffer.from([0x03, 0x42, 0x00]));
        const point = spki.subarray(at + 3);
        const compressed = Buffer.concat([Buffer.from([0x02 | (point[64]! & 1)]), point.subarray(1, 33)]);
        const algId = spki.subarray(2, at);
        const short = seq(algId, tlv(0x03, Buffer.concat([Buffer.from([0]), compressed])));
        return build(seq(uint(Buffer.from([0])), seq(), short, explicit(0)), seq(ECDSA_SHA256), (d) => sign('sha256', d, key));
      },
      message: 'malformed CSR: EC public key point is not in uncompressed form',
    },
    {
      name: 'EC key with explicit curve parameters',
      input: () => {
        const r = openssl(['ec', '-in', keyFiles.p256!, '-pubout', '-param_enc', 'explicit', '-outform', 'DER']);
        const explicitSpki = spawnSync('openssl', ['ec', '-in', keyFiles.p256!, '-pubout', '-param_enc', 'explicit', '-outform', 'DER']).stdout;
        if (r.status !== 0 || explicitSpki.length < 200) throw new Error(`openssl ec -param_enc explicit failed: ${r.stderr}`);
        const key = privateKey('p256');
        return build(seq(uint(Buffer.from([0])), seq(), explicitSpki, explicit(0)), seq(ECDSA_SHA256), (d) => sign('sha256', d, key));
      },
      message: 'malformed CSR: EC public key without a named curve (explicit curve parameters are not accepted)',
    },
    {
      name: 'EC key on a curve Go does not read (secp256k1)',
      input: () => {
        const key = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey;
        return build(seq(uint(Buffer.from([0])), seq(), spkiOf(key), explicit(0)), seq(ECDSA_SHA256), (d) => sign('sha256', d, key));
      },
      message: 'unsupported CSR public key curve 1.3.132.0.10 (P-224, P-256, P-384 and P-521 are)',
    },
    {
      name: 'RSA key without NULL parameters',
      input: () => {
        const key = privateKey('rsa');
        const spki = spkiOf(key);
        // AlgorithmIdentifier { rsaEncryption, NULL } → { rsaEncryption }, lengths fixed up.
        const nullAt = spki.indexOf(Buffer.from('06092a864886f70d0101010500', 'hex'));
        const bits = spki.subarray(nullAt + 13);
        const noNull = seq(seq(oid('1.2.840.113549.1.1.1')), bits);
        return build(seq(uint(Buffer.from([0])), seq(), noNull, explicit(0)), seq(Buffer.from('06092a864886f70d01010b0500', 'hex')), (d) => sign('sha256', d, key));
      },
      message: 'malformed CSR: RSA public key without NULL parameters',
    },
    {
      name: 'RSA-PSS public key',
      input: () => {
        const key = generateKeyPairSync('rsa-pss', { modulusLength: 2048 }).privateKey;
        const info = seq(uint(Buffer.from([0])), seq(), spkiOf(key), explicit(0));
        return build(info, seq(Buffer.from('06092a864886f70d01010b0500', 'hex')), (d) => sign('sha256', d, key));
      },
      message: 'unsupported CSR public key algorithm 1.2.840.113549.1.1.10',
    },
    {
      name: 'two subjectAltName extensions',
      input: () => {
        const key = p256();
        const san = seq(oid('2.5.29.17'), tlv(0x04, seq(tlv(0x86, Buffer.from('spiffe://example.org/a')))));
        const attrs = explicit(0, seq(oid('1.2.840.113549.1.9.14'), tlv(0x31, seq(san, san))));
        return build(ecInfo(key, attrs), seq(ECDSA_SHA256), (d) => sign('sha256', d, key));
      },
      message: 'malformed CSR: duplicate subjectAltName extension',
    },
  ];

  it.each(cases)('$name', ({ input, message }) => {
    const err = caught(() => parseCsr(input()));
    if (typeof message === 'string') expect(err.message).toBe(message);
    else expect(err.message).toMatch(message);
  });

  it('random bytes, every truncation and every single-bit flip of a valid CSR are CsrErrors', () => {
    for (let i = 0; i < 200; i++) {
      const junk = randomBytes(1 + (i % 64));
      if (i % 2) junk[0] = 0x30; // get past the first tag half the time
      expect(caught(() => parseCsr(junk)).message).toMatch(/^malformed CSR: /);
    }
    const der = valid();
    for (let n = 0; n < der.length; n++) caught(() => parseCsr(der.subarray(0, n)));
    for (let i = 0; i < der.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const bad = Buffer.from(der);
        bad[i] ^= bit;
        caught(() => parseCsr(bad));
      }
    }
  });
});
