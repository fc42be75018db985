// X.509 DER from peers (federated bundles, upstream chains, SVIDs handed to
// the CLI): the strict DER reader agrees with asn1js (the ASN.1 library under
// @peculiar/x509) on every input it accepts; the leaf parser's fast reads of
// basicConstraints and keyUsage agree with @peculiar/x509 on every
// certificate Node accepts; concatenated DER splits and round-trips; only
// typed Herald errors escape.
import { X509Certificate } from 'node:crypto';
import * as asn1js from 'asn1js';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { concatDer, parseCertificatesDer, splitDer } from '../../src/spiffe/bundle/der.ts';
import { DerError, Tag, oidString, readTlv } from '../../src/spiffe/der-reader.ts';
import { generateKeyPair } from '../../src/spiffe/keys.ts';
import { SpiffeId } from '../../src/spiffe/id.ts';
import { px509 } from '../../src/spiffe/peculiar.ts';
import { createCaCertificate, signX509Svid } from '../../src/server/credtemplate/standalone.ts';
import { isCa, keyUsageOf } from '../../src/spiffe/x509-ext.ts';
import { checkLeaf } from '../../src/spiffe/x509svid.ts';
import { TrustDomain } from '../../src/spiffe/trust-domain.ts';
import { makeCa, makeLeaf } from '../helpers/test-ca.ts';
import { fuzzParams, mutatedBytes, typedOutcome } from './fuzz-params.ts';

/** A DER element tree as the strict reader sees it: tag, header and content length, children of constructed elements. */
interface Node {
  tag: number;
  header: number;
  length: number;
  children?: Node[];
}

/**
 * Walks `der[start, end)` with readTlv, descending into constructed
 * elements; DerError when it is not strict DER. Universal primitives other
 * than OBJECT IDENTIFIER are retagged context-specific in `opaque` (and in
 * the tree), so that asn1js, which checks the contents of times, strings,
 * BIT STRINGs and BOOLEANs, compares structure only: the strict reader reads
 * no contents but OIDs.
 */
function strictTree(der: Buffer, start: number, end: number, opaque: Buffer): Node[] {
  const out: Node[] = [];
  for (let off = start; off < end; ) {
    const el = readTlv(der, off, end);
    let tag = el.tag;
    if (tag < 0x20 && tag !== Tag.OID) {
      tag = 0x80 | tag;
      opaque[el.start] = tag;
    }
    const node: Node = { tag, header: el.contentStart - el.start, length: el.end - el.contentStart };
    if (el.tag & 0x20) node.children = strictTree(der, el.contentStart, el.end, opaque);
    if (el.tag === Tag.OID) oidString(der, el);
    out.push(node);
    off = el.end;
  }
  return out;
}

/**
 * The same tree from asn1js, asn1js's complaint when it rejects the bytes, or
 * 'content' when it throws on the contents of a string or time (which the
 * strict reader never reads).
 */
function asn1Tree(der: Buffer): Node[] | string | 'content' {
  const out: Node[] = [];
  for (let off = 0; off < der.length; ) {
    let r: ReturnType<typeof asn1js.fromBER>;
    try {
      r = asn1js.fromBER(der.subarray(off));
    } catch {
      return 'content';
    }
    if (r.offset === -1 || r.result.error !== '') return `asn1js: ${r.result.error}`;
    const node = asn1Node(r.result);
    if (node === undefined) return 'asn1js: indefinite length inside';
    out.push(node);
    off += r.offset;
  }
  return out;
}

function asn1Node(b: asn1js.AsnType): Node | undefined {
  const { idBlock, lenBlock } = b as unknown as asn1js.BaseBlock;
  if (lenBlock.isIndefiniteForm) return undefined;
  const tag = (((idBlock.tagClass - 1) & 3) << 6) | (idBlock.isConstructed ? 0x20 : 0) | idBlock.tagNumber;
  const node: Node = { tag, header: idBlock.blockLength + lenBlock.blockLength, length: lenBlock.length };
  const value = (b as unknown as { valueBlock: { value: unknown } }).valueBlock.value;
  // Constructed string types come back as their decoded text: their children are not compared.
  if (idBlock.isConstructed && Array.isArray(value)) {
    const kids: Node[] = [];
    for (const child of value as asn1js.AsnType[]) {
      const n = asn1Node(child);
      if (n === undefined) return undefined;
      kids.push(n);
    }
    node.children = kids;
  }
  return node;
}

