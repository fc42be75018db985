// Where the CA's private keys live (SPIRE KeyManager plugins "disk" and
// "memory"). Keys are addressed by an ID such as `x509-CA-A`. The disk
// manager rewrites its file atomically (mode 0600) and refuses to start on a
// file it cannot parse: it never overwrites keys it could not read.
//
// A key is handed out as a signer (SPIRE's keymanager.Key: ID, public key,
// Sign), never as a private key: a manager whose keys never leave it (a
// KMS, an HSM, a TPM) fits the same interface. `exportPkcs8` exists only on
// keys held in this process, and only to give the signing workers a copy.
import { readFile } from 'node:fs/promises';
import { createPrivateKey, createPublicKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { HeraldError, errorMessage } from '../../common/errors.ts';
import { writeFileAtomic } from '../../common/fs.ts';
import { generateKeyPair, type KeyType } from '../../spiffe/keys.ts';
import type { Signer } from '../../spiffe/signer.ts';

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
  const publicKey = createPublicKey(privateKey);
  return {
    id,
    type,
    publicKey,
    sign: async (data, hash) => cryptoSign(hash, data, privateKey),
    exportPkcs8: () => privateKey.export({ format: 'der', type: 'pkcs8' }),
  };
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

export class MemoryKeyManager implements KeyManager {
  readonly durable = false;
  readonly #keys = new Map<string, KeyManagerKey>();

  async generateKey(id: string, type: KeyType): Promise<KeyManagerKey> {
    const key = inProcessKey(id, type, generateKeyPair(type).privateKey);
    this.#keys.set(id, key);
    return key;
  }

  async getKey(id: string): Promise<KeyManagerKey | undefined> {
    return this.#keys.get(id);
  }
}

interface DiskKeyFile {
  keys: Record<string, { type: KeyType; pkcs8: string }>;
}

export class DiskKeyManager implements KeyManager {
  readonly durable = true;
  readonly #path: string;
  #file: DiskKeyFile = { keys: {} };
  readonly #cache = new Map<string, KeyManagerKey>();

  private constructor(path: string) {
    this.#path = path;
  }

  /** Opens the key file (`keys_path`); a missing file is an empty key set. */
  static async open(path: string): Promise<DiskKeyManager> {
    const km = new DiskKeyManager(path);
    let text: string | undefined;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new KeyManagerError('ERR_KEY_MANAGER_UNREADABLE', `keymanager(disk): cannot read ${path}: ${(err as Error).message}`, { cause: err });
      }
    }
    if (text !== undefined) km.#file = parseKeyFile(text, path);
    return km;
  }

  async generateKey(id: string, type: KeyType): Promise<KeyManagerKey> {
    const { privateKey } = generateKeyPair(type);
    const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64');
    const next: DiskKeyFile = { keys: { ...this.#file.keys, [id]: { type, pkcs8 } } };
    try {
      await writeFileAtomic(this.#path, JSON.stringify(next, null, 2) + '\n', { mode: 0o600 });
    } catch (err) {
      // The OS error's message names the file and the errno, never the key; the registry maps it to a status.
      throw new KeyManagerError('ERR_KEY_MANAGER_WRITE', `keymanager(disk): cannot write ${this.#path}: ${errorMessage(err)}`, { cause: err });
    }
    this.#file = next;
    const key = inProcessKey(id, type, privateKey);
    this.#cache.set(id, key);
    return key;
  }

  async getKey(id: string): Promise<KeyManagerKey | undefined> {
    const cached = this.#cache.get(id);
    if (cached) return cached;
    const entry = this.#file.keys[id];
    if (!entry) return undefined;
    const key = inProcessKey(id, entry.type, createPrivateKey({ key: Buffer.from(entry.pkcs8, 'base64'), format: 'der', type: 'pkcs8' }));
    this.#cache.set(id, key);
    return key;
  }
}

function parseKeyFile(text: string, path: string): DiskKeyFile {
  const corrupt = (why: string): never => {
    throw new KeyManagerError('ERR_KEY_MANAGER_CORRUPT', `keymanager(disk): ${path}: ${why}; refusing to start so existing keys are not overwritten`);
  };
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return corrupt('not valid JSON');
  }
  const keys = (data as DiskKeyFile | null)?.keys;
  if (typeof keys !== 'object' || keys === null) return corrupt('no "keys" object');
  for (const [id, k] of Object.entries(keys)) {
    if (typeof k?.pkcs8 !== 'string' || typeof k?.type !== 'string') corrupt(`key ${JSON.stringify(id)} is malformed`);
    try {
      createPrivateKey({ key: Buffer.from(k.pkcs8, 'base64'), format: 'der', type: 'pkcs8' });
    } catch {
      corrupt(`key ${JSON.stringify(id)} is not a valid PKCS#8 key`);
    }
  }
  return { keys };
}
