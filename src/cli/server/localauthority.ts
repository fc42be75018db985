// `herald-server localauthority x509|jwt show|prepare|activate|taint|revoke`
// (SPIRE's commands for driving the A/B rotation by hand and retiring an
// old authority).
import { Services } from '../../common/grpc/protos.ts';
import { flagsOrHelp, type Command } from '../command.ts';
import { callUnary } from '../grpc-client.ts';
import { adminClients, adminFlags, outputFormat, printJson, requireFlag } from './common.ts';

interface State {
  authority_id: string;
  expires_at: string;
}

function block(title: string, s: State | null, none: string): string {
  if (!s) return `${title}:\n  ${none}\n`;
  return `${title}:\n  Authority ID: ${s.authority_id}\n  Expires at: ${new Date(Number(s.expires_at) * 1000).toISOString()}\n`;
}

type Action = 'show' | 'prepare' | 'activate' | 'taint' | 'revoke';

/** The by-ID actions: RPC name prefix, response field, output title, flag usage. */
const BY_ID = {
  activate: { rpc: 'Activate', field: 'activated_authority', title: 'Activated', usage: 'The authority ID of the prepared authority to activate' },
  taint: { rpc: 'Taint', field: 'tainted_authority', title: 'Tainted', usage: 'The authority ID of the old authority to taint' },
  revoke: { rpc: 'Revoke', field: 'revoked_authority', title: 'Revoked', usage: 'The authority ID of the tainted old authority to revoke' },
} as const;

function commands(kind: 'X509' | 'JWT'): Record<Action, Command> {
  const label = kind === 'X509' ? 'X.509' : 'JWT';
  const run = async (args: readonly string[], io: Parameters<Command['run']>[1], what: Action): Promise<number> => {
    const byId = what === 'show' || what === 'prepare' ? undefined : BY_ID[what];
    const f = flagsOrHelp({ ...adminFlags, ...(byId ? { authorityID: { type: 'string', usage: byId.usage } } : {}) }, args, `localauthority ${kind.toLowerCase()} ${what}`, io);
    if (!f) return 0;
    const { clients: [la], close } = adminClients(f.values.socketPath, Services.localAuthority);
    try {
      if (what === 'show') {
        const res = await callUnary<{ active: State | null; prepared: State | null; old: State | null }>(la!, `Get${kind}AuthorityState`, {});
        if (outputFormat(f.values.output) === 'json') printJson(io, res);
        else io.stdout.write(block(`Active ${label} authority`, res.active, `No active ${label} authority found`) + block(`Prepared ${label} authority`, res.prepared, `No prepared ${label} authority found`) + block(`Old ${label} authority`, res.old, `No old ${label} authority found`));
      } else if (what === 'prepare') {
        const res = await callUnary<{ prepared_authority: State }>(la!, `Prepare${kind}Authority`, {});
        if (outputFormat(f.values.output) === 'json') printJson(io, res);
        else io.stdout.write(block(`Prepared ${label} authority`, res.prepared_authority, ''));
      } else if (byId) {
        const id = requireFlag((f.values as { authorityID?: string }).authorityID, 'an authority ID (-authorityID)');
        const res = await callUnary<Record<string, State>>(la!, `${byId.rpc}${kind}Authority`, { authority_id: id });
        if (outputFormat(f.values.output) === 'json') printJson(io, res);
        else io.stdout.write(block(`${byId.title} ${label} authority`, res[byId.field]!, ''));
      }
      return 0;
    } finally {
      close();
    }
  };
  return {
    show: { synopsis: `Shows the local ${label} authorities`, run: (a, io) => run(a, io, 'show') },
    prepare: { synopsis: `Prepares a new local ${label} authority for use by adding it to the bundle`, run: (a, io) => run(a, io, 'prepare') },
    activate: { synopsis: `Activates a prepared ${label} authority for use`, run: (a, io) => run(a, io, 'activate') },
    taint: { synopsis: `Marks the old ${label} authority as tainted: agents replace what it signed at once`, run: (a, io) => run(a, io, 'taint') },
    revoke: { synopsis: `Removes the tainted old ${label} authority from the bundle`, run: (a, io) => run(a, io, 'revoke') },
  };
}

export const localAuthorityCommands = { x509: commands('X509'), jwt: commands('JWT') };
