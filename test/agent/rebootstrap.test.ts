// The pieces of SPIRE's rebootstrap logic that are pure functions: Go's
// Duration text for "time left", SPIRE's IsUnknownAuthorityError as Node's
// TLS reports it, and the 24 h bootstrap backoff of rebootstrap_mode.
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { BOOTSTRAP_BACKOFF, REBOOTSTRAP_BACKOFF, goDuration, isUntrustedServer } from '../../src/agent/manager.ts';
import { AgentManagerError } from '../../src/agent/manager.ts';

describe('rebootstrap helpers', () => {
  it('goDuration prints as Go\'s time.Duration.String()', () => {
    expect([0, 250, 1000, 1250, 59_999, 60_000, 599_500, 3_600_000, 3_723_400].map(goDuration)).toEqual([
      '0s',
      '250ms',
      '1s',
      '1.25s',
      '59.999s',
      '1m0s',
      '9m59.5s',
      '1h0m0s',
      '1h2m3.4s',
    ]);
  });

  it('isUntrustedServer: the server\'s certificate does not chain to the agent\'s roots, however wrapped; not an outage or a refusal', () => {
    const tls = Object.assign(new Error('14 UNAVAILABLE: No connection established. Last error: Error: self-signed certificate in certificate chain'), {
      code: grpc.status.UNAVAILABLE,
      details: 'No connection established. Last error: Error: self-signed certificate in certificate chain. Resolution note: ',
    });
    expect(isUntrustedServer(tls)).toBe(true);
    expect(isUntrustedServer(new AgentManagerError('ERR_ATTESTATION_FAILED', 'agent: failed to attest with x509pop', { cause: tls }))).toBe(true);
    expect(isUntrustedServer(new Error('unable to get local issuer certificate'))).toBe(true);
    expect(isUntrustedServer(Object.assign(new Error('14 UNAVAILABLE'), { code: grpc.status.UNAVAILABLE, details: 'connect ECONNREFUSED 127.0.0.1:8081' }))).toBe(false);
    expect(isUntrustedServer(Object.assign(new Error('7 PERMISSION_DENIED'), { code: grpc.status.PERMISSION_DENIED, details: 'agent is banned' }))).toBe(false);
    expect(isUntrustedServer(undefined)).toBe(false);
  });

  it('with rebootstrap_mode the bootstrap backoff gives up after 24 h instead of 1 min (SPIRE rebootstrapBackoffMaxElapsedTime)', () => {
    expect(REBOOTSTRAP_BACKOFF).toEqual({ ...BOOTSTRAP_BACKOFF, maxElapsedMs: 24 * 3_600_000 });
  });
});
