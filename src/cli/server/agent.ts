// `herald-server agent list|show|evict|ban|count|purge`: SPIRE 1.13's
// flags, messages and output (cmd/spire-server/cli/agent).
import { Services } from '../../common/grpc/protos.ts';
import type { WireAgent } from '../../common/wire/convert.ts';
import { type CliIo, type Command } from '../command.ts';
import { callUnary } from '../grpc-client.ts';
import { adminClients, adminFlags, matchBehavior, outputFormat, parseCliSelector, parseSpiffeId } from './common.ts';
import { goTimeLocal, pluralize, printProto, printStruct, rpc, SpireCliError, spireFlags } from './spire-output.ts';

const AGENT_PKG = 'spire.api.server.agent.v1';

function idString(id: { trust_domain: string; path: string } | null): string {
  return id ? `spiffe://${id.trust_domain}${id.path}` : '';
}

/** printAgents (cmd/spire-server/cli/agent/list.go). */
function formatAgents(agents: readonly WireAgent[]): string {
  let s = '';
  for (const a of agents) {
    s += `SPIFFE ID         : ${idString(a.id)}\n`;
    s += `Attestation type  : ${a.attestation_type}\n`;
    s += `Expiration time   : ${goTimeLocal(a.x509svid_expires_at)}\n`;
    // Banned agents have an empty serial number.
    s += a.banned ? 'Banned            : true\n' : `Serial number     : ${a.x509svid_serial_number}\n`;
    s += `Can re-attest     : ${a.can_reattest}\n\n`;
  }
  return s;
}

function byIdCommand(name: 'evict' | 'ban', synopsis: string, method: 'DeleteAgent' | 'BanAgent', done: string): Command {
  return {
    synopsis,
    async run(args, io) {
      const f = spireFlags({ ...adminFlags, spiffeID: { type: 'string', usage: `The SPIFFE ID of the agent to ${name} (agent identity)` } }, args, `agent ${name}`, io, 'server');
      if (!f) return 0;
      const output = outputFormat(f.values.output);
      if (!f.values.spiffeID) throw new SpireCliError('a SPIFFE ID is required');
      const id = parseSpiffeId(f.values.spiffeID);
      const { clients: [agent], close } = adminClients(f.values.socketPath, Services.agent);
      try {
        await rpc(callUnary(agent!, method, { id }));
        if (output === 'json') io.stdout.write('{}\n');
        else io.stdout.write(`${done}\n`);
        return 0;
      } finally {
        close();
      }
    },
  };
}

export const agentEvict = byIdCommand('evict', 'Evicts an attested agent given its SPIFFE ID', 'DeleteAgent', 'Agent evicted successfully');
export const agentBan = byIdCommand('ban', 'Ban an attested agent given its SPIFFE ID', 'BanAgent', 'Agent banned successfully');

export const agentShow: Command = {
  synopsis: 'Shows the details of an attested agent given its SPIFFE ID',
  async run(args, io) {
    const f = spireFlags({ ...adminFlags, spiffeID: { type: 'string', usage: 'The SPIFFE ID of the agent to show (agent identity)' } }, args, 'agent show', io, 'server');
    if (!f) return 0;
    const output = outputFormat(f.values.output);
    if (!f.values.spiffeID) throw new SpireCliError('a SPIFFE ID is required');
    const id = parseSpiffeId(f.values.spiffeID);
    const { clients: [agent], close } = adminClients(f.values.socketPath, Services.agent);
    try {
      const a = await rpc(callUnary<WireAgent>(agent!, 'GetAgent', { id }));
      if (output === 'json') {
        printProto(io, 'spire.api.types.Agent', a);
        return 0;
      }
      io.stdout.write(`Found an attested agent given its SPIFFE ID\n\n${formatAgents([a])}`);
      for (const s of a.selectors) io.stdout.write(`Selectors         : ${s.type}:${s.value}\n`);
      return 0;
    } finally {
      close();
    }
  },
};

