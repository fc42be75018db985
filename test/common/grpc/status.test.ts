// toServiceError on a real grpc-js server: a status whose message echoes
// caller input that is not well-formed UTF-16 (protobufjs decodes invalid
// UTF-8 in a string field to lone surrogates) must reach the caller, not
// crash the process (grpc-js encodeURI()s the message into grpc-message;
// found by test/fuzz/agent-api.fuzz.test.ts: a join token of raw bytes).
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { HeraldError } from '../../../src/common/errors.ts';
import { jsonMethod } from '../../../src/common/grpc/json-method.ts';
import { toServiceError } from '../../../src/common/grpc/status.ts';

const definition = { Fail: jsonMethod('/herald.test.Status/Fail') } satisfies grpc.ServiceDefinition;
let server: grpc.Server | undefined;
afterEach(() => server?.forceShutdown());

describe('toServiceError', () => {
  it('sends a message with lone surrogates as well-formed text instead of throwing in grpc-js', async () => {
    const token = `join-\ud800-token`;
    const status = toServiceError(new HeraldError('ERR_SPIFFE_ID_DOT_SEGMENT', `failed to attest: join token "${token}" does not exist`));
    expect(status.details.isWellFormed()).toBe(true);
    server = new grpc.Server();
    server.addService(definition, { Fail: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(status as grpc.ServiceError) });
    const port = await new Promise<number>((resolve, reject) => server!.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    const Client = grpc.makeGenericClientConstructor(definition, 'Status');
    const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & { Fail(req: object, cb: (err: grpc.ServiceError | null) => void): void };
    try {
      const err = await new Promise<grpc.ServiceError | null>((resolve) => client.Fail({}, resolve));
      expect(err?.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(err?.details).toContain('join token "join-\ufffd-token" does not exist');
    } finally {
      client.close();
    }
  });
});
