// What the demo page shows and does, gathered from the running system:
// both servers' admin APIs (authorities, bundles, entries), both Envoys'
// admin APIs (the SVIDs they serve), and calls through web's Envoy.
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { Services } from '../../src/common/grpc/protos.ts';
import { sign } from '../../src/spiffe/jwtsvid.ts';
import { SpiffeId } from '../../src/spiffe/id.ts';
import { keyIdOfSpki } from '../../src/spiffe/x509-leaf-der.ts';
import { DOMAINS, ECHO_AUDIENCE } from '../topology.ts';
import { admin } from './procs.ts';
import type { EchoReply } from '../apps/echo-app.ts';

export interface BackendConfig {
  /** web's Envoy outbound listener, e.g. http://127.0.0.1:10001 */
  webEnvoyUrl: string;
  envoyAdmin: Record<'web' | 'echo', string>;
  serverSocket: Record<'web' | 'echo', string>;
}

export type CallMode = 'mtls' | 'jwt' | 'forged';

export interface CallResult {
  mode: CallMode;
  at: string;
  ms: number;
  status: number;
  /** The server identity web's Envoy accepted (echo's, from its certificate). */
  webSawPeer: string | null;
  /** The client identity echo's Envoy accepted (web's). */
  echoSawPeer: string | null;
  jwtClaims: Record<string, unknown> | null;
  /** echo's third hop: the row it read from PostgreSQL with its own SVID, and as whom. */
  db: EchoReply['db'];
  body: string;
}

interface AuthorityState {
  authority_id: string;
  expires_at: string;
}

export interface Authority {
  id: string;
  expiresAt: string;
}

export interface DomainState {
  name: string;
  trustDomain: string;
  x509: { active: Authority | null; prepared: Authority | null; old: Authority | null; nextPrepareAt: string | null; nextActivateAt: string | null };
  jwt: { active: Authority | null; prepared: Authority | null };
  bundle: { sequence: string; x509Authorities: number; jwtAuthorities: number };
  federated: { trustDomain: string; sequence: string; x509Authorities: number } | null;
  identities: string[];
  svid: { spiffeId: string; serial: string; validFrom: string; expiresAt: string; renewsAt: string } | null;
}

const MAX_CALLS = 12;

export class DemoBackend {
  readonly #c: BackendConfig;
  readonly calls: CallResult[] = [];

  constructor(config: BackendConfig) {
    this.#c = config;
  }

