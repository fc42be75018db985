// CredentialComposer "template" (Herald's; SPIRE has no declarative
// composer): per SPIFFE-ID pattern, a subject template, extra DNS SANs and
// extra JWT-SVID claims, filled from the SPIFFE ID and the registration
// entry (hint, selectors). The first pattern that matches an ID wins, in
// the order the config declares them. Applies to workload X509-SVIDs and
// JWT-SVIDs, and to agent and server X509-SVIDs whose ID a pattern matches
// (spiffe://td/spire/agent/…, spiffe://td/spire/server).
import type {
  CredentialComposer,
  JwtSvidAttributes,
  JwtSvidContext,
  X509SvidAttributes,
  X509SvidContext,
} from '../../../credtemplate/composer.ts';
import { compileTemplate, type CompiledTemplate, type TemplateInput } from './expand.ts';
import { compileSubject, type SubjectTemplate } from './subject.ts';

export const NAME = 'template';

/** One `templates` entry as configured (strings still templates). */
export interface TemplateRuleConfig {
  readonly pattern: string;
  readonly subject?: string | undefined;
  readonly dnsNames: readonly string[];
  readonly jwtClaims: Readonly<Record<string, string>>;
}

interface Rule {
  readonly pattern: string;
  readonly match: RegExp;
  readonly subject: SubjectTemplate | undefined;
  readonly dnsNames: readonly CompiledTemplate[];
  readonly jwtClaims: readonly (readonly [string, CompiledTemplate])[];
}

/**
 * A SPIFFE-ID glob: `*` matches within one path segment, `**` across
 * segments (including none), everything else literally. Globs rather than
 * regular expressions: an ID pattern reads like the ID, and a glob cannot
 * be written to backtrack for ever on an attacker-chosen path.
 */
export function compileIdPattern(pattern: string): RegExp {
  if (!/^spiffe:\/\/[^/*]+(\/|$)/.test(pattern)) throw new TypeError(`pattern ${JSON.stringify(pattern)} must start with spiffe://<trust domain> (no wildcard in the trust domain)`);
  if (/\*{3,}/.test(pattern)) throw new TypeError(`pattern ${JSON.stringify(pattern)}: use * (one segment) or ** (any segments), not ***`);
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    if (pattern.startsWith('/**', i) && (i + 3 === pattern.length || pattern[i + 3] === '/')) {
      re += '(?:/[^/]+)*';
      i += 2;
    } else if (pattern.startsWith('**', i)) {
      re += '.*';
      i += 1;
    } else if (pattern[i] === '*') {
      re += '[^/]*';
    } else {
      re += pattern[i]!.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${re}$`);
}

/** Compiles the rules; throws TypeError with the pattern and the problem. */
export function compileRules(rules: readonly TemplateRuleConfig[]): Rule[] {
  return rules.map((r) => {
    const where = (what: string, err: unknown) => new TypeError(`templates ${JSON.stringify(r.pattern)}: ${what}: ${(err as Error).message}`);
    const attempt = <T>(what: string, f: () => T): T => {
      try {
        return f();
      } catch (err) {
        throw where(what, err);
      }
    };
    return {
      pattern: r.pattern,
      match: attempt('pattern', () => compileIdPattern(r.pattern)),
      subject: r.subject === undefined ? undefined : attempt('subject', () => compileSubject(r.subject!)),
      dnsNames: r.dnsNames.map((d, i) => attempt(`dns_names[${i}]`, () => compileTemplate(d))),
      jwtClaims: Object.entries(r.jwtClaims).map(([k, v]) => [k, attempt(`jwt_claims.${k}`, () => compileTemplate(v))] as const),
    };
  });
}

export class TemplateComposer implements CredentialComposer {
  readonly name = NAME;
  readonly #rules: readonly Rule[];

  constructor(rules: readonly TemplateRuleConfig[]) {
    this.#rules = compileRules(rules);
  }

  #ruleFor(input: TemplateInput): Rule | undefined {
    const id = input.id.toString();
    return this.#rules.find((r) => r.match.test(id));
  }

  #x509(attributes: X509SvidAttributes, ctx: X509SvidContext): X509SvidAttributes {
    const rule = this.#ruleFor(ctx);
    if (rule === undefined) return attributes;
    const subject = rule.subject?.(ctx);
    const dnsNames = [...attributes.dnsNames];
    for (const d of rule.dnsNames) {
      const name = d(ctx);
      if (name !== undefined && !dnsNames.includes(name)) dnsNames.push(name);
    }
    return { ...attributes, subject: subject !== undefined && subject.length > 0 ? subject : attributes.subject, dnsNames };
  }

  composeWorkloadX509Svid(attributes: X509SvidAttributes, ctx: X509SvidContext): X509SvidAttributes {
    return this.#x509(attributes, ctx);
  }
  composeAgentX509Svid(attributes: X509SvidAttributes, ctx: X509SvidContext): X509SvidAttributes {
    return this.#x509(attributes, ctx);
  }
  composeServerX509Svid(attributes: X509SvidAttributes, ctx: X509SvidContext): X509SvidAttributes {
    return this.#x509(attributes, ctx);
  }

  composeWorkloadJwtSvid(attributes: JwtSvidAttributes, ctx: JwtSvidContext): JwtSvidAttributes {
    const rule = this.#ruleFor(ctx);
    if (rule === undefined || rule.jwtClaims.length === 0) return attributes;
    const claims = { ...attributes.claims };
    for (const [name, value] of rule.jwtClaims) {
      const v = value(ctx);
      if (v !== undefined) claims[name] = v;
    }
    return { claims };
  }
}