/** `mine` without the children that asn1js does not expose (see asn1Node). */
function prune(mine: Node[], ref: Node[]): Node[] {
  return mine.map((n, i) => {
    const r = ref[i];
    if (!n.children || !r) return n;
    if (!r.children) return { tag: n.tag, header: n.header, length: n.length };
    return { ...n, children: prune(n.children, r.children) };
  });
}

/** @peculiar/x509's reading of the two extensions the leaf rules use, or undefined when it cannot parse the certificate. */
function referenceExtensions(der: Buffer): { ca: boolean; keyUsage: number | undefined } | undefined {
  try {
    const c = new px509.X509Certificate(der);
    return { ca: c.getExtension(px509.BasicConstraintsExtension)?.ca === true, keyUsage: c.getExtension(px509.KeyUsagesExtension)?.usages };
  } catch {
    return undefined;
  }
}

function nodeCertificate(der: Buffer): X509Certificate | undefined {
  try {
    return new X509Certificate(der);
  } catch {
    return undefined;
  }
}

// Extension bytes that a name can carry (fake basicConstraints cA=FALSE and keyUsage digitalSignature), ahead of the real extensions.
const FAKE_EXTENSIONS = String.fromCharCode(0x06, 0x03, 0x55, 0x1d, 0x13, 0x04, 0x02, 0x30, 0x00, 0x06, 0x03, 0x55, 0x1d, 0x0f, 0x04, 0x04, 0x03, 0x02, 0x07, 0x80);

/** A CA certificate (CA:TRUE, keyCertSign|cRLSign) whose subject common name holds FAKE_EXTENSIONS. */
export async function caWithFakeExtensionsInName(): Promise<Buffer> {
  const { privateKey, publicKey } = generateKeyPair('ec-p256');
  const now = Date.now();
  const subject = { country: ['US'], organization: ['SPIFFE'], commonName: FAKE_EXTENSIONS };
  const ca = await createCaCertificate({ trustDomain: TrustDomain.fromString('example.org'), publicKey, signer: { privateKey }, subject, notBefore: now - 60_000, notAfter: now + 3600_000 });
  return Buffer.from(ca.raw);
}

