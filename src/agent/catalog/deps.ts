// What herald-agent hands its plugins' create().
import type { Logger } from 'pino';
import type { Clock } from '../../common/clock.ts';
import type { TrustDomain } from '../../spiffe/trust-domain.ts';

export interface AgentPluginDeps {
  readonly trustDomain: TrustDomain;
  /** Absolute. */
  readonly dataDir: string;
  /** Secret: never log it. From join_token / -joinToken or join_token_file; the join_token NodeAttestor's data. */
  readonly joinToken: string | undefined;
  readonly clock: Clock;
  readonly log: Logger;
}
