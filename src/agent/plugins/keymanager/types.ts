// Agent KeyManager plugins (SPIRE's plugin/agent/keymanager): where the
// agent SVID's private key lives. AgentStorage (src/agent/storage.ts) writes
// it beside the SVID in data_dir when the manager is durable, and never when
// it is not.

export interface AgentKeyManager {
  /** The plugin name (`disk`, `memory`). */
  readonly name: string;
  /** Whether keys outlive the process: false means the agent SVID's key never touches the disk. */
  readonly durable: boolean;
}
