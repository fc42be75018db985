// PKCS#10 CSRs from agents and workloads (the server's issuance input):
// parseCsr throws only CsrError, accepts only what @peculiar/x509 also
// parses and verifies with the same requested SANs, and createCsr → parseCsr
// round-trips any ASCII SANs.
import { spawnSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { CertificationRequest } from '@peculiar/asn1-csr';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Extensions } from '@peculiar/asn1-x509';
import * as asn1js from 'asn1js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CsrError, createCsr, parseCsr } from '../../src/spiffe/csr.ts';
import { Tag, readTlv } from '../../src/spiffe/der-reader.ts';
import { bitString, oid, seq } from '../../src/spiffe/der-writer.ts';
import { px509 } from '../../src/spiffe/peculiar.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { fuzzParams, mutatedBytes, typedOutcome, typedOutcomeAsync } from './fuzz-params.ts';

/** @peculiar/x509's reading: signature valid, URI and DNS SANs; undefined when it cannot parse. */
async function reference(der: Buffer): Promise<{ verified: boolean; uris: string[]; dnsNames: string[] } | undefined> {
  let csr: px509.Pkcs10CertificateRequest;
  try {
    csr = new px509.Pkcs10CertificateRequest(der);
  } catch {
    return undefined;
  }
  let verified = false;
  try {
    verified = await csr.verify();
  } catch {
    verified = false;
  }
  let names: { type: string; value: string }[] = [];
  try {
    names = csr.extensions.find((e): e is px509.SubjectAlternativeNameExtension => e instanceof px509.SubjectAlternativeNameExtension)?.names.toJSON() ?? [];
  } catch {
    return undefined;
  }
  return { verified, uris: names.filter((n) => n.type === 'url').map((n) => n.value), dnsNames: names.filter((n) => n.type === 'dns').map((n) => n.value) };
}

const EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const SUBJECT_ALT_NAME = '2.5.29.17';

/**
 * A second reference for ECDSA-SHA256 requests: the structure through
 * @peculiar/asn1-schema's CertificationRequest (extensions other than
 * subjectAltName stay undecoded, and only the dNSName and URI general names
 * are read, as in Go's x509.ParseCertificateRequest), the signature through
 * node:crypto. undefined when either rejects.
 */
function schemaReference(der: Buffer): { uris: string[]; dnsNames: string[] } | undefined {
  try {
    const req = AsnConvert.parse(der, CertificationRequest);
    if (req.signatureAlgorithm.algorithm !== '1.2.840.10045.4.3.2' || !req.certificationRequestInfoRaw) return undefined;
    const key = createPublicKey({ key: Buffer.from(AsnConvert.serialize(req.certificationRequestInfo.subjectPKInfo)), format: 'der', type: 'spki' });
    if (!verify('sha256', Buffer.from(req.certificationRequestInfoRaw), key, Buffer.from(req.signature))) return undefined;
    const uris: string[] = [];
    const dnsNames: string[] = [];
    for (const attr of req.certificationRequestInfo.attributes ?? []) {
      if (attr.type !== EXTENSION_REQUEST) continue;
      for (const value of attr.values) {
        for (const ext of AsnConvert.parse(value, Extensions)) {
          if (ext.extnID !== SUBJECT_ALT_NAME) continue;
          // GeneralNames read with asn1js directly: like Go, only dNSName [2] and URI [6] are looked at.
          const names = asn1js.fromBER(ext.extnValue.buffer);
          if (names.offset !== ext.extnValue.byteLength || !(names.result instanceof asn1js.Sequence)) return undefined;
          for (const name of names.result.valueBlock.value) {
            const { tagClass, tagNumber, isConstructed } = name.idBlock;
            if (tagClass !== 3 || isConstructed || (tagNumber !== 2 && tagNumber !== 6)) continue;
            const text = Buffer.from((name as asn1js.Primitive).valueBlock.valueHexView).toString('latin1');
            if (/[^\x00-\x7f]/.test(text)) return undefined;
            (tagNumber === 6 ? uris : dnsNames).push(text);
          }
        }
      }
    }
    return { uris, dnsNames };
  } catch {
    return undefined;
  }
}

