// The agent's data_dir: its own SVID and key (so a restarted agent re-uses
// them without a new join token) and the last trust bundle it knew. Files
// are written atomically; a file that cannot be parsed is reported, never
// silently replaced. With `KeyManager: memory` the key never touches the
// disk: the SVID and bundle are still stored (as SPIRE's agent-data.json),
// and a restarted agent finds the SVID without its key and attests again.
// `KeyManager "disk" { directory }` puts the key file in a directory of its
// own; a key an earlier run left in data_dir is still found there.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { access, constants, mkdir, readFile, realpath, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { HeraldError } from '../common/errors.ts';
import { writeFileAtomic } from '../common/fs.ts';
import { splitDer } from '../spiffe/bundle/der.ts';

export class AgentStorageError extends HeraldError {}

export interface StoredAgentSvid {
  chain: X509Certificate[];
  privateKey: KeyObject;
}

/** What loadSvid finds: with keys in memory, the SVID alone (its key died with the last process). */
export interface LoadedAgentSvid {
  chain: X509Certificate[];
  privateKey: KeyObject | undefined;
}

export interface AgentStorageOptions {
  /** KeyManager memory: the agent SVID's private key is never written (nor read). */
  keysInMemory?: boolean;
  /** KeyManager disk's `directory`: where the key file goes (default: data_dir). */
  keyDir?: string;
}

const SVID_FILE = 'agent_svid.der';
const KEY_FILE = 'agent_svid.key';
export const BUNDLE_FILE = 'bundle.der';

export class AgentStorage {
  readonly dir: string;
  /** False with KeyManager memory: the agent SVID's key lives only in this process. */
  readonly keysDurable: boolean;
  /** Where the key file is written (data_dir unless KeyManager disk names a directory). */
  readonly keyDir: string;

  /** The key directory is data_dir itself (compared as real paths: a symlink or a trailing slash is the same directory). */
  readonly #keysInDataDir: boolean;

  private constructor(dir: string, keysDurable: boolean, keyDir: string, keysInDataDir: boolean) {
    this.dir = dir;
    this.keysDurable = keysDurable;
    this.keyDir = keyDir;
    this.#keysInDataDir = keysInDataDir;
  }

  /** Opens data_dir, creating it; fails clearly when it is not writable. */
  static async open(dir: string, opts: AgentStorageOptions = {}): Promise<AgentStorage> {
    const keyDir = opts.keysInMemory || opts.keyDir === undefined ? dir : opts.keyDir;
    for (const [what, d] of [['data_dir', dir], ['KeyManager disk directory', keyDir]] as const) {
      try {
        await mkdir(d, { recursive: true, mode: 0o700 });
        await access(d, constants.W_OK | constants.R_OK);
      } catch (err) {
        throw new AgentStorageError('ERR_AGENT_DATA_DIR', `agent: ${what} ${d} is not usable: ${(err as Error).message}`, { cause: err });
      }
    }
    const keysInDataDir = keyDir === dir || (await realpath(keyDir)) === (await realpath(dir));
    return new AgentStorage(dir, !opts.keysInMemory, keyDir, keysInDataDir);
  }