const filterFlags = {
  ...adminFlags,
  selector: { type: 'strings', usage: 'A colon-delimited type:value selector. Can be used more than once' },
  attestationType: { type: 'string', usage: 'Filter by attestation type, like join_token or x509pop.' },
  canReattest: { type: 'string', usage: "Filter based on string received, 'true': agents that can reattest, 'false': agents that can't reattest, other value will return all.", goVar: true },
  banned: { type: 'string', usage: "Filter based on string received, 'true': banned agents, 'false': not banned agents, other value will return all.", goVar: true },
  expiresBefore: { type: 'string', usage: 'Filter by expiration time (format: "2006-01-02 15:04:05 -0700 -07")' },
  matchSelectorsOn: { type: 'string', usage: 'The match mode used when filtering by selectors. Options: exact, any, superset and subset', default: 'superset' },
} as const;

interface FilterValues {
  selector: readonly string[]; attestationType?: string | undefined; canReattest?: string | undefined; banned?: string | undefined;
  expiresBefore?: string | undefined; matchSelectorsOn: string;
}

/** Go's time.Parse against "2006-01-02 15:04:05 -0700 -07": undefined, or its `cannot parse "…" as "…"` text. */
function goLayoutProblem(value: string): string | undefined {
  const elements: [string, RegExp][] = [
    ['2006', /^\d{4}/], ['-', /^-/], ['01', /^\d{2}/], ['-', /^-/], ['02', /^\d{2}/], [' ', /^ /], ['15', /^\d{2}/], [':', /^:/],
    ['04', /^\d{2}/], [':', /^:/], ['05', /^\d{2}/], [' ', /^ /], ['-0700', /^[+-]\d{4}/], [' ', /^ /], ['-07', /^[+-]\d{2}/],
  ];
  let rest = value;
  for (const [elem, re] of elements) {
    const m = re.exec(rest);
    if (!m) return `cannot parse ${JSON.stringify(rest)} as ${JSON.stringify(elem)}`;
    rest = rest.slice(m[0].length);
  }
  if (rest !== '') return `extra text: ${JSON.stringify(rest)}`;
  return undefined;
}

function agentFilter(v: FilterValues): Record<string, unknown> {
  const filter: Record<string, unknown> = {};
  if (v.selector.length > 0) {
    const match = matchBehavior(v.matchSelectorsOn, () => 'unsupported match behavior');
    const selectors = v.selector.map((s) => {
      try {
        return parseCliSelector(s);
      } catch (err) {
        throw new SpireCliError(`error parsing selector ${JSON.stringify(s)}: ${(err as Error).message}`, { cause: err });
      }
    });
    filter.by_selector_match = { selectors, match };
  }
  if (v.expiresBefore) {
    const problem = goLayoutProblem(v.expiresBefore);
    if (problem) throw new SpireCliError(`date is not valid: parsing time ${JSON.stringify(v.expiresBefore)} as "2006-01-02 15:04:05 -0700 -07": ${problem}`);
    filter.by_expires_before = v.expiresBefore;
  }
  if (v.attestationType) filter.by_attestation_type = v.attestationType;
  // commoncli.BoolFlag: "true" / "false" filter, anything else means all.
  if (v.canReattest === 'true' || v.canReattest === 'false') filter.by_can_reattest = { value: v.canReattest === 'true' };
  if (v.banned === 'true' || v.banned === 'false') filter.by_banned = { value: v.banned === 'true' };
  return filter;
}

async function listAll(agent: Parameters<typeof callUnary>[0], filter: Record<string, unknown>, output_mask?: object): Promise<WireAgent[]> {
  const agents: WireAgent[] = [];
  let page_token = '';
  do {
    const res = await callUnary<{ agents: WireAgent[]; next_page_token: string }>(agent, 'ListAgents', { filter, page_size: 1000, page_token, ...(output_mask ? { output_mask } : {}) });
    agents.push(...res.agents);
    page_token = res.next_page_token;
  } while (page_token !== '');
  return agents;
}

