// herald-authz: the ext_authz server on its own, next to any agent that
// serves the Workload API (herald-agent or SPIRE's). Like
// envoy-jwt-auth-helper, plus policy and identity headers.
import { isAbsolute } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { HeraldError } from '../../common/errors.ts';
import { startUdsServer } from '../../common/grpc/uds-server.ts';
import { createLogger, parseLogLevel } from '../../common/log.ts';
import { AgentMetrics } from '../../agent/telemetry.ts';
import { createAuthzService } from '../../agent/endpoints/authz/service.ts';
import { workloadApiSource } from '../../agent/endpoints/authz/workload-api-source.ts';
import { agentSocketPath } from '../agent/workload-client.ts';
import { flagsOrHelp, type Command } from '../command.ts';

const runFlags = {
  socketPath: { type: 'string', usage: 'Workload API socket of the local agent (default: $SPIFFE_ENDPOINT_SOCKET or /tmp/herald-agent/public/api.sock)' },
  listen: { type: 'string', usage: 'Where to serve ext_authz: an absolute Unix socket path, or host:port', default: '/tmp/herald-authz/authz.sock' },
  audience: { type: 'strings', usage: 'Accepted JWT-SVID audience (repeatable; a route can override with the context extension `audience`)' },
  injectAudience: { type: 'string', usage: 'Audience of JWT-SVIDs injected in `herald_mode: inject`' },
  policyFile: { type: 'string', usage: 'YAML policy file (reloaded on change)' },
  header: { type: 'string', usage: 'Header carrying the JWT-SVID', default: 'authorization' },
  stripToken: { type: 'bool', usage: 'Remove the token header before the request goes upstream' },
  spiffeIdHeader: { type: 'string', usage: 'Header set to the caller\'s SPIFFE ID', default: 'x-spiffe-id' },
  trustDomainHeader: { type: 'string', usage: 'Header set to the caller\'s trust domain', default: 'x-spiffe-trust-domain' },
  logLevel: { type: 'string', usage: "'debug', 'info', 'warn', or 'error'", default: 'INFO' },
} as const;

const run: Command = {
  synopsis: 'Runs the ext_authz server',
  async run(args, io) {
    const f = flagsOrHelp(runFlags, args, 'run', io);
    if (!f) return 0;
    const v = f.values;
    if (v.audience.length === 0 && !v.injectAudience) throw new HeraldError('ERR_INVALID_ARGUMENT_FLAG', 'give at least one -audience (validation) or -injectAudience (injection)');
    const log = createLogger({ level: parseLogLevel(v.logLevel.toUpperCase()) });
    const source = workloadApiSource(agentSocketPath(v.socketPath, io.env), log);
    const service = createAuthzService({
      config: {
        header: v.header.toLowerCase(),
        audiences: v.audience,
        injectAudience: v.injectAudience,
        stripToken: v.stripToken,
        spiffeIdHeader: v.spiffeIdHeader.toLowerCase(),
        trustDomainHeader: v.trustDomainHeader.toLowerCase(),
        policyFile: v.policyFile,
      },
      source,
      log,
      metrics: new AgentMetrics(),
    });
    const services = [{ definition: service.definition, implementation: service.implementation }];
    let stopServer: () => Promise<void>;
    if (isAbsolute(v.listen)) {
      const uds = await startUdsServer({ socketPath: v.listen, mode: 0o777, services, logger: log });
      stopServer = () => uds.close(1000);
    } else {
      const server = new grpc.Server({ 'grpc.enable_channelz': 0 });
      for (const s of services) server.addService(s.definition, s.implementation);
      await new Promise<number>((resolve, reject) => server.bindAsync(v.listen, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
      stopServer = () => new Promise((r) => server.tryShutdown(() => r()));
    }
    log.info({ listen: v.listen }, 'Serving ext_authz; waiting for JWT bundles from the Workload API');
    await source.ready();
    log.info({}, 'JWT bundles received; ready');
    // SIGHUP too (a closing terminal), as herald-server and herald-agent (cli/daemon.ts).
    await new Promise<void>((resolve) => {
      const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
      const stop = (signal: NodeJS.Signals): void => {
        for (const s of signals) process.off(s, stop);
        log.info({ signal }, 'Stopping herald-authz');
        resolve();
      };
      for (const s of signals) process.on(s, stop);
    });
    await stopServer();
    service.close();
    source.close();
    return 0;
  },
};

export const authzCommands = { run };
