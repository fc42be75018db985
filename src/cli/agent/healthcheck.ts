// `herald-agent healthcheck`: grpc.health.v1 Check on the Workload API
// socket. Loads neither grpc-js nor the protos (health-check.ts): main.ts runs
// it without the other commands, as liveness probes call it every few seconds.
import { flagsOrHelp, type Command } from '../command.ts';
import { rpcErrorText } from '../grpc-status-text.ts';
import { checkHealth } from '../health-check.ts';
import { agentSocketPath, socketPathFlag } from './socket-path.ts';

export const healthcheck: Command = {
  synopsis: 'Determines agent health status',
  async run(args, io) {
    const f = flagsOrHelp({ socketPath: socketPathFlag, shallow: { type: 'bool', usage: 'Perform a less stringent health check' }, verbose: { type: 'bool', usage: 'Print verbose information' } }, args, 'health', io);
    if (!f) return 0;
    if (f.values.verbose) io.stdout.write('Checking agent health...\n');
    const socket = agentSocketPath(f.values.socketPath, io.env);
    let status: string;
    try {
      status = await checkHealth(socket, 5000);
    } catch (err) {
      const e = err as { code?: unknown; details?: unknown };
      if (f.values.verbose) io.stderr.write(`Failed to check health: ${typeof e?.code === 'number' && typeof e.details === 'string' ? rpcErrorText({ code: e.code, details: e.details }) : (err as Error).message}\n`);
      io.stderr.write('Agent is unhealthy: unable to determine health\n');
      return 1;
    }
    if (status !== 'SERVING') {
      io.stderr.write(`Agent is unhealthy: agent returned status ${JSON.stringify(status)}\n`);
      return 1;
    }
    io.stdout.write('Agent is healthy.\n');
    return 0;
  },
};