  async #domain(name: 'web' | 'echo'): Promise<DomainState> {
    const spec = DOMAINS.find((d) => d.name === name)!;
    const sock = this.#c.serverSocket[name];
    const [x509, jwt, bundle, entries] = await Promise.all([
      admin<{ active: AuthorityState | null; prepared: AuthorityState | null; old: AuthorityState | null }>(sock, Services.localAuthority, 'GetX509AuthorityState', {}),
      admin<{ active: AuthorityState | null; prepared: AuthorityState | null }>(sock, Services.localAuthority, 'GetJWTAuthorityState', {}),
      admin<{ x509_authorities: { asn1: Buffer }[]; jwt_authorities: unknown[]; sequence_number: string }>(sock, Services.bundle, 'GetBundle', {}),
      admin<{ entries: { spiffe_id: { trust_domain: string; path: string } }[] }>(sock, Services.entry, 'ListEntries', {}),
    ]);
    const federated = await admin<{ x509_authorities: unknown[]; sequence_number: string }>(sock, Services.bundle, 'GetFederatedBundle', { trust_domain: spec.federatesWith }).catch(() => null);
    const auth = (a: AuthorityState | null): Authority | null => (a ? { id: a.authority_id, expiresAt: new Date(Number(a.expires_at) * 1000).toISOString() } : null);
    // The active CA's own certificate tells when the next one is due (SPIRE: prepare at 1/2, activate at 5/6 of its life).
    const activeCert = bundle.x509_authorities.map((a) => new X509Certificate(a.asn1)).find((c) => keyIdOfSpki(c.publicKey.export({ format: 'der', type: 'spki' })).toString('hex') === x509.active?.authority_id);
    let nextPrepareAt: string | null = null;
    let nextActivateAt: string | null = null;
    if (activeCert) {
      const from = Date.parse(activeCert.validFrom);
      const to = Date.parse(activeCert.validTo);
      nextPrepareAt = x509.prepared ? null : new Date(from + (to - from) / 2).toISOString();
      nextActivateAt = new Date(to - (to - from) / 6).toISOString();
    }
    return {
      name,
      trustDomain: spec.trustDomain,
      x509: { active: auth(x509.active), prepared: auth(x509.prepared), old: auth(x509.old), nextPrepareAt, nextActivateAt },
      jwt: { active: auth(jwt.active), prepared: auth(jwt.prepared) },
      bundle: { sequence: bundle.sequence_number, x509Authorities: bundle.x509_authorities.length, jwtAuthorities: bundle.jwt_authorities.length },
      federated: federated ? { trustDomain: spec.federatesWith, sequence: federated.sequence_number, x509Authorities: federated.x509_authorities.length } : null,
      identities: entries.entries.map((e) => `spiffe://${e.spiffe_id.trust_domain}${e.spiffe_id.path}`).sort(),
      svid: await this.#envoySvid(name),
    };
  }

  async #envoySvid(name: 'web' | 'echo'): Promise<DomainState['svid']> {
    try {
      const res = await fetch(`${this.#c.envoyAdmin[name]}/certs`);
      const certs = (await res.json()) as { certificates: { cert_chain: { serial_number: string; subject_alt_names: { uri?: string }[]; valid_from: string; expiration_time: string }[] }[] };
      const leaf = certs.certificates.map((c) => c.cert_chain[0]).find((c) => c?.subject_alt_names.some((s) => s.uri));
      if (!leaf) return null;
      const from = Date.parse(leaf.valid_from);
      const to = Date.parse(leaf.expiration_time);
      return { spiffeId: leaf.subject_alt_names.find((s) => s.uri)!.uri!, serial: leaf.serial_number, validFrom: leaf.valid_from, expiresAt: leaf.expiration_time, renewsAt: new Date(from + (to - from) / 2).toISOString() };
    } catch {
      return null;
    }
  }

  async state(): Promise<{ now: string; domains: DomainState[]; calls: CallResult[] }> {
    return { now: new Date().toISOString(), domains: await Promise.all([this.#domain('web'), this.#domain('echo')]), calls: this.calls };
  }

  async call(mode: CallMode): Promise<CallResult> {
    const path = { mtls: '/hello', jwt: '/jwt/hello', forged: '/forged/hello' }[mode];
    const headers: Record<string, string> = {};
    if (mode === 'forged') headers.authorization = `Bearer ${await forgedToken()}`;
    const t0 = performance.now();
    let status = 0;
    let body = '';
    try {
      const res = await fetch(`${this.#c.webEnvoyUrl}${path}`, { headers, signal: AbortSignal.timeout(5000) });
      status = res.status;
      body = await res.text();
    } catch (err) {
      body = (err as Error).message;
    }
    let reply: Partial<EchoReply> = {};
    try {
      reply = JSON.parse(body) as EchoReply;
    } catch {
      // not the echo app's JSON: a denial from Envoy
    }
    const result: CallResult = {
      mode,
      at: new Date().toISOString(),
      ms: Math.round((performance.now() - t0) * 10) / 10,
      status,
      webSawPeer: reply.self ?? null,
      echoSawPeer: reply.peer ?? null,
      jwtClaims: reply.jwtClaims ?? null,
      db: reply.db ?? null,
      body: reply.app ? '' : body.trim().slice(0, 200),
    };
    this.calls.unshift(result);
    this.calls.length = Math.min(this.calls.length, MAX_CALLS);
    return result;
  }

  /**
   * Forces a CA and JWT key rotation in echo.example the safe way: prepare
   * (the new CA enters echo's bundle), wait until web.example has fetched
   * that bundle through federation, then activate. Activating before the
   * peers know the new CA would leave them unable to verify echo's SVIDs,
   * its bundle endpoint included.
   */
  async rotateEcho(): Promise<{ x509: string; jwt: string; propagatedMs: number }> {
    const sock = this.#c.serverSocket.echo;
    const x = await admin<{ prepared_authority: AuthorityState }>(sock, Services.localAuthority, 'PrepareX509Authority', {});
    const t0 = Date.now();
    const wanted = x.prepared_authority.authority_id;
    for (;;) {
      const fed = await admin<{ x509_authorities: { asn1: Buffer }[] }>(this.#c.serverSocket.web, Services.bundle, 'GetFederatedBundle', { trust_domain: 'echo.example' });
      if (fed.x509_authorities.some((a) => keyIdOfSpki(new X509Certificate(a.asn1).publicKey.export({ format: 'der', type: 'spki' })).toString('hex') === wanted)) break;
      if (Date.now() - t0 > 60_000) throw new Error('web.example did not learn echo.example\'s new CA within 60 s; not activating it');
      await new Promise((r) => setTimeout(r, 250));
    }
    const propagatedMs = Date.now() - t0;
    await admin(sock, Services.localAuthority, 'ActivateX509Authority', { authority_id: wanted });
    const j = await admin<{ prepared_authority: AuthorityState }>(sock, Services.localAuthority, 'PrepareJWTAuthority', {});
    await admin(sock, Services.localAuthority, 'ActivateJWTAuthority', { authority_id: j.prepared_authority.authority_id });
    return { x509: wanted, jwt: j.prepared_authority.authority_id, propagatedMs };
  }
}

/** A token that looks right — web's SPIFFE ID, echo's audience — signed by a key nobody trusts. */
async function forgedToken(): Promise<string> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return sign({ id: SpiffeId.fromString('spiffe://web.example/web'), audience: [ECHO_AUDIENCE], expiresAt: Date.now() + 300_000, key: privateKey, kid: 'forged', now: Date.now() });
}
