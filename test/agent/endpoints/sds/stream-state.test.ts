// A StreamSecrets response is encoded once per snapshot and names and each
// stream appends its nonce: those bytes must be exactly what encoding the
// whole message gives, and decode to the same message.
import { describe, expect, it } from 'vitest';
import { nonceField, newNonce } from '../../../../src/agent/endpoints/sds/stream-state.ts';
import { SECRET_TYPE_URL } from '../../../../src/agent/endpoints/sds/secrets.ts';
import { serviceDefinition, Services } from '../../../../src/common/grpc/protos.ts';

const method = serviceDefinition(Services.sds).StreamSecrets!;
const response = (nonce?: string) => ({
  version_info: '0123456789abcdef',
  resources: [{ type_url: SECRET_TYPE_URL, value: Buffer.from('secret bytes') }, { type_url: SECRET_TYPE_URL, value: Buffer.alloc(300, 7) }],
  type_url: SECRET_TYPE_URL,
  // Absent, not '': the encoder writes a present empty string.
  ...(nonce === undefined ? {} : { nonce }),
});

describe('nonceField', () => {
  it('appended to a response encoded without a nonce gives the bytes of the whole response', () => {
    for (const nonce of [newNonce(), 'n', 'x'.repeat(127)]) {
      const shared = method.responseSerialize(response());
      const joined = Buffer.concat([shared, nonceField(nonce)]);
      expect(joined.equals(method.responseSerialize(response(nonce)))).toBe(true);
      expect((method.responseDeserialize(joined) as { nonce: string }).nonce).toBe(nonce);
    }
  });

  it('refuses a nonce that needs a multi-byte length', () => {
    expect(() => nonceField('x'.repeat(128))).toThrow(/one-byte length/);
  });
});
