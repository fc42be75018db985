// A subject template in one of the two spellings users meet:
//   "/C=US/O=Payments/CN={{path.last}}"  OpenSSL's one-line form (MariaDB's
//                                         REQUIRE SUBJECT), written in DER order;
//   "CN={{path.last}},O=Payments,C=US"   RFC 4514 (PostgreSQL's DN, Go's
//                                         pkix.Name), most specific first.
// Both give the same certificate: C, then O, then CN. `\` escapes the
// separator (`\/` or `\,`) and itself inside a value.
import { nameAttributeOid } from '../../../../spiffe/x509-leaf-der.ts';
import type { NameAttribute } from '../../../credtemplate/composer.ts';
import { compileTemplate, type CompiledTemplate, type TemplateInput } from './expand.ts';

interface AttributeTemplate {
  readonly type: string;
  readonly value: CompiledTemplate;
}

export type SubjectTemplate = (input: TemplateInput) => NameAttribute[];

function split(text: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && i + 1 < text.length) {
      cur += text[++i];
    } else if (c === sep) {
      out.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  out.push(cur);
  return out;
}

/** Compiles a subject template; throws TypeError naming what is wrong. */
export function compileSubject(text: string): SubjectTemplate {
  const slashForm = text.startsWith('/');
  const rdns = slashForm ? split(text.slice(1), '/') : split(text, ',').reverse();
  const attrs: AttributeTemplate[] = rdns.map((rdn) => {
    const eq = rdn.indexOf('=');
    if (eq <= 0) throw new TypeError(`${JSON.stringify(rdn.trim())} is not TYPE=value`);
    const type = rdn.slice(0, eq).trim();
    if (nameAttributeOid(type) === undefined) throw new TypeError(`attribute type ${JSON.stringify(type)} is neither a known short name (C, O, OU, CN, L, ST, DC, UID, serialNumber, x500UniqueIdentifier, …) nor a dotted OID`);
    const value = rdn.slice(eq + 1);
    if (value.trim() === '') throw new TypeError(`attribute ${type} has an empty value`);
    return { type, value: compileTemplate(slashForm ? value : value.trim()) };
  });
  if (attrs.length === 0) throw new TypeError('the subject has no attribute');
  return (input) => {
    const out: NameAttribute[] = [];
    for (const a of attrs) {
      const value = a.value(input);
      if (value === undefined) continue;
      // C is a PrintableString (RFC 5280); the rest as the encoder chooses.
      out.push(a.type === 'C' ? { type: a.type, value, encoding: 'printable' } : { type: a.type, value });
    }
    return out;
  };
}
