// The ext_authz gRPC service (envoy.service.auth.v3.Authorization), over a
// source of bundles and tokens: the agent's own cache when it runs inside
// herald-agent, or the Workload API when it runs as bin/herald-authz.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { toServiceError } from '../../../common/grpc/status.ts';
import { Services, responseSerializer, serviceDefinitionAcceptingBytes } from '../../../common/grpc/protos.ts';
import { decodeCheckRequest } from './check-request.ts';
import type { AgentMetrics } from '../../telemetry.ts';
import type { JwtBundleSource } from '../../../spiffe/bundle/jwt-bundle.ts';
import { check, isSharedResponse, type CheckConfig } from './check.ts';
import type { CheckRequest } from './check-request.ts';
import { JwtSvidValidator } from './jwt-validator.ts';
import { PolicyFile } from './policy-file.ts';

export interface AuthzSource {
  /** JWT bundles to validate against; `generation` changes when they do. */
  bundles(): { source: JwtBundleSource; generation: unknown };
  /** A JWT-SVID for `audience` to inject on behalf of the caller of `call`. */
  injectToken(call: grpc.ServerUnaryCall<unknown, unknown>, audience: string): Promise<string>;
}

export interface AuthzService {
  /** The Authorization service with Check's own request decoder (check-request.ts). */
  definition: grpc.ServiceDefinition;
  implementation: grpc.UntypedServiceImplementation;
  validator: JwtSvidValidator;
  policyFile: PolicyFile | undefined;
  close(): void;
}

export function createAuthzService(opts: { config: CheckConfig & { policyFile: string | undefined }; source: AuthzSource; log: Logger; metrics: AgentMetrics }): AuthzService {
  const { log } = opts;
  const validator = new JwtSvidValidator({ bundles: () => opts.source.bundles(), now: () => Date.now() });
  const policyFile = opts.config.policyFile ? new PolicyFile(opts.config.policyFile, log) : undefined;
  policyFile?.watch();
  const deps = {
    config: opts.config,
    validator,
    policy: () => policyFile?.policy,
    injectToken: (call: grpc.ServerUnaryCall<unknown, unknown>, audience: string) => opts.source.injectToken(call, audience),
    log,
    metrics: opts.metrics,
  };
  const generic = serviceDefinitionAcceptingBytes(Services.authorization);
  // A response check() returns again and again (an allow for one caller) is encoded once.
  const serialize = responseSerializer(Services.authorization, 'Check');
  const encodings = new WeakMap<object, Buffer>();
  const encoded = (res: object): object | Buffer => {
    if (!isSharedResponse(res)) return res;
    let b = encodings.get(res);
    if (!b) encodings.set(res, (b = serialize(res)));
    return b;
  };
  return {
    definition: { ...generic, Check: { ...generic.Check!, requestDeserialize: decodeCheckRequest } },
    validator,
    policyFile,
    implementation: {
      Check: (call: grpc.ServerUnaryCall<CheckRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        const started = performance.now();
        const done = (res: object): void => {
          opts.metrics.authzLatency.observe(performance.now() - started);
          cb(null, encoded(res));
        };
        const failed = (err: unknown): void => cb(toServiceError(err, log, call.getPath()) as grpc.ServiceError);
        let res: object | Promise<object>;
        try {
          res = check(call, deps);
        } catch (err) {
          return failed(err);
        }
        if (res instanceof Promise) res.then(done, failed);
        else done(res);
      },
    },
    close: () => policyFile?.close(),
  };
}
