// Herald's SPIFFE primitives, modelled on go-spiffe v2. Parse at the edge,
// pass values after that:
//
//   const id = SpiffeId.fromString('spiffe://example.org/web');
//   const bundle = SpiffeBundle.parse(TrustDomain.fromString('example.org'), json);
//   const { id: peer } = verify(peerChain, new BundleSet([bundle]), { at: clock.now() });
//   const svid = await parseAndValidate(token, bundleSet, ['spiffe://example.org/db'], { now: clock.now() });
//
// Every error is a HeraldError subclass (SpiffeIdError, X509SvidError,
// JwtSvidError, BundleError) with a stable code and go-spiffe's wording.
export { SpiffeId, trustDomainId, MAX_SPIFFE_ID_LENGTH } from './id.ts';
export { TrustDomain, MAX_TRUST_DOMAIN_LENGTH } from './trust-domain.ts';
export { validatePath, validatePathSegment } from './path.ts';
export { SpiffeIdError, X509SvidError, JwtSvidError, BundleError, spiffeIdMessages } from './errors.ts';
export type { SpiffeIdRule } from './errors.ts';
export { KEY_TYPES, isKeyType, generateKeyPair, privateKeyToPkcs8Der, privateKeyToPkcs8Pem, parsePkcs8 } from './keys.ts';
export type { KeyType } from './keys.ts';
export { idFromCert, checkLeaf, parse as parseX509Svid, parseRaw as parseRawX509Svid, load as loadX509Svid, marshal as marshalX509Svid, marshalRaw as marshalRawX509Svid } from './x509svid.ts';
export type { X509Svid } from './x509svid.ts';
export { verify as verifyX509Svid } from './x509-verify.ts';
export type { VerifyResult } from './x509-verify.ts';
export { uniqueIdFor, randomSerial, DEFAULT_CA_SUBJECT, DEFAULT_SVID_SUBJECT, NOT_BEFORE_BACKDATE_MS } from './x509-template.ts';
export type { CertSubject } from './x509-template.ts';
export { keyObjectSigner } from './signer.ts';
export type { Signer, ExportableSigner, SignatureHash } from './signer.ts';
export { isCa, keyUsageOf, uriSansOf, dnsSansOf, KeyUsage } from './x509-ext.ts';
export { sign as signJwtSvid, parseAndValidate as parseAndValidateJwtSvid, parseInsecure as parseInsecureJwtSvid, algForKey, ALLOWED_ALGS, DEFAULT_LEEWAY_MS } from './jwtsvid.ts';
export type { JwtSvid, JwtAlg, SignJwtSvidOptions, ValidateOptions } from './jwtsvid.ts';
export { X509Bundle } from './bundle/x509-bundle.ts';
export type { X509BundleSource } from './bundle/x509-bundle.ts';
export { JwtBundle } from './bundle/jwt-bundle.ts';
export type { JwtBundleSource } from './bundle/jwt-bundle.ts';
export { SpiffeBundle } from './bundle/spiffe-bundle.ts';
export type { BundleSource, SpiffeBundleInit } from './bundle/spiffe-bundle.ts';
export { BundleSet } from './bundle/set.ts';
export { splitDer, parseCertificatesDer, parseCertificatesPem, concatDer, certificatesToPem } from './bundle/der.ts';
