// spire.api.server.localauthority.v1.LocalAuthority: see and drive the A/B
// rotation by hand (prepare the next CA or JWT key, activate it), and retire
// a compromised old authority: taint it (agents replace what it signed at
// once), then revoke it (it leaves the bundle). The upstream variants are
// not implemented.
import type * as grpc from '@grpc/grpc-js';
import type { X509Certificate } from 'node:crypto';
import { HeraldError } from '../../common/errors.ts';
import { keyIdOfSpki } from '../../spiffe/x509-leaf-der.ts';
import type { CallerResolver } from './caller.ts';
import { unaryMethod, type ApiContext } from './context.ts';

interface AuthorityState {
  authority_id: string;
  expires_at: string;
  upstream_authority_subject_key_id: string;
}

/** SPIRE's X.509 authority ID: the CA certificate's subject key ID (SHA-1 of the public key), hex. */
export function x509AuthorityId(ca: { certificate: X509Certificate }): string {
  return keyIdOfSpki(ca.certificate.publicKey.export({ format: 'der', type: 'spki' })).toString('hex');
}

function x509State(ca: { certificate: X509Certificate; notAfter: number } | undefined): AuthorityState | null {
  return ca ? { authority_id: x509AuthorityId(ca), expires_at: String(Math.floor(ca.notAfter / 1000)), upstream_authority_subject_key_id: '' } : null;
}

function jwtState(k: { kid: string; notAfter: number } | undefined): AuthorityState | null {
  return k ? { authority_id: k.kid, expires_at: String(Math.floor(k.notAfter / 1000)), upstream_authority_subject_key_id: '' } : null;
}

const notImplemented = (what: string) => async (): Promise<never> => {
  throw new HeraldError('ERR_UNIMPLEMENTED', `${what} is not implemented by Herald`);
};

/**
 * Taint and revoke act on the old authority only: the active one still
 * signs, and a prepared one has signed nothing (as in SPIRE).
 */
function checkOldAuthority(id: string, label: string, ids: { active: string | undefined; prepared: string | undefined; old: string | undefined }): void {
  if (!id) throw new HeraldError('ERR_INVALID_ARGUMENT_AUTHORITY_ID', 'no authority ID provided');
  if (id === ids.active) throw new HeraldError('ERR_FAILED_PRECONDITION_AUTHORITY_ACTIVE', `unable to use the active ${label} authority ${id}: only the old authority can be tainted or revoked (prepare and activate a new one first)`);
  if (id === ids.prepared) throw new HeraldError('ERR_FAILED_PRECONDITION_AUTHORITY_PREPARED', `unable to use the prepared ${label} authority ${id}: only the old authority can be tainted or revoked`);
  if (id !== ids.old) throw new HeraldError('ERR_NOT_FOUND_AUTHORITY', `no old ${label} authority with ID ${id}`);
}

