// KeyManager "memory": the CA keys live in this process only (not durable:
// after a restart the CA journal's slots are unusable and new keys are made).
import { generateKeyPair, type KeyType } from '../../../../spiffe/keys.ts';
import { inProcessKey, type KeyManager, type KeyManagerKey } from '../types.ts';

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