export const agentList: Command = {
  synopsis: 'Lists attested agents and their SPIFFE IDs',
  async run(args, io) {
    const f = spireFlags(filterFlags, args, 'agent list', io, 'server');
    if (!f) return 0;
    const output = outputFormat(f.values.output);
    const filter = agentFilter(f.values);
    const { clients: [agent], close } = adminClients(f.values.socketPath, Services.agent);
    try {
      const agents = await rpc(listAll(agent!, filter));
      if (output === 'json') {
        printProto(io, `${AGENT_PKG}.ListAgentsResponse`, { agents, next_page_token: '' });
        return 0;
      }
      if (agents.length === 0) io.stdout.write('No attested agents found\n');
      else io.stdout.write(`${pluralize(`Found ${agents.length} attested `, 'agent', 'agents', agents.length)}:\n\n${formatAgents(agents)}`);
      return 0;
    } finally {
      close();
    }
  },
};

export const agentCount: Command = {
  synopsis: 'Count attested agents',
  async run(args, io) {
    const f = spireFlags(filterFlags, args, 'agent count', io, 'server');
    if (!f) return 0;
    const output = outputFormat(f.values.output);
    const filter = agentFilter(f.values);
    const { clients: [agent], close } = adminClients(f.values.socketPath, Services.agent);
    try {
      const res = await rpc(callUnary<{ count: number }>(agent!, 'CountAgents', { filter }));
      if (output === 'json') printProto(io, `${AGENT_PKG}.CountAgentsResponse`, res);
      else io.stdout.write(pluralize(`${res.count} attested `, 'agent', 'agents', res.count) + '\n');
      return 0;
    } finally {
      close();
    }
  },
};

export const agentPurge: Command = {
  synopsis: 'Purge expired agents that were attested using a non-TOFU security model based on a given time',
  async run(args, io: CliIo) {
    const f = spireFlags(
      {
        ...adminFlags,
        expiredFor: { type: 'duration', usage: "Amount of time that has passed since the agent's SVID has expired. It is used to determine which agents to purge.", default: '720h' },
        dryRun: { type: 'bool', usage: 'Indicates that the command will not perform any action, but will print the agents that would be purged.' },
      },
      args,
      'agent purge',
      io,
      'server',
    );
    if (!f) return 0;
    const output = outputFormat(f.values.output);
    const { clients: [agent], close } = adminClients(f.values.socketPath, Services.agent);
    try {
      const agents = await rpc(callUnary<{ agents: WireAgent[] }>(agent!, 'ListAgents', { filter: { by_can_reattest: { value: true } }, output_mask: { x509svid_expires_at: true } }), 'failed to list agents');
      const expired: { agent_id: string; deleted: boolean; error?: string }[] = [];
      for (const a of agents.agents) {
        if (Date.now() - Number(a.x509svid_expires_at) * 1000 <= f.values.expiredFor) continue;
        const result: { agent_id: string; deleted: boolean; error?: string } = { agent_id: idString(a.id), deleted: false };
        if (!f.values.dryRun) {
          try {
            await rpc(callUnary(agent!, 'DeleteAgent', { id: a.id }));
            result.deleted = true;
          } catch (err) {
            result.error = (err as Error).message;
          }
        }
        expired.push(result);
      }
      if (output === 'json') {
        // cliprinter's PrintStruct of one struct prints a one-element array.
        printStruct(io, [{ expired_agents: expired }]);
        return 0;
      }
      if (expired.length === 0) {
        io.stdout.write('No agents to purge.\n');
        return 0;
      }
      io.stdout.write(`${pluralize(`Found ${expired.length} expired `, 'agent', 'agents', expired.length)}\n\n`);
      if (f.values.dryRun) {
        io.stdout.write('\nAgents that can be purged:\n');
        for (const r of expired) io.stdout.write(`SPIFFE ID         : ${r.agent_id}\n`);
        return 0;
      }
      const purged = expired.filter((r) => r.deleted);
      const notPurged = expired.filter((r) => !r.deleted);
      if (purged.length > 0) {
        io.stdout.write('Agents purged:\n');
        for (const r of purged) io.stdout.write(`SPIFFE ID         : ${r.agent_id}\n`);
      }
      if (notPurged.length > 0) {
        io.stdout.write('Agents not purged:\n');
        for (const r of notPurged) io.stdout.write(`SPIFFE ID         : ${r.agent_id}\nError             : ${r.error}\n`);
      }
      return 0;
    } finally {
      close();
    }
  },
};