describe('fuzz: X.509 DER', () => {
  let seeds: Buffer[] = [];

  beforeAll(async () => {
    const ca = await makeCa('example.org');
    const leaf = await makeLeaf('spiffe://example.org/web', ca);
    const now = Date.now();
    const caKeys = generateKeyPair('ec-p256');
    const own = await createCaCertificate({ trustDomain: TrustDomain.fromString('example.org'), publicKey: caKeys.publicKey, signer: { privateKey: caKeys.privateKey }, notBefore: now, notAfter: now + 3600_000 });
    const svid = await signX509Svid({ ca: { certificate: own, privateKey: caKeys.privateKey }, id: SpiffeId.fromString('spiffe://example.org/db'), publicKey: generateKeyPair('ec-p256').publicKey, ttlMs: 3600_000, now, dnsNames: ['db.example.org'] });
    seeds = [ca.cert.raw, leaf.cert.raw, own.raw, svid.raw, await caWithFakeExtensionsInName()];
  });

  it('the strict DER reader accepts only what asn1js reads identically', () => {
    fc.assert(
      fc.property(fc.oneof(mutatedBytes(seeds), fc.uint8Array({ maxLength: 48 }).map((a) => Buffer.from(a))), (der) => {
        let mine: Node[];
        const opaque = Buffer.from(der);
        try {
          mine = strictTree(der, 0, der.length, opaque);
        } catch (err) {
          if (!(err instanceof DerError)) throw err;
          return;
        }
        const ref = asn1Tree(opaque);
        if (ref === 'content') return;
        if (typeof ref === 'string') expect.fail(`the strict reader accepts what asn1js rejects (${ref})`);
        expect(ref).toEqual(prune(mine, ref));
      }),
      fuzzParams(1500),
    );
  });

  it('isCa and keyUsageOf agree with @peculiar/x509 on every certificate both parse, and checkLeaf throws only typed errors', () => {
    fc.assert(
      fc.property(mutatedBytes(seeds), (der) => {
        const cert = nodeCertificate(der);
        if (!cert) return;
        const ca = typedOutcome('isCa', () => isCa(cert));
        const ku = typedOutcome('keyUsageOf', () => keyUsageOf(cert));
        typedOutcome('checkLeaf', () => checkLeaf(cert));
        const ref = referenceExtensions(der);
        if (!ref) return;
        expect(ca.ok && ca.value).toBe(ref.ca);
        expect(ku.ok ? ku.value : 'error').toBe(ref.keyUsage);
      }),
      fuzzParams(1500),
    );
  });

  it('concatenated DER: splitDer/parseCertificatesDer throw only typed errors and re-concatenate to the same bytes', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constantFrom(...seeds), mutatedBytes(seeds)), { minLength: 1, maxLength: 3 }), (parts) => {
        const input = Buffer.concat(parts);
        const split = typedOutcome('splitDer', () => splitDer(input));
        if (split.ok) expect(Buffer.concat(split.value)).toEqual(input);
        const certs = typedOutcome('parseCertificatesDer', () => parseCertificatesDer(input));
        if (certs.ok) expect(concatDer(certs.value)).toEqual(input);
      }),
      fuzzParams(1000),
    );
  });

  it('regression: extension bytes inside a name do not hide the real basicConstraints and keyUsage', async () => {
    const cert = new X509Certificate(await caWithFakeExtensionsInName());
    expect(isCa(cert)).toBe(true);
    expect(keyUsageOf(cert)).toBe(px509.KeyUsageFlags.keyCertSign | px509.KeyUsageFlags.cRLSign);
  });

  it('regression: the strict reader refuses an end-of-contents tag and constructed forms of primitive types', () => {
    for (const der of [[0x00, 0x00], [0x20, 0x00], [0x24, 0x03, 0x04, 0x01, 0x00], [0x26, 0x03, 0x06, 0x01, 0x2a]]) {
      expect(() => readTlv(Buffer.from(der), 0, der.length)).toThrow(DerError);
    }
  });

  it('regression: concatenated DER that is not certificates fails with ERR_BUNDLE_X509_PARSE', () => {
    for (const der of [Buffer.from([0x02, 0x01, 0x00]), Buffer.from([0x30, 0x05, 0x02]), Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00])]) {
      expect(() => parseCertificatesDer(der)).toThrow(expect.objectContaining({ code: 'ERR_BUNDLE_X509_PARSE' }));
    }
  });

  it('regression (fuzz seed 599615691): a signature BIT STRING with padding bits set is refused, not re-encoded', () => {
    for (const seed of seeds) {
      const der = Buffer.from(seed);
      // The signature is the certificate's last element: BIT STRING, length, unused-bits byte, bits.
      const sig = lastElement(der);
      der[sig.contentStart] = 2;
      der[der.length - 1]! |= 0x02;
      // OpenSSL reads it (and would hand back other bytes as `raw`)…
      expect(new X509Certificate(der).raw.equals(der)).toBe(false);
      // …Herald refuses it, as Go's crypto/x509 does.
      expect(() => parseCertificatesDer(der)).toThrow(expect.objectContaining({ code: 'ERR_BUNDLE_X509_PARSE', message: expect.stringContaining('not DER') }));
    }
  });
});

/** The last element inside the outer SEQUENCE of `der`. */
function lastElement(der: Buffer): { contentStart: number } {
  const outer = readTlv(der, 0, der.length, Tag.SEQUENCE);
  let el = readTlv(der, outer.contentStart, outer.end);
  while (el.end < outer.end) el = readTlv(der, el.end, outer.end);
  return el;
}
