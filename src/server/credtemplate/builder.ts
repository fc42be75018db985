// The credential template builder (SPIRE pkg/server/credtemplate): one
// place that decides what goes into the server CA, X509-SVIDs (server,
// agent, workload) and workload JWT-SVID claims. It starts from Herald's
// base profile, runs the configured composers in order and checks every
// composer's output against the SVID rules, refusing it with an error that
// names the composer and the rule. The result is plain data: the inline
// signing path and the signing workers encode the same template
// (x509.ts, src/spiffe/x509-leaf-der.ts).
//
// Base profile (seed 000, before composers): CA subject from `ca_subject`
// (default C=US, O=SPIFFE); X509-SVID subject C=US, O=SPIRE and, with DNS
// names, CN = the first. The default composer, uniqueid, adds
// x500UniqueIdentifier (src/server/plugins/credentialcomposer/uniqueid).
import { isDeepStrictEqual } from 'node:util';
import { HeraldError } from '../../common/errors.ts';
import type { TrustDomain } from '../../spiffe/trust-domain.ts';
import { element } from '../../spiffe/der-writer.ts';
import { PRINTABLE, PROFILE_EXTENSIONS, isDottedOid, nameAttributeOid } from '../../spiffe/x509-leaf-der.ts';
import { DEFAULT_CA_SUBJECT, DEFAULT_SVID_SUBJECT, type CertSubject } from '../../spiffe/x509-template.ts';
import type {
  CredentialComposer,
  ExtraExtension,
  JwtSvidContext,
  NameAttribute,
  X509CaAttributes,
  X509CaContext,
  X509SvidAttributes,
  X509SvidContext,
  X509SvidKind,
} from './composer.ts';

export class CredentialComposerError extends HeraldError {}

export interface CredentialBuilderConfig {
  trustDomain: TrustDomain;
  /** The CA certificate's subject (`ca_subject`); default C=US, O=SPIFFE. */
  caSubject?: CertSubject | undefined;
  /** Run in order on every credential; empty: the base profile only. */
  composers?: readonly CredentialComposer[];
}

/** A composed, checked X.509 CA template. */
export type X509CaTemplate = X509CaAttributes;
/** A composed, checked X509-SVID template: plain data, structured-cloneable to a signing worker. */
export type X509SvidTemplate = X509SvidAttributes;

/** JWT claims only the builder sets. */
export const RESERVED_JWT_CLAIMS = ['sub', 'aud', 'exp', 'iat'] as const;

const COMPOSE_X509_SVID = {
  server: 'composeServerX509Svid',
  agent: 'composeAgentX509Svid',
  workload: 'composeWorkloadX509Svid',
} as const;

export class CredentialBuilder {
  readonly trustDomain: TrustDomain;
  readonly #caSubject: CertSubject;
  readonly #composers: readonly CredentialComposer[];

  constructor(cfg: CredentialBuilderConfig) {
    this.trustDomain = cfg.trustDomain;
    this.#caSubject = cfg.caSubject ?? DEFAULT_CA_SUBJECT;
    this.#composers = [...(cfg.composers ?? [])];
  }

  get composers(): readonly CredentialComposer[] {
    return this.#composers;
  }

  /** The server CA's subject and extra extensions (self-signed or under an upstream authority). */
  async buildX509CaTemplate(ctx: Omit<X509CaContext, 'trustDomain'>): Promise<X509CaTemplate> {
    const s = this.#caSubject;
    let attrs: X509CaAttributes = {
      subject: [
        ...(s.country ?? []).map((value) => ({ type: 'C', value })),
        ...(s.organization ?? []).map((value) => ({ type: 'O', value })),
        ...(s.commonName ? [{ type: 'CN', value: s.commonName }] : []),
      ],
      extraExtensions: [],
    };
    const full: X509CaContext = { ...ctx, trustDomain: this.trustDomain };
    for (const c of this.#composers) {
      if (!c.composeServerX509Ca) continue;
      attrs = await c.composeServerX509Ca(attrs, full);
      checkX509(attrs, false, () => `credential composer "${c.name}": server X509 CA for ${this.trustDomain.idString()}`, 'an X.509 CA has exactly one URI SAN, the trust domain ID, and is a CA');
    }
    return attrs;
  }