export function localAuthorityService(ctx: ApiContext, resolver: CallerResolver): grpc.UntypedServiceImplementation {
  const { ca } = ctx;
  const id = (a: { certificate: X509Certificate } | undefined) => (a ? x509AuthorityId(a) : undefined);

  const changeX509 = async (authorityId: string, action: 'taint' | 'revoke'): Promise<AuthorityState | null> => {
    // With an upstream authority the bundle holds the upstream roots, not Herald's CA (SPIRE refuses too).
    if (ca.currentX509Ca().upstreamChain.length > 0) throw new HeraldError('ERR_FAILED_PRECONDITION_UPSTREAM', `local authority can't be ${action === 'taint' ? 'tainted' : 'revoked'} if there is an upstream authority`);
    const old = ca.oldX509Record();
    checkOldAuthority(authorityId, 'X.509', { active: id(ca.currentX509Ca()), prepared: id(ca.nextX509Ca()), old: id(old) });
    await ctx.ds.changeAuthority(ctx.trustDomain, { kind: 'x509', subjectKeyId: authorityId }, action);
    ctx.log.info({ authority_id: authorityId }, action === 'taint' ? 'X.509 authority tainted' : 'X.509 authority revoked');
    return x509State(old);
  };

  const changeJwt = async (authorityId: string, action: 'taint' | 'revoke'): Promise<AuthorityState | null> => {
    const old = ca.oldJwtRecord();
    checkOldAuthority(authorityId, 'JWT', { active: ca.currentJwtKey().kid, prepared: ca.nextJwtKey()?.kid, old: old?.kid });
    await ctx.ds.changeAuthority(ctx.trustDomain, { kind: 'jwt', keyId: authorityId }, action);
    ctx.log.info({ authority_id: authorityId }, action === 'taint' ? 'JWT authority tainted' : 'JWT authority revoked');
    return jwtState(old);
  };

  return {
    GetX509AuthorityState: unaryMethod(ctx, resolver, 'admin', async () => ({ active: x509State(ca.currentX509Ca()), prepared: x509State(ca.nextX509Ca()), old: x509State(ca.oldX509Record()) })),
    PrepareX509Authority: unaryMethod(ctx, resolver, 'admin', async () => {
      await ca.prepare('x509');
      return { prepared_authority: x509State(ca.nextX509Ca()) };
    }),
    ActivateX509Authority: unaryMethod<{ authority_id: string }, unknown>(ctx, resolver, 'admin', async (req) => {
      const next = ca.nextX509Ca();
      if (!req.authority_id) throw new HeraldError('ERR_INVALID_ARGUMENT_AUTHORITY_ID', 'no authority ID provided');
      if (!next) throw new HeraldError('ERR_FAILED_PRECONDITION_NO_PREPARED', 'no prepared authority found');
      if (x509AuthorityId(next) !== req.authority_id) throw new HeraldError('ERR_INVALID_ARGUMENT_AUTHORITY_ID', `unexpected authority ID: "${req.authority_id}" is not the prepared authority`);
      await ca.activate('x509');
      return { activated_authority: x509State(ca.currentX509Ca()) };
    }),
    GetJWTAuthorityState: unaryMethod(ctx, resolver, 'admin', async () => ({ active: jwtState(ca.currentJwtKey()), prepared: jwtState(ca.nextJwtKey()), old: jwtState(ca.oldJwtRecord()) })),
    PrepareJWTAuthority: unaryMethod(ctx, resolver, 'admin', async () => {
      await ca.prepare('jwt');
      return { prepared_authority: jwtState(ca.nextJwtKey()) };
    }),
    ActivateJWTAuthority: unaryMethod<{ authority_id: string }, unknown>(ctx, resolver, 'admin', async (req) => {
      const next = ca.nextJwtKey();
      if (!req.authority_id) throw new HeraldError('ERR_INVALID_ARGUMENT_AUTHORITY_ID', 'no authority ID provided');
      if (!next) throw new HeraldError('ERR_FAILED_PRECONDITION_NO_PREPARED', 'no prepared authority found');
      if (next.kid !== req.authority_id) throw new HeraldError('ERR_INVALID_ARGUMENT_AUTHORITY_ID', `unexpected authority ID: "${req.authority_id}" is not the prepared authority`);
      await ca.activate('jwt');
      return { activated_authority: jwtState(ca.currentJwtKey()) };
    }),
    TaintJWTAuthority: unaryMethod<{ authority_id: string }, unknown>(ctx, resolver, 'admin', async (req) => ({ tainted_authority: await changeJwt(req.authority_id, 'taint') })),
    RevokeJWTAuthority: unaryMethod<{ authority_id: string }, unknown>(ctx, resolver, 'admin', async (req) => ({ revoked_authority: await changeJwt(req.authority_id, 'revoke') })),
    TaintX509Authority: unaryMethod<{ authority_id: string }, unknown>(ctx, resolver, 'admin', async (req) => ({ tainted_authority: await changeX509(req.authority_id, 'taint') })),
    TaintX509UpstreamAuthority: unaryMethod(ctx, resolver, 'admin', notImplemented('TaintX509UpstreamAuthority')),
    RevokeX509Authority: unaryMethod<{ authority_id: string }, unknown>(ctx, resolver, 'admin', async (req) => ({ revoked_authority: await changeX509(req.authority_id, 'revoke') })),
    RevokeX509UpstreamAuthority: unaryMethod(ctx, resolver, 'admin', notImplemented('RevokeX509UpstreamAuthority')),
  };
}
