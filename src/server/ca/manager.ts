// The CA manager: owns the current and next X.509 CA and JWT key, rotates
// them on a timer (SPIRE pkg/server/ca/manager/manager.go + rotator.go), and
// persists every change to the journal and key manager before using it.
import { X509Certificate, createPublicKey, randomBytes, randomInt, verify, type KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock, Timer } from '../../common/clock.ts';
import { HeraldError } from '../../common/errors.ts';
import type { KeyType } from '../../spiffe/keys.ts';
import type { TrustDomain } from '../../spiffe/trust-domain.ts';
import { loadJournal, saveJournal, type JournalData, type SlotId, type SlotStatus } from './journal.ts';
import type { KeyManager, KeyManagerKey } from '../plugins/keymanager/types.ts';
import type { CredentialBuilder } from '../credtemplate/builder.ts';
import type { X509CaTemplate } from '../credtemplate/builder.ts';
import { activationThreshold, otherSlot, preparationThreshold, type JwtAuthority, type X509CaAuthority } from './slot.ts';

/**
 * Mints a CA certificate for a key: self-signed, or signed by an upstream
 * authority. `key` is the new CA's key as the key manager hands it out (a
 * signer: a self-signed minter signs with it, an upstream one only needs
 * its public key); `template` is the composed CA subject and extensions
 * (without one, the minter's configured subject).
 */
export interface X509CaMinter {
  mint(args: { key: KeyManagerKey; notBefore: number; notAfter: number; template?: X509CaTemplate }): Promise<{
    certificate: X509Certificate;
    upstreamChain: X509Certificate[];
  }>;
  /** The roots verifiers must trust for CAs this minter makes (the CA itself when self-signed). */
  trustAnchorsFor(ca: { certificate: X509Certificate; upstreamChain: X509Certificate[] }): X509Certificate[];
}

/** Publishes prepared authorities in the trust domain's own bundle. */
export interface AuthorityPublisher {
  publish(args: { x509Authorities: X509Certificate[]; jwtAuthority?: { kid: string; publicKey: KeyObject; notAfter: number } }): Promise<void>;
}

export interface CaManagerConfig {
  trustDomain: TrustDomain;
  caKeyType: KeyType;
  jwtKeyType: KeyType;
  caTtlMs: number;
  journalPath: string;
  keyManager: KeyManager;
  minter: X509CaMinter;
  publisher: AuthorityPublisher;
  /** Composes the CA certificate's subject and extensions (the minters' configured subject without one). */
  credentials?: CredentialBuilder;
  clock: Clock;
  log: Logger;
  /** How often rotation is checked (SPIRE: 10 s). */
  rotateIntervalMs?: number;
}

export class CaManagerError extends HeraldError {}

export type CaEvent = { kind: 'x509-activated'; ca: X509CaAuthority } | { kind: 'jwt-activated'; key: JwtAuthority } | { kind: 'prepared' };

interface Slots<T> {
  current?: T;
  next?: T;
  /** The one active before `current` (kept while what it signed may be in use). */
  old?: T;
}

const KID_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

export class CaManager {
  readonly #cfg: CaManagerConfig;
  #journal: JournalData = { version: 1, x509Cas: [], jwtKeys: [] };
  #x509: Slots<X509CaAuthority> = {};
  #jwt: Slots<JwtAuthority> = {};
  #timer: Timer | undefined;
  #listeners = new Set<(e: CaEvent) => void>();
  // Serialises rotations: a forced rotation and the timer must not interleave.
  #queue: Promise<unknown> = Promise.resolve();
  // intermediateCas(), rebuilt after the journal changes.
  #intermediates: X509Certificate[] | undefined;

  constructor(cfg: CaManagerConfig) {
    this.#cfg = cfg;
  }

  /** Loads the journal and keys, then makes sure an active CA and JWT key exist. */
  async initialize(): Promise<void> {
    this.#journal = await loadJournal(this.#cfg.journalPath);
    this.#intermediates = undefined;
    await this.#restoreFromJournal();
    await this.rotate();
  }

