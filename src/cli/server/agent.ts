// `herald-server agent list|show|evict|ban|count`.
import { HeraldError } from '../../common/errors.ts';
import { Services } from '../../common/grpc/protos.ts';
import type { WireAgent } from '../../server/api/convert.ts';
import { flagsOrHelp, type Command } from '../command.ts';
import { callUnary } from '../grpc-client.ts';
import { adminClients, adminFlags, outputFormat, printJson, requireFlag } from './common.ts';
import { formatAgent, plural } from './format.ts';

const idFlags = { ...adminFlags, spiffeID: { type: 'string', usage: 'The SPIFFE ID of the agent' } } as const;

function wireId(s: string): { trust_domain: string; path: string } {
  const m = /^spiffe:\/\/([^/]+)(\/.*)?$/.exec(s);
  if (!m) throw new HeraldError('ERR_INVALID_ARGUMENT_FLAG', `-spiffeID: "${s}" is not a SPIFFE ID`);
  return { trust_domain: m[1]!, path: m[2] ?? '' };
}

function simple(synopsis: string, method: 'DeleteAgent' | 'BanAgent', done: string): Command {
  return {
    synopsis,
    async run(args, io) {
      const f = flagsOrHelp(idFlags, args, `agent ${method === 'DeleteAgent' ? 'evict' : 'ban'}`, io);
      if (!f) return 0;
      const id = wireId(requireFlag(f.values.spiffeID, 'a SPIFFE ID'));
      const { clients: [agent], close } = adminClients(f.values.socketPath, Services.agent);
      try {
        await callUnary(agent!, method, { id });
        if (outputFormat(f.values.output) === 'json') printJson(io, {});
        else io.stdout.write(`${done}\n`);
        return 0;
      } finally {
        close();
      }
    },
  };
}

export const agentEvict = simple('Evicts an attested agent given its SPIFFE ID', 'DeleteAgent', 'Agent evicted successfully');
export const agentBan = simple('Ban an attested agent given its SPIFFE ID', 'BanAgent', 'Agent banned successfully');

export const agentShow: Command = {
  synopsis: 'Shows the details of an attested agent given its SPIFFE ID',
  async run(args, io) {
    const f = flagsOrHelp(idFlags, args, 'agent show', io);
    if (!f) return 0;
    const id = wireId(requireFlag(f.values.spiffeID, 'a SPIFFE ID'));
    const { clients: [agent], close } = adminClients(f.values.socketPath, Services.agent);
    try {
      const a = await callUnary<WireAgent>(agent!, 'GetAgent', { id });
      if (outputFormat(f.values.output) === 'json') printJson(io, a);
      else io.stdout.write(`Found an attested agent given its SPIFFE ID\n\n${formatAgent(a)}`);
      return 0;
    } finally {
      close();
    }
  },
};

export const agentList: Command = {
  synopsis: 'Lists attested agents and their SPIFFE IDs',
  async run(args, io) {
    const f = flagsOrHelp({ ...adminFlags, attestationType: { type: 'string', usage: 'Filter by attestation type, like join_token or x509pop.' }, banned: { type: 'string', usage: 'Filter based on string received, \'true\': banned agents, \'false\': not banned agents, other value will return all.' } }, args, 'agent list', io);
    if (!f) return 0;
    const filter: Record<string, unknown> = {};
    if (f.values.attestationType) filter.by_attestation_type = f.values.attestationType;
    if (f.values.banned === 'true' || f.values.banned === 'false') filter.by_banned = { value: f.values.banned === 'true' };
    const { clients: [agent], close } = adminClients(f.values.socketPath, Services.agent);
    try {
      const res = await callUnary<{ agents: WireAgent[] }>(agent!, 'ListAgents', { filter });
      if (outputFormat(f.values.output) === 'json') {
        printJson(io, res);
        return 0;
      }
      io.stdout.write(res.agents.length === 0 ? 'No attested agents found\n' : plural(res.agents.length, 'attested agent', 'attested agents') + '\n');
      for (const a of res.agents) io.stdout.write(formatAgent(a) + '\n');
      return 0;
    } finally {
      close();
    }
  },
};

export const agentCount: Command = {
  synopsis: 'Count attested agents',
  async run(args, io) {
    const f = flagsOrHelp(adminFlags, args, 'agent count', io);
    if (!f) return 0;
    const { clients: [agent], close } = adminClients(f.values.socketPath, Services.agent);
    try {
      const res = await callUnary<{ count: number }>(agent!, 'CountAgents', {});
      if (outputFormat(f.values.output) === 'json') printJson(io, res);
      else io.stdout.write(`${res.count} attested ${res.count === 1 ? 'agent' : 'agents'}\n`);
      return 0;
    } finally {
      close();
    }
  },
};