  /**
   * An X509-SVID's subject, DNS SANs and extra extensions. Synchronous
   * when every composer is (issuance composes one template per SVID on the
   * main thread), a promise as soon as one composer returns one.
   */
  buildX509SvidTemplate(kind: X509SvidKind, ctx: X509SvidContext & { dnsNames?: readonly string[] | undefined }): X509SvidTemplate | Promise<X509SvidTemplate> {
    const dnsNames = ctx.dnsNames ? [...ctx.dnsNames] : [];
    const subject: NameAttribute[] = [];
    for (const value of DEFAULT_SVID_SUBJECT.country ?? []) subject.push({ type: 'C', value, encoding: 'printable' });
    for (const value of DEFAULT_SVID_SUBJECT.organization ?? []) subject.push({ type: 'O', value, encoding: 'utf8' });
    if (dnsNames.length > 0) subject.push({ type: 'CN', value: dnsNames[0]!, encoding: 'utf8' });
    return this.#composeX509Svid(kind, ctx, { subject, dnsNames, extraExtensions: [] }, 0);
  }

  #composeX509Svid(kind: X509SvidKind, ctx: X509SvidContext, attrs: X509SvidAttributes, from: number): X509SvidTemplate | Promise<X509SvidTemplate> {
    const method = COMPOSE_X509_SVID[kind];
    for (let i = from; i < this.#composers.length; i++) {
      const c = this.#composers[i]!;
      const compose = c[method];
      if (!compose) continue;
      const out = compose.call(c, attrs, ctx);
      const check = (a: X509SvidAttributes): X509SvidAttributes => {
        checkX509(a, true, () => `credential composer "${c.name}": ${kind} X509-SVID for ${ctx.id.toString()}`, 'an X509-SVID has exactly one URI SAN, its SPIFFE ID, and is not a CA');
        return a;
      };
      if (isThenable(out)) return Promise.resolve(out).then((a) => this.#composeX509Svid(kind, ctx, check(a), i + 1));
      attrs = check(out);
    }
    return attrs;
  }

  /**
   * A workload JWT-SVID's claims: sub, aud, exp, iat (and iss when
   * configured) from the builder, anything else from composers.
   */
  async buildWorkloadJwtSvidClaims(ctx: JwtSvidContext & { audience: readonly string[]; expiresAt: number; now: number; issuer?: string | undefined }): Promise<Record<string, unknown>> {
    const base: Record<string, unknown> = {
      sub: ctx.id.toString(),
      aud: [...ctx.audience],
      exp: Math.floor(ctx.expiresAt / 1000),
      iat: Math.floor(ctx.now / 1000),
    };
    if (ctx.issuer) base.iss = ctx.issuer;
    let claims = base;
    const reserved = ctx.issuer ? [...RESERVED_JWT_CLAIMS, 'iss'] : RESERVED_JWT_CLAIMS;
    for (const c of this.#composers) {
      if (!c.composeWorkloadJwtSvid) continue;
      const where = `credential composer "${c.name}": workload JWT-SVID for ${ctx.id.toString()}`;
      const out = await c.composeWorkloadJwtSvid({ claims: { ...claims, aud: [...(claims.aud as string[])] } }, { id: ctx.id, ...(ctx.entry ? { entry: ctx.entry } : {}) });
      const next = out?.claims;
      if (typeof next !== 'object' || next === null || Array.isArray(next)) refuse(where, 'claims', 'must be an object');
      for (const name of reserved) {
        if (!isDeepStrictEqual(next[name], base[name])) {
          refuse(where, `claim "${name}"`, name === 'iss' ? 'is set from jwt_issuer and may not be changed' : 'is set by the server and may not be changed or removed');
        }
      }
      try {
        JSON.stringify(next);
      } catch (err) {
        refuse(where, 'claims', `must be JSON: ${(err as Error).message}`);
      }
      claims = next;
    }
    return claims;
  }
}

function refuse(where: string | (() => string), rule: string, detail: string): never {
  throw new CredentialComposerError('ERR_CREDENTIAL_COMPOSER', `${typeof where === 'string' ? where : where()}: ${rule} ${detail}`);
}

function isThenable<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

