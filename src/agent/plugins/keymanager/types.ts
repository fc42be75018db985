// Agent KeyManager plugins (SPIRE's plugin/agent/keymanager): where the
// agent SVID's private key lives. AgentStorage (src/agent/storage.ts) writes
// it in the manager's directory (data_dir by default) when the manager is
// durable, and never when it is not.

export interface AgentKeyManager {
  /** The plugin name (`disk`, `memory`). */
  readonly name: string;
  /** Whether keys outlive the process: false means the agent SVID's key never touches the disk. */
  readonly durable: boolean;
  /** Durable managers: the directory of the key file (absolute). */
  readonly directory?: string;
}