  /** Publishes the active and prepared authorities in the bundle again (after the datastore lost it). */
  republish(): Promise<void> {
    return this.#serialise(async () => {
      const { minter, publisher } = this.#cfg;
      for (const ca of [this.#x509.current, this.#x509.next]) if (ca) await publisher.publish({ x509Authorities: minter.trustAnchorsFor(ca) });
      for (const k of [this.#jwt.current, this.#jwt.next]) if (k) await publisher.publish({ x509Authorities: [], jwtAuthority: { kid: k.kid, publicKey: k.publicKey, notAfter: k.notAfter } });
    });
  }

  /** Starts the periodic rotation check. */
  start(): void {
    const tick = (): void => {
      this.#timer = this.#cfg.clock.setTimeout(() => {
        this.rotate().catch((err) => this.#cfg.log.error({ err }, 'Failed to rotate CA')).finally(tick);
      }, this.#cfg.rotateIntervalMs ?? 10_000);
    };
    tick();
  }

  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  onEvent(fn: (e: CaEvent) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  currentX509Ca(): X509CaAuthority {
    if (!this.#x509.current) throw new CaManagerError('ERR_UNAVAILABLE_NO_CA', 'ca: no active X.509 CA');
    return this.#x509.current;
  }

  nextX509Ca(): X509CaAuthority | undefined {
    return this.#x509.next;
  }

  currentJwtKey(): JwtAuthority {
    if (!this.#jwt.current) throw new CaManagerError('ERR_UNAVAILABLE_NO_JWT_KEY', 'ca: no active JWT key');
    return this.#jwt.current;
  }

  nextJwtKey(): JwtAuthority | undefined {
    return this.#jwt.next;
  }

  /** One rotation step: prepare and activate as thresholds say. */
  rotate(): Promise<void> {
    return this.#serialise(async () => {
      await this.#rotateX509();
      await this.#rotateJwt();
    });
  }

  /**
   * The intermediate certificates of this server's X.509 CAs under an
   * upstream authority — every CA in the journal not yet expired, and the
   * upstream intermediates above it; empty when self-signed. Verifiers hold
   * only the upstream roots, so a peer's X509-SVID chain is rebuilt through
   * these when the peer's own intermediates are not at hand (a TLS server
   * in Node sees only the client's leaf).
   */
  intermediateCas(): X509Certificate[] {
    if (!this.#intermediates) {
      const now = this.#cfg.clock.now();
      const seen = new Set<string>();
      const out: X509Certificate[] = [];
      for (const e of this.#journal.x509Cas) {
        if (e.upstreamChain.length === 0 || e.notAfter <= now) continue;
        for (const der of [e.certificate, ...e.upstreamChain]) {
          if (seen.has(der)) continue;
          seen.add(der);
          const cert = new X509Certificate(Buffer.from(der, 'base64'));
          if (!(cert.issuer === cert.subject && cert.checkIssued(cert))) out.push(cert);
        }
      }
      this.#intermediates = out;
    }
    return this.#intermediates;
  }

  /** The authority active before the current one, if any. */
  oldX509Ca(): X509CaAuthority | undefined {
    return this.#x509.old;
  }

  oldJwtKey(): JwtAuthority | undefined {
    return this.#jwt.old;
  }

  /**
   * The X.509 CA active before the current one as the journal records it:
   * also after a restart, when only its certificate is known (its slot's
   * key may have been reused). For reporting, taint and revoke.
   */
  oldX509Record(): { certificate: X509Certificate; notAfter: number } | undefined {
    if (this.#x509.old) return { certificate: this.#x509.old.certificate, notAfter: this.#x509.old.notAfter };
    const e = lastWithStatus(this.#journal.x509Cas, 'old');
    return e ? { certificate: new X509Certificate(Buffer.from(e.certificate, 'base64')), notAfter: e.notAfter } : undefined;
  }

  /** The JWT key active before the current one, as the journal records it (see oldX509Record). */
  oldJwtRecord(): { kid: string; notAfter: number } | undefined {
    if (this.#jwt.old) return { kid: this.#jwt.old.kid, notAfter: this.#jwt.old.notAfter };
    const e = lastWithStatus(this.#journal.jwtKeys, 'old');
    return e ? { kid: e.kid, notAfter: e.notAfter } : undefined;
  }

  /** Prepares (and publishes) the next X.509 CA or JWT key now, if none is prepared. */
  prepare(kind: 'x509' | 'jwt'): Promise<void> {
    return this.#serialise(async () => {
      if (kind === 'x509' && !this.#x509.next) await this.#prepareX509(otherSlot(this.#x509.current?.slotId ?? 'B'));
      if (kind === 'jwt' && !this.#jwt.next) await this.#prepareJwt(otherSlot(this.#jwt.current?.slotId ?? 'B'));
    });
  }

  /** Activates the prepared X.509 CA or JWT key (which must have been prepared). */
  activate(kind: 'x509' | 'jwt'): Promise<void> {
    return this.#serialise(async () => {
      if (kind === 'x509') await this.#activateNextX509();
      else await this.#activateNextJwt();
    });
  }

  /** Prepares the next authorities now (publishing them) if not prepared yet. */
  prepareNow(): Promise<void> {
    return this.#serialise(async () => {
      if (!this.#x509.next) await this.#prepareX509(otherSlot(this.#x509.current?.slotId ?? 'B'));
      if (!this.#jwt.next) await this.#prepareJwt(otherSlot(this.#jwt.current?.slotId ?? 'B'));
    });
  }

  /** Forces the prepared authorities to become active (preparing them first if needed). */
  activateNow(): Promise<void> {
    return this.#serialise(async () => {
      if (!this.#x509.next) await this.#prepareX509(otherSlot(this.#x509.current?.slotId ?? 'B'));
      if (!this.#jwt.next) await this.#prepareJwt(otherSlot(this.#jwt.current?.slotId ?? 'B'));
      await this.#activateNextX509();
      await this.#activateNextJwt();
    });
  }

  #serialise<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #rotateX509(): Promise<void> {
    const now = this.#cfg.clock.now();
    if (!this.#x509.current || this.#x509.current.notAfter <= now) {
      if (this.#x509.next && this.#x509.next.notAfter > now) {
        await this.#activateNextX509();
      } else {
        await this.#prepareX509(otherSlot(this.#x509.current?.slotId ?? 'B'));
        await this.#activateNextX509();
      }
      return;
    }
    if (!this.#x509.next && now >= preparationThreshold(this.#x509.current)) {
      await this.#prepareX509(otherSlot(this.#x509.current.slotId));
    }
    if (this.#x509.next && now >= activationThreshold(this.#x509.current)) {
      await this.#activateNextX509();
    }
  }

  async #rotateJwt(): Promise<void> {
    const now = this.#cfg.clock.now();
    if (!this.#jwt.current || this.#jwt.current.notAfter <= now) {
      if (!(this.#jwt.next && this.#jwt.next.notAfter > now)) await this.#prepareJwt(otherSlot(this.#jwt.current?.slotId ?? 'B'));
      await this.#activateNextJwt();
      return;
    }
    if (!this.#jwt.next && now >= preparationThreshold(this.#jwt.current)) {
      await this.#prepareJwt(otherSlot(this.#jwt.current.slotId));
    }
    if (this.#jwt.next && now >= activationThreshold(this.#jwt.current)) {
      await this.#activateNextJwt();
    }
  }

  async #prepareX509(slotId: SlotId): Promise<void> {
    const { clock, caTtlMs, keyManager, minter, publisher, log } = this.#cfg;
    const keyId = `x509-CA-${slotId}`;
    const issuedAt = clock.now();
    const key = await keyManager.generateKey(keyId, this.#cfg.caKeyType);
    const template = await this.#cfg.credentials?.buildX509CaTemplate({ publicKey: key.publicKey });
    const { certificate, upstreamChain } = await minter.mint({ key, notBefore: issuedAt, notAfter: issuedAt + caTtlMs, ...(template ? { template } : {}) });
    const notAfter = Date.parse(certificate.validTo);
    const ca: X509CaAuthority = { slotId, keyId, issuedAt, notAfter, certificate, key, upstreamChain };
    // Publish before anything can sign with it, then record it.
    await publisher.publish({ x509Authorities: minter.trustAnchorsFor(ca) });
    this.#journal.x509Cas.push({
      slotId, issuedAt, notAfter, status: 'prepared', keyId,
      certificate: certificate.raw.toString('base64'),
      upstreamChain: upstreamChain.map((c) => c.raw.toString('base64')),
    });
    await this.#saveJournal();
    this.#x509.next = ca;
    log.info({ slot: slotId, issued_at: new Date(issuedAt).toISOString(), expiration: new Date(notAfter).toISOString(), self_signed: upstreamChain.length === 0 }, 'X509 CA prepared');
    this.#emit({ kind: 'prepared' });
  }

  async #prepareJwt(slotId: SlotId): Promise<void> {
    const { clock, caTtlMs, keyManager, publisher, log } = this.#cfg;
    const keyId = `JWT-Signer-${slotId}`;
    const issuedAt = clock.now();
    const notAfter = issuedAt + caTtlMs;
    const key = await keyManager.generateKey(keyId, this.#cfg.jwtKeyType);
    const publicKey = key.publicKey;
    const kid = randomKid();
    await publisher.publish({ x509Authorities: [], jwtAuthority: { kid, publicKey, notAfter } });
    this.#journal.jwtKeys.push({
      slotId, issuedAt, notAfter, status: 'prepared', keyId, kid,
      publicKey: publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
    });
    await this.#saveJournal();
    this.#jwt.next = { slotId, keyId, issuedAt, notAfter, kid, key, publicKey };
    log.info({ slot: slotId, issued_at: new Date(issuedAt).toISOString(), expiration: new Date(notAfter).toISOString() }, 'JWT key prepared');
    this.#emit({ kind: 'prepared' });
  }

  async #activateNextX509(): Promise<void> {
    const next = this.#x509.next;
    if (!next) return;
    const previous = this.#x509.current;
    this.#setStatus(this.#journal.x509Cas, next.issuedAt, next.slotId, 'active');
    if (previous) this.#setStatus(this.#journal.x509Cas, previous.issuedAt, previous.slotId, 'old');
    await this.#saveJournal();
    this.#x509 = { current: next, ...(previous ? { old: previous } : {}) };
    this.#cfg.log.info({ slot: next.slotId, issued_at: new Date(next.issuedAt).toISOString(), expiration: new Date(next.notAfter).toISOString() }, 'X509 CA activated');
    this.#emit({ kind: 'x509-activated', ca: next });
  }

