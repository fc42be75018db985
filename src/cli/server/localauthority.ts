// `herald-server localauthority x509|jwt show|prepare|activate|taint|revoke`
// (SPIRE's commands for driving the A/B rotation by hand and retiring an
// old authority), with SPIRE 1.13's messages and output.
import { Services } from '../../common/grpc/protos.ts';
import { type Command } from '../command.ts';
import { callUnary } from '../grpc-client.ts';
import { adminClients, adminFlags, outputFormat } from './common.ts';
import { goTimeUtc, printProto, rpc, SpireCliError, spireFlags } from './spire-output.ts';

const LA_PKG = 'spire.api.server.localauthority.v1';

interface State {
  authority_id: string;
  expires_at: string;
  upstream_authority_subject_key_id?: string;
}

/** authoritycommon.PrettyPrint{X509,JWT}AuthorityState. */
function state(s: State, x509: boolean): string {
  let out = `  Authority ID: ${s.authority_id}\n  Expires at: ${goTimeUtc(s.expires_at)}\n`;
  if (!x509) return out;
  if (s.upstream_authority_subject_key_id) out += `  Upstream authority Subject Key ID: ${s.upstream_authority_subject_key_id}\n`;
  else out += '  Upstream authority ID: No upstream authority\n';
  return out;
}

type Action = 'show' | 'prepare' | 'activate' | 'taint' | 'revoke';

const BY_ID = {
  activate: { rpc: 'Activate', field: 'activated_authority', title: 'Activated', verb: 'activate' },
  taint: { rpc: 'Taint', field: 'tainted_authority', title: 'Tainted', verb: 'taint' },
  revoke: { rpc: 'Revoke', field: 'revoked_authority', title: 'Revoked', verb: 'revoke' },
} as const;

const SYNOPSIS = (label: string, what: string): Record<Action, string> => ({
  show: `Shows the local ${label} authorities`,
  prepare: label === 'JWT' ? 'Prepares a new JWT authority for use by generating a new key and injecting it into the bundle' : 'Prepares a new X.509 authority for use by generating a new key and injecting the resulting CA certificate into the bundle',
  activate: `Activates a prepared ${label} authority for use, which will cause it to be used for all ${what} signing operations serviced by this server going forward`,
  taint: `Marks the previously active ${label} authority as being tainted`,
  revoke: `Revokes the previously active ${label} authority by removing it from the bundle and propagating this update throughout the cluster`,
});

function commands(kind: 'X509' | 'JWT'): Record<Action, Command> {
  const label = kind === 'X509' ? 'X.509' : 'JWT';
  const x509 = kind === 'X509';
  const run = async (args: readonly string[], io: Parameters<Command['run']>[1], what: Action): Promise<number> => {
    const byId = what === 'show' || what === 'prepare' ? undefined : BY_ID[what];
    const f = spireFlags(
      { ...adminFlags, ...(byId ? { authorityID: { type: 'string', usage: `The authority ID of the ${label} authority to ${byId.verb}` } } : {}) },
      args,
      `localauthority ${kind.toLowerCase()} ${what}`,
      io,
      'server',
    );
    if (!f) return 0;
    const output = outputFormat(f.values.output);
    const authorityId = (f.values as { authorityID?: string }).authorityID;
    if (byId && what !== 'taint' && !authorityId) throw new SpireCliError('an authority ID is required');
    if (what === 'taint' && !authorityId) throw new SpireCliError('an authority ID is required');
    const { clients: [la], close } = adminClients(f.values.socketPath, Services.localAuthority);
    try {
      if (what === 'show') {
        const res = await rpc(callUnary<{ active: State | null; prepared: State | null; old: State | null }>(la!, `Get${kind}AuthorityState`, {}), x509 ? 'could not get X.509 authorities' : undefined);
        if (output === 'json') {
          printProto(io, `${LA_PKG}.Get${kind}AuthorityStateResponse`, res);
          return 0;
        }
        const section = (title: string, s: State | null) => `${title} ${label} authority:\n${s ? state(s, x509) : `  No ${title.toLowerCase()} ${label} authority found\n`}`;
        io.stdout.write(`${section('Active', res.active)}\n${section('Prepared', res.prepared)}\n${section('Old', res.old)}`);
      } else if (what === 'prepare') {
        const res = await rpc(callUnary<{ prepared_authority: State | null }>(la!, `Prepare${kind}Authority`, {}), `could not prepare ${label} authority`);
        if (output === 'json') {
          printProto(io, `${LA_PKG}.Prepare${kind}AuthorityResponse`, res);
          return 0;
        }
        io.stdout.write(`Prepared ${label} authority:\n`);
        if (!res.prepared_authority) throw new SpireCliError(`internal error: expected to have prepared ${label} authority information`);
        io.stdout.write(state(res.prepared_authority, x509));
      } else if (byId) {
        const res = await rpc(callUnary<Record<string, State | null>>(la!, `${byId.rpc}${kind}Authority`, { authority_id: authorityId }), `could not ${byId.verb} ${label} authority`);
        if (output === 'json') {
          printProto(io, `${LA_PKG}.${byId.rpc}${kind}AuthorityResponse`, res);
          return 0;
        }
        io.stdout.write(`${byId.title} ${label} authority:\n`);
        const s = res[byId.field];
        if (!s) throw new SpireCliError(`internal error: expected to have ${byId.title.toLowerCase()} ${label} authority information`);
        io.stdout.write(state(s, x509));
      }
      return 0;
    } finally {
      close();
    }
  };
  const syn = SYNOPSIS(label, label);
  return {
    show: { synopsis: syn.show, run: (a, io) => run(a, io, 'show') },
    prepare: { synopsis: syn.prepare, run: (a, io) => run(a, io, 'prepare') },
    activate: { synopsis: syn.activate, run: (a, io) => run(a, io, 'activate') },
    taint: { synopsis: syn.taint, run: (a, io) => run(a, io, 'taint') },
    revoke: { synopsis: syn.revoke, run: (a, io) => run(a, io, 'revoke') },
  };
}

export const localAuthorityCommands = { x509: commands('X509'), jwt: commands('JWT') };
