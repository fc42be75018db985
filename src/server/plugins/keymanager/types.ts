// KeyManager plugins (SPIRE's plugin/server/keymanager): where the CA's
// private keys live. Keys are addressed by an ID such as `x509-CA-A`.
//
// A key is handed out as a signer (SPIRE's keymanager.Key: ID, public key,
// Sign), never as a private key: a manager whose keys never leave it (a
// KMS, an HSM, a TPM) fits the same interface. `exportPkcs8` exists only on
// keys held in this process, and only to give the signing workers a copy.
import type { KeyObject } from 'node:crypto';
import { HeraldError } from '../../../common/errors.ts';
import type { KeyType } from '../../../spiffe/keys.ts';
import { keyObjectSigner, type Signer } from '../../../spiffe/signer.ts';

/** A key in a key manager: its ID, public key and sign operation. */
export interface KeyManagerKey extends Signer {
  readonly id: string;
  readonly type: KeyType;
  /**
   * PKCS#8 DER of the private key, only to feed the signing worker pool;
   * absent when the key cannot leave the manager (signing then happens
   * inline through `sign`).
   */
  exportPkcs8?(): Buffer;
}

/** A KeyManagerKey over a private key held in this process. */
export function inProcessKey(id: string, type: KeyType, privateKey: KeyObject): KeyManagerKey {
  return { id, type, ...keyObjectSigner(privateKey) };
}

export interface KeyManager {
  /**
   * Whether keys outlive the process (disk: true, memory: false). The CA
   * journal refuses to start when a durable manager lacks a key it names;
   * with a non-durable one that slot is merely unusable and a new authority
   * is prepared (SPIRE's SlotLoader: "no key manager key").
   */
  readonly durable: boolean;
  /** Generates (or replaces) the key with this ID and persists it before returning. */
  generateKey(id: string, type: KeyType): Promise<KeyManagerKey>;
  /** The key with this ID, or undefined when the manager does not have it. */
  getKey(id: string): Promise<KeyManagerKey | undefined>;
}

export class KeyManagerError extends HeraldError {}
