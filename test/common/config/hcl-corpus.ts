// The HCL the differential tests of Herald's HCL parser read: every HCL
// file, docs block and test snippet of the repository, and generated HCL.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import fc from 'fast-check';
import { detectFormat } from '../../../src/common/config/hcl.ts';
import { ROOT } from '../../helpers/herald.ts';

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

const FILES = ['conf', 'deploy', 'demo', 'docs', 'test'].flatMap((d) => walk(join(ROOT, d)));

/** Every .conf/.hcl file, and every ```hcl block of the docs. */
export function hclFiles(): [string, string][] {
  const out: [string, string][] = [];
  for (const f of FILES) {
    const name = relative(ROOT, f);
    if (/\.(conf|hcl)$/.test(f)) out.push([name, readFileSync(f, 'utf8')]);
    if (f.endsWith('.md')) {
      for (const [i, m] of [...readFileSync(f, 'utf8').matchAll(/```(?:hcl|conf)\n([\s\S]*?)```/g)].entries()) out.push([`${name} block ${i + 1}`, m[1] ?? '']);
    }
  }
  return out;
}

/** Template literals in the tests that read as HCL (substitutions left out). */
export function hclInTests(): [string, string][] {
  const escapes: Record<string, string> = { n: '\n', t: '\t', r: '\r', '0': '\0' };
  const cook = (raw: string): string =>
    raw.replace(/\\(u\{[0-9a-fA-F]+\}|u[0-9a-fA-F]{4}|[^])|\$\{[^{}`]*\}/g, (m, e: string | undefined) => {
      if (e === undefined) return '';
      if (e.startsWith('u') && e.length > 1) return String.fromCodePoint(Number.parseInt(e.replace(/[u{}]/g, ''), 16));
      return escapes[e] ?? e;
    });
  const out: [string, string][] = [];
  for (const f of FILES.filter((p) => p.endsWith('.ts'))) {
    for (const m of readFileSync(f, 'utf8').matchAll(/`((?:[^`\\]|\\[^])*)`/g)) {
      const text = cook(m[1] ?? '');
      if (text.includes('\n') && detectFormat(undefined, text) === 'hcl') out.push([`${relative(ROOT, f)} @${m.index}`, text]);
    }
  }
  return out;
}

/** The text with string contents and comments as spaces; `oddString`: a string holds a newline or `${…"…}`. */
export function blankStringsAndComments(text: string): { code: string; oddString: boolean } {
  let code = '';
  let oddString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '#' || text.startsWith('//', i) || text.startsWith('/*', i)) {
      const end = c === '#' || text[i + 1] === '/' ? text.indexOf('\n', i) : text.indexOf('*/', i + 2) + 2;
      const stop = end <= 1 ? text.length : end;
      code += text.slice(i, stop).replace(/[^\n]/g, ' ');
      i = stop - 1;
    } else if (c === '"') {
      let j = i + 1;
      let braces = 0;
      for (; j < text.length && (text[j] !== '"' || braces > 0); j++) {
        if (text[j] === '\\') j++;
        else if (text[j] === '\n') oddString = true;
        else if (text.startsWith('${', j)) {
          // tree-sitter reads what is inside as an HCL 2 expression; HCL 1 keeps it as written.
          if (!/^\$\{[A-Za-z_][\w.]*\}/.test(text.slice(j, j + 200))) oddString = true;
          braces++;
        }
        else if (braces > 0 && text[j] === '}') braces--;
        else if (braces > 0 && text[j] === '"') oddString = true;
      }
      code += `"${' '.repeat(Math.max(0, Math.min(j, text.length) - i - 1))}"`;
      i = j;
    } else code += c;
  }
  return { code, oddString };
}

// ---- generated HCL -------------------------------------------------------------
// 'common': what HCL 1 and tree-sitter's HCL 2 grammar both read alike.
// 'hcl1': also what only HCL 1 reads (or refuses), for the check against hashicorp/hcl v1.

export type Dialect = 'common' | 'hcl1';

const KEYWORDS = new Set(['true', 'false', 'null', 'for', 'in', 'if', 'else', 'endif', 'endfor']);
const ident = fc.stringMatching(/^[a-z_][a-z0-9_-]{0,6}$/).filter((s) => !KEYWORDS.has(s));
const dotted = fc.stringMatching(/^[a-z_][a-z0-9_]{0,3}\.[a-z0-9_.-]{0,4}$/);

/** A generated HCL text (blocks nest at most 3 deep). */
export function hclText(dialect: Dialect = 'common'): fc.Arbitrary<string> {
  const hcl1 = dialect === 'hcl1';
  const pick = <T>(common: fc.Arbitrary<T>, more: fc.Arbitrary<T>): fc.Arbitrary<T> => (hcl1 ? fc.oneof({ weight: 3, arbitrary: common }, { weight: 1, arbitrary: more }) : common);

  const strChar = fc.oneof(
    // No lone `$`: `${` opens an interpolation, which in HCL 1 a `"` does not end.
    { weight: 8, arbitrary: fc.constantFrom('a', 'Z', '0', ' ', '.', ':', '/', '-', '{', '}', '#', "'", 'é', '日', '😀') },
    { weight: 2, arbitrary: pick(fc.constantFrom('\\n', '\\t', '\\"', '\\\\', '\\u00e9', '\\r'), fc.constantFrom('\\a', '\\b', '\\f', '\\v', '\\x41', '\\101', '\\U0001F600', '\\uD800', "\\'", '\\q', '\\777', '\\x4')) },
    { weight: 1, arbitrary: pick(fc.constantFrom('${VAR}', '${a.b}', '$${x}'), fc.constantFrom('${"q"}', '${f("x")}', '${a\nb}', '${')) },
  );
  const str = fc.array(strChar, { maxLength: 8 }).map((cs) => `"${cs.join('')}"`);
  const key = pick(fc.oneof({ weight: 4, arbitrary: ident }, { weight: 1, arbitrary: fc.constantFrom('a', 'b', 'plugin_data', 'server') }), fc.oneof(str, dotted));
  const num = pick(
    fc.oneof(
      fc.nat({ max: 100_000 }).map(String),
      fc.integer({ min: -1000, max: -1 }).map(String),
      fc.tuple(fc.nat({ max: 999 }), fc.nat({ max: 999 })).map(([a, b]) => `${a}.${b}`),
      // tree-sitter's grammar reads an exponent only after a fraction (HCL 1 reads `1e3` too).
      fc.tuple(fc.integer({ min: 1, max: 9 }), fc.nat({ max: 99 }), fc.constantFrom('e3', 'E-2', 'e+1')).map(([a, b, e]) => `${a}.${b}${e}`),
    ),
    fc.constantFrom('1e3', '.5', '1.', '0x1F', '-0x1f', '017', '08', '00', '-0', '1e', '0x', '9223372036854775807', '9223372036854775808', '1e999', '1.5.3'),
  );
  const heredocLine = fc.array(fc.constantFrom('a', 'b', ' ', '"', '=', '{', '#', 'E'), { minLength: 1, maxLength: 6 }).map((c) => c.join('').trim() || 'x');
  const heredoc = fc.oneof(
    fc.array(heredocLine, { maxLength: 3 }).map((ls) => `<<EOT\n${ls.map((l) => `${l}\n`).join('')}EOT\n`),
    // <<-: the closing line's indentation is the lines' common indentation (HCL 1 and 2 then agree).
    fc.tuple(fc.integer({ min: 1, max: 4 }), fc.array(fc.tuple(fc.nat({ max: 3 }), heredocLine), { minLength: 1, maxLength: 3 })).map(([k, ls]) => {
      const lines = ls.map(([extra, l], i) => `${' '.repeat(k + (i === 0 ? 0 : extra))}${l}\n`);
      return `<<-EOT\n${lines.join('')}${' '.repeat(k)}EOT\n`;
    }),
    ...(hcl1
      ? [
          // Any indentation of the lines and of the closing line, blank lines, a closing line without newline.
          fc.tuple(fc.constantFrom('<<EOT', '<<-EOT'), fc.array(fc.tuple(fc.nat({ max: 4 }), fc.oneof(heredocLine, fc.constant(''))), { maxLength: 3 }), fc.nat({ max: 4 }), fc.constantFrom('\n', '')).map(
            ([open, ls, k, end]) => `${open}\n${ls.map(([n, l]) => `${' '.repeat(n)}${l}\n`).join('')}${' '.repeat(k)}EOT${end}`,
          ),
        ]
      : []),
  );
  const scalar = fc.oneof({ weight: 4, arbitrary: str }, { weight: 3, arbitrary: num }, { weight: 1, arbitrary: pick(fc.constantFrom('true', 'false'), fc.constantFrom('null', 'foo', 'TRUE')) });

  const { value } = fc.letrec<{ value: string; list: string; object: string }>((tie) => ({
    value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, scalar, tie('list'), tie('object')),
    list: fc.tuple(fc.array(tie('value'), { maxLength: 3 }), fc.boolean(), fc.boolean(), pick(fc.constant(', '), fc.constantFrom(',, ', ' ', ','))).map(([items, multiline, trailing, sep]) => {
      if (items.length === 0) return hcl1 && trailing ? '[,]' : '[]';
      return multiline ? `[\n${items.map((i) => `  ${i},`).join('\n')}\n]` : `[${items.join(sep)}${trailing ? ',' : ''}]`;
    }),
    object: fc.tuple(fc.array(fc.tuple(fc.oneof(key, str), tie('value'), pick(fc.constant(' = '), fc.constantFrom(' ', ' "l" '))), { maxLength: 3 }), fc.boolean(), pick(fc.constant(', '), fc.constantFrom(' ', ',, '))).map(([elems, multiline, sep]) => {
      if (elems.length === 0) return '{}';
      // ' ' / ' "l" ' instead of ' = ' make `k v` (refused) or `k "l" {…}` (a block) in HCL 1.
      const elem = ([k, v, eq]: [string, string, string]): string => `${k}${eq}${v}`;
      return multiline ? `{\n${elems.map((e) => `  ${elem(e)}`).join('\n')}\n}` : `{ ${elems.map(elem).join(sep)} }`;
    }),
  }));
  const comment = fc.constantFrom('# note', '// note', '/* note */', '/* two\n lines */');
  const label = fc.oneof(str, ident);

  const body = (depth: number): fc.Arbitrary<string> => {
    const attribute = fc.tuple(key, fc.oneof({ weight: 5, arbitrary: value }, { weight: 1, arbitrary: heredoc }), fc.option(comment), pick(fc.constant('\n'), fc.constantFrom(', ', ' ', ',\n'))).map(([k, v, c, end]) =>
      v.startsWith('<<') ? `${k} = ${v}` : `${k} = ${v}${c === null || c.includes('\n') ? '' : ` ${c}`}${c !== null && c.startsWith('#') || c?.startsWith('//') ? '\n' : end}`,
    );
    const block =
      depth >= 3 ? attribute : fc.tuple(pick(key, str), fc.array(label, { maxLength: 2 }), body(depth + 1)).map(([t, ls, b]) => `${[t, ...ls].join(' ')} {\n${b}}\n`);
    const item = fc.oneof({ weight: 3, arbitrary: attribute }, { weight: 2, arbitrary: block }, { weight: 1, arbitrary: comment.map((c) => `${c}\n`) });
    return fc.array(item, { maxLength: 4 }).map((items) => items.join(''));
  };
  return fc.tuple(body(0), fc.constantFrom('', '\n', '  ')).map(([b, tail]) => b + tail);
}
