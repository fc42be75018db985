// CredentialComposer "template": subject, DNS SANs and JWT claims per
// SPIFFE-ID pattern, from the server config (docs/credential-composer.md).
import { definePlugin } from '../../../../common/catalog/catalog.ts';
import { s } from '../../../../common/config/index.ts';
import type { ServerPluginDepsWithDataStore } from '../../../catalog/deps.ts';
import { RESERVED_JWT_CLAIMS } from '../../../credtemplate/builder.ts';
import type { CredentialComposer } from '../types.ts';
import { compileTemplate, problemOf } from './expand.ts';
import { compileSubject } from './subject.ts';
import { NAME, compileIdPattern, type TemplateRuleConfig } from './template.ts';


const configSchema = s.section(
  {
    templates: s.map(
      s.section({
        subject: s.string({ description: 'The whole subject, "/C=US/O=Payments/CN={{path.last}}" (DER order) or "CN={{path.last}},O=Payments,C=US" (RFC 4514)', validate: (v) => problemOf(() => compileSubject(v)) }),
        dns_names: s.stringList({
          description: 'DNS SANs added to X509-SVIDs (templates)',
          validate: (v) => v.map((d, i) => ({ key: String(i), message: problemOf(() => compileTemplate(d)) ?? '' })).filter((x) => x.message !== ''),
        }),
        jwt_claims: s.map(s.string({ description: 'Claim value (a template)', required: true, validate: (v) => problemOf(() => compileTemplate(v)) }), {
          description: 'Claims added to JWT-SVIDs: name → template',
          validateKey: (k) => ([...RESERVED_JWT_CLAIMS, 'iss'] as string[]).includes(k) ? `claim "${k}" is set by the server (sub, aud, exp, iat; iss from jwt_issuer) and cannot be templated` : undefined,
        }),
      }),
      {
        description: 'By SPIFFE-ID pattern (* = one path segment, ** = any segments); the first that matches, in file order, applies',
        validateKey: (k) => problemOf(() => compileIdPattern(k)),
      },
    ),
  },
  { description: 'Subject, DNS SANs and JWT-SVID claims per SPIFFE-ID pattern, from templates with {{variables}} (docs/credential-composer.md)' },
);

export const plugin = definePlugin({
  type: 'CredentialComposer',
  name: NAME,
  configSchema,
  configure: (data): TemplateRuleConfig[] =>
    Object.entries(data.templates).map(([pattern, t]) => ({ pattern, subject: t.subject, dnsNames: t.dns_names, jwtClaims: t.jwt_claims ?? {} })),
  create: async (config, _deps: ServerPluginDepsWithDataStore): Promise<CredentialComposer> => new (await import('./template.ts')).TemplateComposer(config),
});
