// The server's own X509-SVID (spiffe://<td>/spire/server) for the agent
// API's TLS listener and the bundle endpoint (SPIRE pkg/server/svid
// rotator): re-signed at half its life and when a new X.509 CA is
// activated, each time for a new key, as SPIRE's rotator does — a key that
// leaks stops being useful at the next rotation.
import { X509Certificate, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock, Timer } from '../../common/clock.ts';
import { createSvidServerCredentials, type UpdatableServerCredentials } from '../../common/grpc/tls-credentials.ts';
import { certificatesToPem } from '../../spiffe/bundle/der.ts';
import type { SpiffeId } from '../../spiffe/id.ts';
import type { SvidIssuer } from '../ca/issuer.ts';
import type { CaManager } from '../ca/manager.ts';
import type { OwnBundle } from '../own-bundle.ts';

/** The bundle endpoint keeps signing with the previous CA while it has at least this long left. */
export const MIN_OLD_CA_REMAINING_MS = 10_000;

/** A fresh key for each server SVID (EC P-256). */
function newKey(): KeyObject {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

/**
 * The server's own X509-SVID (spiffe://<td>/spire/server) for the TLS
 * listener and the bundle endpoint. Re-signed at half its life and when a
 * new CA is activated; a bundle change only updates the roots it trusts
 * (re-signing then would sign with whatever CA is active at that instant,
 * which federated peers may not know yet).
 */
export class ServerSvid {
  readonly #id: SpiffeId;
  readonly #issuer: SvidIssuer;
  readonly #bundle: OwnBundle;
  readonly #clock: Clock;
  readonly #log: Logger;
  #credentials: UpdatableServerCredentials | undefined;
  #timer: Timer | undefined;
  #unsubscribe: (() => void) | undefined;
  #listeners = new Set<(pem: { certChainPem: string; privateKeyPem: string }) => void>();
  #current: { certChainPem: string; privateKeyPem: string } | undefined;

  readonly #ca: CaManager;
  readonly #preferEstablishedCa: boolean;
  /** The old CA the current SVID was signed with, if it was. */
  #signedByOld: X509Certificate | undefined;

  /**
   * `preferEstablishedCa` (the agent API's and the bundle endpoint's SVIDs):
   * sign with the previous CA while it is still valid. Every agent and peer
   * that ever fetched this domain's bundle trusts it, whereas a
   * just-activated CA may not have reached them yet — and they learn it only
   * through this very listener.
   */
  constructor(id: SpiffeId, issuer: SvidIssuer, ca: CaManager, bundle: OwnBundle, clock: Clock, log: Logger, opts: { preferEstablishedCa?: boolean } = {}) {
    this.#ca = ca;
    this.#preferEstablishedCa = opts.preferEstablishedCa ?? false;
    this.#id = id;
    this.#issuer = issuer;
    this.#bundle = bundle;
    this.#clock = clock;
    this.#log = log;
  }

  async start(): Promise<UpdatableServerCredentials> {
    const identity = await this.#renew();
    this.#credentials = createSvidServerCredentials(identity, this.#bundle.rootsPem());
    const offBundle = this.#bundle.onChange(() => {
      // Signed by an old CA that has just been tainted or revoked: replace it now.
      if (this.#signedByOld && this.#retired(this.#signedByOld)) {
        void this.#renew().then((id) => this.#credentials?.update(id, this.#bundle.rootsPem())).catch((err) => this.#log.error({ err }, 'Failed to renew server SVID'));
      } else {
        this.#credentials?.update(this.current, this.#bundle.rootsPem());
      }
    });
    const offCa = this.#ca.onEvent((e) => {
      if (e.kind !== 'x509-activated') return;
      void this.#renew().then((id) => this.#credentials?.update(id, this.#bundle.rootsPem())).catch((err) => this.#log.error({ err }, 'Failed to renew server SVID'));
    });
    this.#unsubscribe = () => {
      offBundle();
      offCa();
    };
    return this.#credentials;
  }

  get current(): { certChainPem: string; privateKeyPem: string } {
    if (!this.#current) throw new Error('ServerSvid: not started');
    return this.#current;
  }

  onRenew(fn: (pem: { certChainPem: string; privateKeyPem: string }) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  async #renew(): Promise<{ certChainPem: string; privateKeyPem: string }> {
    this.#timer?.cancel();
    // A new key on every rotation; the previous one is dropped once the new SVID is signed.
    const key = newKey();
    const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
    const old = this.#preferEstablishedCa ? this.#ca.oldX509Ca() : undefined;
    // The old CA only while an SVID from it can still live a useful while, and while it is trusted untainted.
    const useOld = old !== undefined && old.notAfter - this.#clock.now() > MIN_OLD_CA_REMAINING_MS && !this.#retired(old.certificate);
    const issued = await this.#issuer.signX509Svid({ id: this.#id, spki, kind: 'server', ...(useOld ? { ca: old } : {}) });
    this.#signedByOld = useOld ? old.certificate : undefined;
    const chain = issued.chain.map((der) => new X509Certificate(der));
    const now = this.#clock.now();
    const notBefore = Date.parse(chain[0]!.validFrom);
    const renewAt = notBefore + (issued.expiresAt - notBefore) / 2;
    this.#timer = this.#clock.setTimeout(() => {
      void this.#renew().then((id) => this.#credentials?.update(id, this.#bundle.rootsPem())).catch((err) => this.#log.error({ err }, 'Failed to renew server SVID'));
    }, Math.max(1000, renewAt - now));
    this.#current = { certChainPem: certificatesToPem(chain), privateKeyPem: key.export({ format: 'pem', type: 'pkcs8' }).toString() };
    for (const fn of this.#listeners) fn(this.#current);
    this.#log.debug({ spiffe_id: this.#id.toString(), expires_at: new Date(issued.expiresAt).toISOString() }, 'Server SVID signed');
    return this.#current;
  }

  /**
   * Tainted, or not in the bundle: revoked, or (with an upstream authority)
   * never there, and then the roots do not change on rotation anyway.
   */
  #retired(ca: X509Certificate): boolean {
    const a = this.#bundle.stored?.x509Authorities.find((x) => Buffer.compare(x.der, ca.raw) === 0);
    return a === undefined || a.tainted;
  }

  stop(): void {
    this.#timer?.cancel();
    this.#unsubscribe?.();
  }
}
