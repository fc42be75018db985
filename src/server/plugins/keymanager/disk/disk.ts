// KeyManager "disk": the CA keys in one JSON file, rewritten atomically
// (mode 0600). It refuses to start on a file it cannot parse: it never
// overwrites keys it could not read.
import { readFile } from 'node:fs/promises';
import { createPrivateKey } from 'node:crypto';
import { errorMessage } from '../../../../common/errors.ts';
import { writeFileAtomic } from '../../../../common/fs.ts';
import { generateKeyPair, type KeyType } from '../../../../spiffe/keys.ts';
import { KeyManagerError, inProcessKey, type KeyManager, type KeyManagerKey } from '../types.ts';

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