  async #activateNextJwt(): Promise<void> {
    const next = this.#jwt.next;
    if (!next) return;
    const previous = this.#jwt.current;
    this.#setStatus(this.#journal.jwtKeys, next.issuedAt, next.slotId, 'active');
    if (previous) this.#setStatus(this.#journal.jwtKeys, previous.issuedAt, previous.slotId, 'old');
    await this.#saveJournal();
    this.#jwt = { current: next, ...(previous ? { old: previous } : {}) };
    this.#cfg.log.info({ slot: next.slotId, issued_at: new Date(next.issuedAt).toISOString(), expiration: new Date(next.notAfter).toISOString() }, 'JWT key activated');
    this.#emit({ kind: 'jwt-activated', key: next });
  }

  async #saveJournal(): Promise<void> {
    this.#intermediates = undefined;
    await saveJournal(this.#cfg.journalPath, this.#journal);
  }

  #setStatus(entries: { issuedAt: number; slotId: SlotId; status: SlotStatus }[], issuedAt: number, slotId: SlotId, status: SlotStatus): void {
    for (let i = entries.length - 1; i >= 0; i--) {
      const e = entries[i]!;
      if (e.issuedAt === issuedAt && e.slotId === slotId) {
        e.status = status;
        return;
      }
    }
  }

  async #restoreFromJournal(): Promise<void> {
    const { keyManager, log } = this.#cfg;
    /**
     * A journal entry whose key the key manager does not have. Durable
     * (disk): refuse to start, the key file was lost or replaced. Not
     * durable (memory): every key is gone after a restart, so the slot is
     * unusable and a new authority is prepared (SPIRE's SlotLoader, "no key
     * manager key"); the old one stays in the bundle until it expires, and
     * an active one is recorded as old so what it signed is still reported.
     */
    const missingKey = (entry: { keyId: string; slotId: SlotId; status: SlotStatus }, kind: string): undefined => {
      if (keyManager.durable) {
        throw new CaManagerError('ERR_CA_KEY_MISSING', `ca: the journal references key ${JSON.stringify(entry.keyId)} which the key manager does not have; refusing to start (restore the key file or move the journal away)`);
      }
      log.warn({ slot: entry.slotId, status: entry.status, key_id: entry.keyId, reason: 'no key manager key' }, `${kind} slot unusable`);
      if (entry.status === 'active') entry.status = 'old';
      return undefined;
    };
    for (const status of ['active', 'prepared'] as const) {
      const x = lastWithStatus(this.#journal.x509Cas, status);
      const xKey = x && ((await keyManager.getKey(x.keyId)) ?? missingKey(x, 'X509CA'));
      if (x && xKey) {
        const certificate = new X509Certificate(Buffer.from(x.certificate, 'base64'));
        const ca: X509CaAuthority = {
          slotId: x.slotId, keyId: x.keyId, issuedAt: x.issuedAt, notAfter: x.notAfter, key: xKey, certificate,
          upstreamChain: x.upstreamChain.map((c) => new X509Certificate(Buffer.from(c, 'base64'))),
        };
        const why = await keyMismatch(xKey, certificate.publicKey);
        if (why === undefined) {
          if (status === 'active') this.#x509.current = ca;
          else this.#x509.next = ca;
        } else {
          this.#mismatch('X.509 CA', status, x.slotId, x.keyId, why);
        }
      }
      const j = lastWithStatus(this.#journal.jwtKeys, status);
      const jKey = j && ((await keyManager.getKey(j.keyId)) ?? missingKey(j, 'JWT key'));
      if (j && jKey) {
        // The key verifiers know is the one published (the journal's), not one derived from whatever key is on disk now.
        const published = createPublicKey({ key: Buffer.from(j.publicKey, 'base64'), format: 'der', type: 'spki' });
        const why = await keyMismatch(jKey, published);
        if (why === undefined) {
          const key: JwtAuthority = {
            slotId: j.slotId, keyId: j.keyId, issuedAt: j.issuedAt, notAfter: j.notAfter, kid: j.kid, key: jKey,
            publicKey: published,
          };
          if (status === 'active') this.#jwt.current = key;
          else this.#jwt.next = key;
        } else {
          this.#mismatch('JWT key', status, j.slotId, j.keyId, why);
        }
      }
    }
    // A prepared slot that was superseded (same slot as current) is stale.
    if (this.#x509.next && this.#x509.current && this.#x509.next.slotId === this.#x509.current.slotId) this.#x509.next = undefined;
    if (this.#jwt.next && this.#jwt.current && this.#jwt.next.slotId === this.#jwt.current.slotId) this.#jwt.next = undefined;
    if (this.#x509.current) {
      this.#cfg.log.info({ x509_cas: this.#journal.x509Cas.length, jwt_keys: this.#journal.jwtKeys.length }, 'Journal loaded');
    }
  }

  /**
   * A journal authority whose private key is not the key it was published
   * with (another server wrote this key file, or key file and journal come
   * from different backups).
   *  - active: refuse to start. Everything signed from now on would fail
   *    verification, and silently switching to a fresh CA would hide the
   *    damage and break every federated peer that has not yet fetched the
   *    new bundle; the right key may still be recoverable from a backup.
   *  - prepared: drop it. Nothing was signed with it yet, so rotation simply
   *    prepares a new one when due; it stays in the bundle until it expires.
   */
  #mismatch(kind: string, status: 'active' | 'prepared', slotId: SlotId, keyId: string, why: string): void {
    const where = `the ${status} ${kind} (slot ${slotId}, key ${JSON.stringify(keyId)}) in ${this.#cfg.journalPath}`;
    if (status === 'active') {
      throw new CaManagerError(
        'ERR_CA_KEY_MISMATCH',
        `ca: ${where} does not match its private key in the key manager (${why}); refusing to start, since every SVID signed with it would fail verification. ` +
          'Another server may have used this data_dir or keys file, or the key file and the journal come from different backups: restore the key file that belongs to this journal, ' +
          'or move the journal and the key file away to start with a new CA (agents and federated peers must then learn the new bundle)',
      );
    }
    this.#cfg.log.warn({ slot: slotId, key_id: keyId, reason: why }, `Discarding ${where}: it does not match its private key; a new one will be prepared`);
  }

  #emit(e: CaEvent): void {
    for (const fn of this.#listeners) {
      try {
        fn(e);
      } catch (err) {
        this.#cfg.log.error({ err }, 'CA event listener failed');
      }
    }
  }
}

