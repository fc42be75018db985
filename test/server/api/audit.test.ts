import { describe, expect, it } from 'vitest';
import { auditRequestFields, callerFields, methodFields } from '../../../src/server/api/audit.ts';
import { SpiffeId } from '../../../src/spiffe/id.ts';

describe('audit lines', () => {
  it('never log tokens, keys, CSRs, attestation payloads or challenge responses, at any depth', () => {
    const fields = auditRequestFields({
      ttl: 600,
      token: 'secret-token',
      agent_id: { trust_domain: 'example.org', path: '/node' },
      params: { csr: Buffer.from('csr'), data: { type: 'join_token', payload: Buffer.from('secret-token') } },
      challenge_response: Buffer.from('x'),
      jwt_authorities: [{ public_key: Buffer.from('k'), key_id: 'kid' }],
      private_key: 'pem',
    });
    expect(fields).toEqual({ ttl: 600, agent_id: 'spiffe://example.org/node', params: { data: { type: 'join_token' } } });
    expect(JSON.stringify(fields)).not.toContain('secret');
  });

  it('keep nested request fields; proto3 zero values are unset; long lists become their length', () => {
    const entry = { spiffe_id: { trust_domain: 'example.org', path: '/w' }, selectors: [{ type: 'unix', value: 'uid:0' }], admin: false, x509_svid_ttl: 0, expires_at: '0', hint: '' };
    expect(auditRequestFields({ entries: [entry] })).toEqual({ entries: [{ spiffe_id: 'spiffe://example.org/w', selectors: [{ type: 'unix', value: 'uid:0' }] }] });
    expect(auditRequestFields({ ids: Array.from({ length: 101 }, (_, i) => `id-${i}`) })).toEqual({ ids: 101 });
    expect(auditRequestFields({ id: 'x'.repeat(300) }).id).toHaveLength(257);
  });

  it('name the method and the caller as SPIRE does', () => {
    expect(methodFields('/spire.api.server.entry.v1.Entry/BatchCreateEntry')).toEqual({ service: 'entry.v1.Entry', method: 'BatchCreateEntry' });
    expect(callerFields({ kind: 'admin', id: SpiffeId.fromString('spiffe://example.org/admin') }, 'ipv4:127.0.0.1:5000')).toEqual({ caller_addr: '127.0.0.1:5000', caller_id: 'spiffe://example.org/admin' });
    // The admin socket's peer (stamped by the uds-server from SO_PEERCRED).
    const local = callerFields({ kind: 'local' }, `herald-uds:pid=${process.pid};uid=${process.getuid!()};gid=${process.getgid!()}`);
    expect(local).toEqual({ caller_uid: process.getuid!(), caller_gid: process.getgid!(), caller_path: process.execPath });
  });
});
