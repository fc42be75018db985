// The ext_authz gRPC service (envoy.service.auth.v3.Authorization), over a
// source of bundles and tokens: the agent's own cache when it runs inside
// herald-agent, or the Workload API when it runs as bin/herald-authz.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { toServiceError } from '../../../common/grpc/status.ts';
import { Services, serviceDefinitionAcceptingBytes } from '../../../common/grpc/protos.ts';
import { decodeCheckRequest } from './check-request.ts';
import type { AgentMetrics } from '../../telemetry.ts';
import type { JwtBundleSource } from '../../../spiffe/bundle/jwt-bundle.ts';
import { check, type CheckConfig } from './check.ts';
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
  return {
    definition: { ...generic, Check: { ...generic.Check!, requestDeserialize: decodeCheckRequest } },
    validator,
    policyFile,
    implementation: {
      Check: (call: grpc.ServerUnaryCall<Parameters<typeof check>[0]['request'], unknown>, cb: grpc.sendUnaryData<unknown>) => {
        const started = performance.now();
        check(call, deps).then(
          (res) => {
            opts.metrics.authzLatency.observe(performance.now() - started);
            cb(null, res);
          },
          (err) => cb(toServiceError(err, log, call.getPath()) as grpc.ServiceError),
        );
      },
    },
    close: () => policyFile?.close(),
  };
}