  async loadSvid(): Promise<LoadedAgentSvid | undefined> {
    if (!this.keysDurable) {
      // A key file left by an earlier KeyManager disk run is not read: the memory key manager has no keys after a start.
      const certs = await this.#read(SVID_FILE);
      if (!certs) return undefined;
      try {
        return { chain: splitDer(certs).map((d) => new X509Certificate(d)), privateKey: undefined };
      } catch (err) {
        throw new AgentStorageError('ERR_AGENT_DATA_CORRUPT', `agent: cannot parse the stored agent SVID in ${this.dir}: ${(err as Error).message}; remove ${SVID_FILE} to re-attest`, { cause: err });
      }
    }
    const certs = await this.#read(SVID_FILE);
    // A key directory of its own may hold a key another data_dir left (several
    // agents, or -dataDir over a shared config): without an SVID here it is not
    // ours, and the next attestation replaces it.
    if (!certs && !this.#keysInDataDir) return undefined;
    const key = (await this.#read(KEY_FILE, this.keyDir)) ?? (this.#keysInDataDir ? undefined : await this.#read(KEY_FILE));
    if (!certs && !key) return undefined;
    if (!certs || !key) {
      throw new AgentStorageError('ERR_AGENT_DATA_CORRUPT', `agent: ${this.dir} has ${certs ? SVID_FILE : KEY_FILE} without ${certs ? KEY_FILE : SVID_FILE}; remove both to re-attest with a new join token`);
    }
    try {
      return { chain: splitDer(certs).map((d) => new X509Certificate(d)), privateKey: createPrivateKey({ key, format: 'der', type: 'pkcs8' }) };
    } catch (err) {
      throw new AgentStorageError('ERR_AGENT_DATA_CORRUPT', `agent: cannot parse the stored agent SVID in ${this.dir}: ${(err as Error).message}; remove ${SVID_FILE} and ${KEY_FILE} to re-attest`, { cause: err });
    }
  }

  async storeSvid(svid: StoredAgentSvid): Promise<void> {
    if (!this.keysDurable) {
      await writeFileAtomic(join(this.dir, SVID_FILE), Buffer.concat(svid.chain.map((c) => c.raw)), { mode: 0o644 });
      return;
    }
    // Key first: a crash between the two writes leaves a key without a
    // matching cert, which loadSvid reports instead of using a wrong pair.
    await writeFileAtomic(join(this.keyDir, KEY_FILE), svid.privateKey.export({ format: 'der', type: 'pkcs8' }), { mode: 0o600 });
    await writeFileAtomic(join(this.dir, SVID_FILE), Buffer.concat(svid.chain.map((c) => c.raw)), { mode: 0o644 });
    // One key on disk: a key an earlier run left in data_dir (before `directory` was set) goes.
    if (!this.#keysInDataDir) await this.#remove(join(this.dir, KEY_FILE));
  }

  /**
   * Removes the agent SVID and its key (SPIRE's DeleteSVID when the agent is
   * banned or cannot attest again): a restart must attest anew, not present
   * the refused SVID. The trust bundle is kept. The certificate goes first,
   * so a failure in between leaves a key alone, which loadSvid reports.
   */
  async deleteSvid(): Promise<void> {
    for (const path of [join(this.dir, SVID_FILE), join(this.keyDir, KEY_FILE), join(this.dir, KEY_FILE)]) await this.#remove(path);
  }

  /** Where the last known trust bundle is kept. */
  get bundlePath(): string {
    return join(this.dir, BUNDLE_FILE);
  }

  async loadBundle(): Promise<X509Certificate[] | undefined> {
    const der = await this.#read(BUNDLE_FILE);
    if (!der) return undefined;
    try {
      return splitDer(der).map((d) => new X509Certificate(d));
    } catch (err) {
      throw new AgentStorageError('ERR_AGENT_DATA_CORRUPT', `agent: cannot parse ${join(this.dir, BUNDLE_FILE)}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Removes the stored trust bundle (SPIRE's StoreBundle(nil) before re-bootstrapping): the next start bootstraps from trust_bundle_path/_url. */
  async deleteBundle(): Promise<void> {
    await this.#remove(join(this.dir, BUNDLE_FILE));
  }

  async storeBundle(roots: X509Certificate[]): Promise<void> {
    await writeFileAtomic(join(this.dir, BUNDLE_FILE), Buffer.concat(roots.map((c) => c.raw)), { mode: 0o644 });
  }

  async #read(name: string, dir = this.dir): Promise<Buffer | undefined> {
    try {
      return await readFile(join(dir, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new AgentStorageError('ERR_AGENT_DATA_DIR', `agent: cannot read ${join(dir, name)}: ${(err as Error).message}`, { cause: err });
    }
  }

  async #remove(path: string): Promise<void> {
    try {
      await rm(path, { force: true });
    } catch (err) {
      throw new AgentStorageError('ERR_AGENT_DATA_DIR', `agent: cannot remove ${path}: ${(err as Error).message}`, { cause: err });
    }
  }
}