describe('fuzz: CSR DER', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let seeds: Buffer[] = [];
  let keys: KeyObject[] = [];

  beforeAll(async () => {
    tmp = await makeTempDir('herald-fuzz-csr-');
    keys = [
      generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey,
      generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey,
      generateKeyPairSync('ed25519').privateKey,
      generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
    ];
    seeds = keys.map((k, i) => createCsr(k, i % 2 === 0 ? { uris: ['spiffe://example.org/web'], dnsNames: ['web.example.org'] } : { uris: ['spiffe://example.org/agent/x'] }));
    // An RSASSA-PSS request with explicit parameters, as openssl writes it.
    const keyPem = join(tmp.path, 'rsa.pem');
    const out = join(tmp.path, 'pss.der');
    const gen = spawnSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', keyPem]);
    const req = spawnSync('openssl', ['req', '-new', '-key', keyPem, '-subj', '/CN=x', '-outform', 'DER', '-out', out, '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32', '-addext', 'subjectAltName=URI:spiffe://example.org/w,DNS:a.test']);
    expect(gen.status, String(gen.stderr)).toBe(0);
    expect(req.status, String(req.stderr)).toBe(0);
    seeds.push(readFileSync(out));
  });

  afterAll(async () => {
    await tmp?.cleanup();
  });

  it('parseCsr throws only CsrError and accepts only what @peculiar/x509 verifies, with the same SANs', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutatedBytes(seeds), fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a))), async (der) => {
        const out = typedOutcome('parseCsr', () => parseCsr(der));
        if (!out.ok) {
          expect(out.error).toBeInstanceOf(CsrError);
          return;
        }
        const ref = await reference(der);
        expect(ref, 'parseCsr accepts a CSR @peculiar/x509 cannot parse').toBeDefined();
        expect(ref!.verified, 'parseCsr accepts a CSR whose signature @peculiar/x509 does not verify').toBe(true);
        expect({ uris: out.value.uris, dnsNames: out.value.dnsNames }).toEqual({ uris: ref!.uris, dnsNames: ref!.dnsNames });
      }),
      fuzzParams(1000),
    );
  });

  it('re-signed mutations of certificationRequestInfo: parseCsr agrees with the ASN.1 schema parser on validly signed requests', async () => {
    // Byte mutations break the signature almost always; re-signing the mutated
    // request info gets them past it to the attribute and SAN parsing.
    const key = keys[0]!;
    const infos = seeds.slice(0, 2).map((der) => {
      const csr = readTlv(der, 0, der.length, Tag.SEQUENCE);
      const info = readTlv(der, csr.contentStart, csr.end, Tag.SEQUENCE);
      return der.subarray(info.start, info.end);
    });
    // The P-256 seed's key signs every mutation: SPKI mismatches then fail the signature check in both parsers.
    const signerSpki = createPublicKey(key).export({ format: 'der', type: 'spki' });
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(mutatedBytes(infos), async (info) => {
        const der = seq(info, seq(oid('1.2.840.10045.4.3.2')), bitString(sign('sha256', info, key)));
        const out = typedOutcome('parseCsr', () => parseCsr(der));
        if (!out.ok) {
          expect(out.error).toBeInstanceOf(CsrError);
          return;
        }
        // Every mutation is signed by `key`: an accepted one must carry its public key.
        expect(out.value.spki.equals(signerSpki), 'parseCsr accepts a CSR whose key did not sign it').toBe(true);
        // The schema parser is stricter where parseCsr (like Go) reads nothing (other attributes, other
        // extensions, other general names): SANs are compared where both accept.
        const ref = schemaReference(der);
        if (!ref) return;
        accepted++;
        expect({ uris: out.value.uris, dnsNames: out.value.dnsNames }).toEqual(ref);
      }),
      fuzzParams(1000),
    );
    console.log(`CSR fuzz accepted ${accepted}`);
    expect(accepted, 'no mutation got past both parsers: the comparison never ran').toBeGreaterThan(0);
  });

  it('the seeds themselves are accepted by both parsers (the differential is not vacuous)', async () => {
    for (const der of seeds) {
      expect(parseCsr(der).uris.length).toBeGreaterThan(0);
      expect((await reference(der))?.verified).toBe(true);
    }
  });

  it('createCsr → parseCsr round-trips any ASCII URI and DNS SANs', async () => {
    const ascii = fc.string({ unit: fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c)), maxLength: 40 });
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 2 }), fc.array(ascii, { maxLength: 3 }), fc.array(ascii, { maxLength: 3 }), async (k, uris, dnsNames) => {
        const der = createCsr(keys[k]!, { uris, dnsNames });
        const parsed = await typedOutcomeAsync('parseCsr', async () => parseCsr(der));
        expect(parsed.ok && { uris: parsed.value.uris, dnsNames: parsed.value.dnsNames }).toEqual({ uris, dnsNames });
      }),
      fuzzParams(300),
    );
  });
});
