// Authorization rules over caller identities: the JWT-SVID's `sub` and the
// mTLS peer's SPIFFE ID, per destination (host, path prefix, method).
// First matching rule wins; no match → the policy's default. Parsed and
// checked whole, so a bad file never replaces a good policy.
import { parseDocument } from 'yaml';
import { HeraldError, errorMessage } from '../../../common/errors.ts';
import { SpiffeId } from '../../../spiffe/id.ts';
import { TrustDomain } from '../../../spiffe/trust-domain.ts';

export type Action = 'allow' | 'deny';

interface IdMatcher {
  ids: Set<string>;
  trustDomains: Set<string>;
  pathPrefixes: { td: string | undefined; prefix: string }[];
}

export interface Rule {
  name: string;
  action: Action;
  host: string | undefined;
  pathPrefix: string | undefined;
  methods: Set<string> | undefined;
  jwt: IdMatcher | undefined;
  peer: IdMatcher | undefined;
}

export interface Policy {
  rules: Rule[];
  defaultAction: Action;
}

export interface Request {
  host: string;
  path: string;
  method: string;
  /** The validated JWT-SVID's subject, if any. */
  jwtSubject: SpiffeId | undefined;
  /** attributes.source.principal when it is a SPIFFE ID. */
  peer: SpiffeId | undefined;
}

export class PolicyError extends HeraldError {}

function problem(where: string, message: string): never {
  throw new PolicyError('ERR_CONFIG_AUTHZ_POLICY', `authz policy: ${where}: ${message}`);
}

const KNOWN_RULE_KEYS = new Set(['name', 'action', 'destination', 'jwt', 'peer']);
const KNOWN_DEST_KEYS = new Set(['host', 'path_prefix', 'methods']);
const KNOWN_MATCHER_KEYS = new Set(['ids', 'trust_domains', 'path_prefixes']);

function strings(v: unknown, where: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) problem(where, 'must be a list of strings');
  return v as string[];
}

function matcher(v: unknown, where: string): IdMatcher | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) problem(where, 'must be a map with ids, trust_domains or path_prefixes');
  for (const k of Object.keys(v)) if (!KNOWN_MATCHER_KEYS.has(k)) problem(`${where}.${k}`, 'unknown key');
  const m = v as Record<string, unknown>;
  const ids = strings(m.ids, `${where}.ids`).map((s, i) => {
    try {
      return SpiffeId.fromString(s).toString();
    } catch (err) {
      problem(`${where}.ids[${i}]`, errorMessage(err));
    }
  });
  const tds = strings(m.trust_domains, `${where}.trust_domains`).map((s, i) => {
    try {
      return TrustDomain.fromString(s).name;
    } catch (err) {
      problem(`${where}.trust_domains[${i}]`, errorMessage(err));
    }
  });
  // "spiffe://td/prefix" (one trust domain) or "/prefix" (any trust domain).
  const prefixes = strings(m.path_prefixes, `${where}.path_prefixes`).map((s, i) => {
    if (s.startsWith('/')) return { td: undefined, prefix: s };
    const at = /^spiffe:\/\/([^/]+)(\/.*)$/.exec(s);
    if (!at) problem(`${where}.path_prefixes[${i}]`, `"${s}" must be /path or spiffe://trust-domain/path`);
    return { td: at[1], prefix: at[2]! };
  });
  if (ids.length + tds.length + prefixes.length === 0) problem(where, 'matches nothing: give ids, trust_domains or path_prefixes');
  return { ids: new Set(ids), trustDomains: new Set(tds), pathPrefixes: prefixes };
}

export function parsePolicy(text: string, source = 'policy'): Policy {
  let doc: unknown;
  try {
    // Warnings (an unknown !tag) are refused too, rather than printed to stderr and the value read as a string.
    const parsed = parseDocument(text, { logLevel: 'error' });
    const bad = [...parsed.errors, ...parsed.warnings][0];
    if (bad !== undefined) throw bad;
    doc = parsed.toJS();
  } catch (err) {
    problem(source, `not valid YAML: ${errorMessage(err)}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) problem(source, 'must be a map with rules and default');
  const d = doc as Record<string, unknown>;
  for (const k of Object.keys(d)) if (k !== 'rules' && k !== 'default') problem(`${source}.${k}`, 'unknown key');
  const defaultAction = d.default ?? 'deny';
  if (defaultAction !== 'allow' && defaultAction !== 'deny') problem(`${source}.default`, 'must be allow or deny');
  if (d.rules !== undefined && !Array.isArray(d.rules)) problem(`${source}.rules`, 'must be a list');
  const rules = ((d.rules as unknown[] | undefined) ?? []).map((r, i): Rule => {
    const where = `${source}.rules[${i}]`;
    if (typeof r !== 'object' || r === null || Array.isArray(r)) problem(where, 'must be a map');
    const o = r as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!KNOWN_RULE_KEYS.has(k)) problem(`${where}.${k}`, 'unknown key');
    if (o.action !== 'allow' && o.action !== 'deny') problem(`${where}.action`, 'must be allow or deny');
    const dest = (o.destination ?? {}) as Record<string, unknown>;
    if (typeof dest !== 'object' || Array.isArray(dest)) problem(`${where}.destination`, 'must be a map');
    for (const k of Object.keys(dest)) if (!KNOWN_DEST_KEYS.has(k)) problem(`${where}.destination.${k}`, 'unknown key');
    if (dest.path_prefix !== undefined && (typeof dest.path_prefix !== 'string' || !dest.path_prefix.startsWith('/'))) problem(`${where}.destination.path_prefix`, 'must start with /');
    if (dest.host !== undefined && typeof dest.host !== 'string') problem(`${where}.destination.host`, 'must be a string');
    const methods = strings(dest.methods, `${where}.destination.methods`).map((m) => m.toUpperCase());
    return {
      name: typeof o.name === 'string' ? o.name : `rule ${i}`,
      action: o.action,
      host: dest.host as string | undefined,
      pathPrefix: dest.path_prefix as string | undefined,
      methods: methods.length > 0 ? new Set(methods) : undefined,
      jwt: matcher(o.jwt, `${where}.jwt`),
      peer: matcher(o.peer, `${where}.peer`),
    };
  });
  return { rules, defaultAction };
}

function matchesId(m: IdMatcher, id: SpiffeId | undefined): boolean {
  if (!id) return false;
  if (m.ids.has(id.toString()) || m.trustDomains.has(id.trustDomain.name)) return true;
  return m.pathPrefixes.some((p) => (p.td === undefined || p.td === id.trustDomain.name) && (id.path === p.prefix || id.path.startsWith(p.prefix.endsWith('/') ? p.prefix : `${p.prefix}/`)));
}

/** The deciding rule (undefined = the default applied). */
export function evaluate(policy: Policy, req: Request): { action: Action; rule: string | undefined } {
  const host = req.host.replace(/:\d+$/, '').toLowerCase();
  for (const r of policy.rules) {
    if (r.host !== undefined && r.host.toLowerCase() !== host) continue;
    if (r.pathPrefix !== undefined && !req.path.startsWith(r.pathPrefix)) continue;
    if (r.methods && !r.methods.has(req.method.toUpperCase())) continue;
    if (r.jwt && !matchesId(r.jwt, req.jwtSubject)) continue;
    if (r.peer && !matchesId(r.peer, req.peer)) continue;
    return { action: r.action, rule: r.name };
  }
  return { action: policy.defaultAction, rule: undefined };
}