/**
 * Why `key` cannot sign for `publicKey` (undefined when it can): the
 * public halves must be equal and a test signature must verify.
 */
export async function keyMismatch(key: Pick<KeyManagerKey, 'publicKey' | 'sign'>, publicKey: KeyObject): Promise<string | undefined> {
  const spki = (k: KeyObject): Buffer => k.export({ format: 'der', type: 'spki' });
  let derived: Buffer;
  try {
    derived = spki(key.publicKey);
  } catch (err) {
    return `the private key is unusable: ${(err as Error).message}`;
  }
  if (!derived.equals(spki(publicKey))) return 'the public keys differ';
  const probe = randomBytes(32);
  try {
    if (!verify('sha256', probe, publicKey, await key.sign(probe, 'sha256'))) return 'a test signature does not verify';
  } catch (err) {
    return `a test signature failed: ${(err as Error).message}`;
  }
  return undefined;
}

function lastWithStatus<T extends { status: SlotStatus; issuedAt: number }>(entries: T[], status: SlotStatus): T | undefined {
  let best: T | undefined;
  for (const e of entries) if (e.status === status && (!best || e.issuedAt >= best.issuedAt)) best = e;
  return best;
}

/** 32 random characters from [a-zA-Z0-9], as SPIRE's JWT key IDs. */
export function randomKid(): string {
  let s = '';
  for (let i = 0; i < 32; i++) s += KID_ALPHABET[randomInt(KID_ALPHABET.length)];
  return s;
}
