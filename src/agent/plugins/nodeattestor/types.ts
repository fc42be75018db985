// Agent-side node attestation plugins (SPIRE plugin/agent/nodeattestor):
// what the agent sends in AttestAgent, and its answer to each challenge the
// server's attestor of the same type sends back.

export interface NodeAttestorClient {
  /** The attestation data type, as the server's attestor names it ("join_token", "x509pop"). */
  readonly type: string;
  /** Whether the agent can attest again by itself when its SVID is gone (a join token is used up). */
  readonly canReattest: boolean;
  /** The attestation data sent first. Read fresh on every attestation. */
  attestationData(): Promise<Buffer>;
  /** The response to one server challenge. */
  answer(challenge: Buffer): Promise<Buffer>;
}
