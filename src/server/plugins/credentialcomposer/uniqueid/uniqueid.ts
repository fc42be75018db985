// CredentialComposer "uniqueid" (SPIRE plugin/server/credentialcomposer/
// uniqueid), on by default: adds x500UniqueIdentifier — the first 16 bytes
// of SHA-256(SPIFFE ID), hex — to X509-SVID subjects, so two SVIDs for
// different IDs never share a subject DN (seed 000).
//
// SPIRE applies it to workload X509-SVIDs only; Herald has always written
// it into agent and server X509-SVIDs too, and keeps doing so. The
// attribute goes before a CN (the first DNS name), as Herald's leaves
// always had it: C=US, O=SPIRE, x500UniqueIdentifier=…, CN=….
import type { CredentialComposer, NameAttribute, X509SvidAttributes, X509SvidContext } from '../../../credtemplate/composer.ts';
import { uniqueIdFor } from '../../../../spiffe/x509-template.ts';

export const NAME = 'uniqueid';

function compose(attributes: X509SvidAttributes, ctx: X509SvidContext): X509SvidAttributes {
  const attr: NameAttribute = { type: 'x500UniqueIdentifier', value: uniqueIdFor(ctx.id), encoding: 'utf8' };
  const subject = attributes.subject.filter((a) => a.type !== 'x500UniqueIdentifier' && a.type !== '2.5.4.45');
  const cn = subject.findIndex((a) => a.type === 'CN' || a.type === '2.5.4.3');
  subject.splice(cn < 0 ? subject.length : cn, 0, attr);
  return { ...attributes, subject };
}

export class UniqueIdComposer implements CredentialComposer {
  readonly name = NAME;
  composeWorkloadX509Svid(attributes: X509SvidAttributes, ctx: X509SvidContext): X509SvidAttributes {
    return compose(attributes, ctx);
  }
  composeAgentX509Svid(attributes: X509SvidAttributes, ctx: X509SvidContext): X509SvidAttributes {
    return compose(attributes, ctx);
  }
  composeServerX509Svid(attributes: X509SvidAttributes, ctx: X509SvidContext): X509SvidAttributes {
    return compose(attributes, ctx);
  }
}
