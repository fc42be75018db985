// `herald-server upstreamauthority taint|revoke` (SPIRE 1.13's commands and
// output). Herald's LocalAuthority API answers these with Unimplemented for
// now; the commands print what SPIRE's print either way.
import { Services } from '../../common/grpc/protos.ts';
import { type Command } from '../command.ts';
import { callUnary } from '../grpc-client.ts';
import { adminClients, adminFlags, outputFormat } from './common.ts';
import { printProto, rpc, SpireCliError, spireFlags } from './spire-output.ts';

function command(verb: 'taint' | 'revoke', synopsis: string, flagUsage: string): Command {
  const rpcName = verb === 'taint' ? 'TaintX509UpstreamAuthority' : 'RevokeX509UpstreamAuthority';
  return {
    synopsis,
    async run(args, io) {
      const f = spireFlags({ ...adminFlags, subjectKeyID: { type: 'string', usage: flagUsage } }, args, `upstreamauthority ${verb}`, io, 'server');
      if (!f) return 0;
      const output = outputFormat(f.values.output);
      if (!f.values.subjectKeyID) throw new SpireCliError('the Subject Key ID of the X.509 upstream authority is required');
      const { clients: [la], close } = adminClients(f.values.socketPath, Services.localAuthority);
      try {
        const res = await rpc(callUnary<{ upstream_authority_subject_key_id: string }>(la!, rpcName, { subject_key_id: f.values.subjectKeyID }), `could not ${verb} X.509 upstream authority`);
        if (output === 'json') printProto(io, `spire.api.server.localauthority.v1.${rpcName}Response`, res);
        else io.stdout.write(`${verb === 'taint' ? 'Tainted' : 'Revoked'} X.509 upstream authority:\n  Subject Key ID: ${res.upstream_authority_subject_key_id}\n`);
        return 0;
      } finally {
        close();
      }
    },
  };
}

export const upstreamAuthorityCommands = {
  taint: command(
    'taint',
    'Marks the provided X.509 upstream authority as being tainted',
    "The X.509 Subject Key Identifier (or SKID) of the authority's CA certificate of the upstream X.509 authority to taint",
  ),
  revoke: command(
    'revoke',
    'Revokes the previously active X.509 upstream authority by removing it from the bundle and propagating this update throughout the cluster',
    "The X.509 Subject Key Identifier (or SKID) of the authority's CA certificate of the X.509 upstream authority to revoke",
  ),
};