const DNS_NAME = /^(\*\.)?[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/;

const PROFILE_RULE: Readonly<Record<string, string>> = {
  subjectAltName: 'the URI SAN is the SPIFFE ID and DNS SANs come from dnsNames',
  basicConstraints: 'the CA flag is fixed by the profile',
  keyUsage: 'the key usage is fixed by the profile',
  extKeyUsage: 'the extended key usage is fixed by the profile',
  subjectKeyIdentifier: 'key identifiers are computed from the keys',
  authorityKeyIdentifier: 'key identifiers are computed from the keys',
};

/** The composed attributes must still make a valid X509-SVID (svid) or X.509 CA. */
function checkX509(attrs: X509SvidAttributes | X509CaAttributes, svid: boolean, where: () => string, profile: string): void {
  if (typeof attrs !== 'object' || attrs === null) refuse(where, 'attributes', 'must be an object');
  if (!Array.isArray(attrs.subject)) refuse(where, 'subject', 'must be an array of name attributes');
  if (attrs.subject.length === 0) refuse(where, 'subject', 'must not be empty (the SAN extension is not critical, so RFC 5280 §4.1.2.6 requires a subject)');
  for (const a of attrs.subject as NameAttribute[]) {
    if (typeof a?.type !== 'string' || nameAttributeOid(a.type) === undefined) refuse(where, 'subject', `attribute type ${JSON.stringify(a?.type)} is neither a known short name nor a dotted OID`);
    if (typeof a.value !== 'string' || a.value === '') refuse(where, 'subject', `attribute ${a.type} must have a non-empty string value`);
    if (a.encoding !== undefined && a.encoding !== 'printable' && a.encoding !== 'utf8' && a.encoding !== 'ia5') refuse(where, 'subject', `attribute ${a.type}: unknown encoding ${JSON.stringify(a.encoding)}`);
    if (a.encoding === 'printable' && !PRINTABLE.test(a.value)) refuse(where, 'subject', `attribute ${a.type}: ${JSON.stringify(a.value)} is not a PrintableString`);
    // eslint-disable-next-line no-control-regex
    if (a.encoding === 'ia5' && !/^[\x00-\x7f]*$/.test(a.value)) refuse(where, 'subject', `attribute ${a.type}: ${JSON.stringify(a.value)} is not an IA5String`);
  }
  if (svid) {
    const dns = (attrs as X509SvidAttributes).dnsNames;
    if (!Array.isArray(dns)) refuse(where, 'dnsNames', 'must be an array of DNS names');
    for (const d of dns) {
      if (typeof d !== 'string' || d.length > 253 || !DNS_NAME.test(d)) refuse(where, 'dnsNames', `${JSON.stringify(d)} is not a DNS name (a URI SAN other than the SPIFFE ID is not allowed in an X509-SVID)`);
    }
  } else if ('dnsNames' in attrs) {
    refuse(where, 'dnsNames', 'cannot be set on a CA certificate');
  }
  if (!Array.isArray(attrs.extraExtensions)) refuse(where, 'extraExtensions', 'must be an array');
  const seen = new Set<string>();
  for (const e of attrs.extraExtensions as ExtraExtension[]) {
    if (typeof e?.oid !== 'string' || !isDottedOid(e.oid)) refuse(where, 'extraExtensions', `${JSON.stringify(e?.oid)} is not a dotted OID`);
    const owned = PROFILE_EXTENSIONS[e.oid];
    if (owned) refuse(where, `extension ${e.oid} (${owned})`, `may not be set by a composer: ${profile}; ${PROFILE_RULE[owned]}`);
    if (seen.has(e.oid)) refuse(where, `extension ${e.oid}`, 'appears twice');
    seen.add(e.oid);
    if (e.critical !== undefined && typeof e.critical !== 'boolean') refuse(where, `extension ${e.oid}`, 'critical must be a boolean');
    if (!(e.value instanceof Uint8Array) || !isOneDerElement(e.value)) refuse(where, `extension ${e.oid}`, 'value must be one DER element (the extnValue contents)');
  }
}

function isOneDerElement(v: Uint8Array): boolean {
  if (v.length < 2) return false;
  try {
    const b = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    return element(b, 0).end === b.length;
  } catch {
    return false;
  }
}
