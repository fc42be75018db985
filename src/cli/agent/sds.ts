// `herald-agent sds status`: the connected Envoys, from the agent's admin socket.
import { request } from 'node:http';
import { HeraldError } from '../../common/errors.ts';
import { flagsOrHelp, type Command } from '../command.ts';
import { checkAdminSocket } from '../grpc-client.ts';

interface Status {
  ready: boolean;
  agent_id: string | null;
  streams: {
    stream: number;
    kind: string;
    node_id: string;
    cluster: string;
    pid: number | null;
    spiffe_ids: string[];
    resource_names: string[];
    last_ack: { version: string; at: string } | null;
    last_nack: { version: string; message: string; at: string } | null;
    held_back: string[];
  }[];
  counters: Record<string, number>;
  push_to_ack_ms: { p50: number; p99: number } | null;
}

function get(socketPath: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET', timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', (err) => reject(new HeraldError('ERR_UNAVAILABLE_ADMIN', `cannot reach the agent admin socket ${socketPath}: ${err.message} (is agent.admin_socket_path set?)`)));
    req.end();
  });
}

export const sdsStatus: Command = {
  synopsis: 'Lists the Envoys connected over SDS, their resources and what they last ACKed or NACKed',
  async run(args, io) {
    const f = flagsOrHelp(
      {
        socketPath: { type: 'string', usage: 'The agent\'s admin socket (agent.admin_socket_path)', default: '/tmp/herald-agent/private/admin.sock' },
        output: { type: 'string', usage: 'pretty or json', default: 'pretty' },
      },
      args,
      'sds status',
      io,
    );
    if (!f) return 0;
    checkAdminSocket(f.values.socketPath, 'agent', io.env);
    const text = await get(f.values.socketPath, '/sds/status');
    if (f.values.output === 'json') {
      io.stdout.write(text);
      return 0;
    }
    const s = JSON.parse(text) as Status;
    io.stdout.write(`Agent ${s.agent_id ?? '(not attested)'}: ${s.ready ? 'ready' : 'not ready'}; ${s.streams.length} SDS stream${s.streams.length === 1 ? '' : 's'}\n`);
    for (const st of s.streams) {
      io.stdout.write(`\nNode ${st.node_id || '?'} (cluster ${st.cluster || '?'}, pid ${st.pid ?? '?'}, ${st.kind})\n`);
      io.stdout.write(`  SPIFFE IDs : ${st.spiffe_ids.join(', ') || '-'}\n  Resources  : ${st.resource_names.join(', ') || '-'}\n`);
      io.stdout.write(`  Last ACK   : ${st.last_ack ? `${st.last_ack.version} at ${st.last_ack.at}` : '-'}\n`);
      if (st.last_nack) io.stdout.write(`  Last NACK  : ${st.last_nack.version} at ${st.last_nack.at}: ${st.last_nack.message}\n`);
      if (st.held_back.length > 0) io.stdout.write(`  Held back  : ${st.held_back.join(', ')}\n`);
    }
    const c = s.counters;
    io.stdout.write(`\nPushes ${c['sds.push'] ?? 0}, ACKs ${c['sds.ack'] ?? 0}, NACKs ${c['sds.nack'] ?? 0}${s.push_to_ack_ms ? `, push→ACK p50 ${s.push_to_ack_ms.p50.toFixed(1)} ms p99 ${s.push_to_ack_ms.p99.toFixed(1)} ms` : ''}\n`);
    return 0;
  },
};
