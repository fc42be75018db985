// Herald's HCL 1 parser against the tree-sitter parser it replaced
// (tree-sitter-hcl.ts): the same RawNode tree, lines and problems for every
// HCL file and snippet the repository holds, for SPIRE's full example
// configs, and for generated HCL in what both grammars read alike. Mutated
// HCL must be refused by both or read the same, except where the text uses
// what only one of them reads (HCL 1 is not HCL 2; Herald follows HCL 1, as
// SPIRE does): those cases are pinned in hcl-parser.test.ts.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { detectFormat } from '../../../src/common/config/hcl.ts';
import { parseHcl } from '../../../src/common/config/hcl/parser.ts';
import { textProblem } from '../../../src/common/config/limits.ts';
import type { ParsedConfig } from '../../../src/common/config/raw-node.ts';
import { ROOT } from '../../helpers/herald.ts';
import { fuzzParams, mutatedText } from '../../fuzz/fuzz-params.ts';
import { loadHclParser, parseHclTreeSitter } from './tree-sitter-hcl.ts';

beforeAll(async () => {
  await loadHclParser();
});

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
function hclFiles(): [string, string][] {
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
function hclInTests(): [string, string][] {
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

const failed = (r: ParsedConfig): boolean => r.syntaxError || r.problems.length > 0;

/**
 * The same result; or, where either finds a syntax error or an unsupported
 * expression, both refuse the text (the messages differ: the two recover from
 * errors differently).
 */
function expectSame(name: string, text: string): void {
  if (textProblem(text, name) !== undefined) return; // refused before any parser sees it
  const ours = parseHcl(text, name);
  const theirs = parseHclTreeSitter(text, name);
  const unsupported = (r: ParsedConfig): boolean => r.problems.some((p) => p.message.startsWith('unsupported HCL expression'));
  if (ours.syntaxError || theirs.syntaxError || unsupported(ours) || unsupported(theirs)) expect({ name, text, failed: [failed(ours), failed(theirs)] }).toEqual({ name, text, failed: [true, true] });
  else expect({ name, text, ...ours }).toEqual({ name, text, ...theirs });
}

describe('HCL parser: the same RawNode as the tree-sitter parser', () => {
  it('for every HCL file, docs block and SPIRE example config in the repository', () => {
    const corpus = hclFiles();
    expect(corpus.length).toBeGreaterThanOrEqual(8);
    expect(corpus.map(([n]) => n)).toEqual(expect.arrayContaining(['test/common/config/fixtures/hcl/server_full.conf', 'test/fixtures/spire-conf/agent/agent.conf']));
    for (const [name, text] of corpus) {
      expectSame(name, text);
      expect({ name, ...parseHcl(text, name) }).toMatchObject({ name, problems: [], syntaxError: false });
    }
  });

  it('for the HCL written in the tests', () => {
    const corpus = hclInTests();
    expect(corpus.length).toBeGreaterThanOrEqual(20);
    for (const [name, text] of corpus) expectSame(name, text);
  });

  it('for generated HCL (blocks, attributes, lists, objects, strings, heredocs, numbers, comments)', () => {
    fc.assert(
      fc.property(hclText(), (text) => {
        const ours = parseHcl(text, 'g.conf');
        expect(ours).toEqual(parseHclTreeSitter(text, 'g.conf'));
      }),
      fuzzParams(500),
    );
  });

  it('for mutated HCL: refused by both, or read the same', () => {
    const seeds = [...hclFiles().map(([, t]) => t), ...hclInTests().map(([, t]) => t)].filter((t) => t.length < 4000);
    const specials = ['{', '}', '=', '"', '\n', '#', '//', '/*', '*/', '${', '<<EOF\n', '\nEOF\n', '[', ']', ',', '\\', '\\u', '"a" "b"', '1e9', '-', '.'];
    fc.assert(
      fc.property(mutatedText(seeds, specials), (text) => {
        if (!hcl1Only(text)) expectSame('m.conf', text);
      }),
      fuzzParams(1000),
    );
  });
});

/**
 * Texts whose reading differs between HCL 1 and tree-sitter's HCL 2 grammar by
 * design (each kind pinned in hcl-parser.test.ts): left out of the mutation
 * comparison. Looked for outside strings and comments, except for what is about strings.
 */
function hcl1Only(text: string): boolean {
  const { code, oddString } = blankStringsAndComments(text);
  return oddString || /(?![\x00-\x7f])[\p{L}\p{N}\p{M}\p{Pc}]/u.test(code) || oddComma(code) || HCL1_ONLY.some((re) => re.test(code)) || /\\[abfvx0-7'U]|\\u[dD][89a-fA-F]|%\{/.test(text); // escapes only HCL 1 reads (or refuses); HCL 2's template directives
}

const HCL1_ONLY: readonly RegExp[] = [
  /(^|[\n{},\]])[ \t]*"[ ]*"[ \t]*[={"]/, // quoted keys and block types
  /[A-Za-z_][\w-]*\./, // identifiers with `.`
  /\bnull\b/, // not an HCL 1 value
  /<</, // heredocs: HCL 1's `<<-` rule, and its closing line needs a newline
  /\b0\d|\d\.(?!\d)|(^|[^\w.])\.\d|0[xX]|(^|[^.\d])\d+[eE]/, // octal, `1.`, `.5`, hex, `1e3`: tree-sitter reads an exponent only after a fraction
  /=[ \t]*("[ ]*"[ \t]*[\w"]|([\w.+-]+|\[[^\]\n]*\]|\{[^}\n]*\})[ \t]+[\w"])/, // `a = 1 b = 2`: HCL 1 needs no newline between items
  /=\s*\{[^}]*?[\w"][ \t]*\{/, // blocks inside an object value
  /=\s*[-!(+]/, // operators: HCL 1 refuses as syntax, tree-sitter as a problem
  /::/, // tree-sitter reads `a::b {` as a block
  /(^|[\n}])[ \t]*\{/, // … and a `{` without a type as nothing
  /[\f\v\u00a0\ufeff]/, // space to HCL 2, not to HCL 1
];

/** The text with string contents and comments as spaces; `oddString`: a string holds a newline or `${…"…}`. */
function blankStringsAndComments(text: string): { code: string; oddString: boolean } {
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

/** A comma HCL 2 has no place for: between body items, `[,1]`, `[1,,2]`. */
function oddComma(code: string): boolean {
  const stack: ('[' | 'object' | 'body')[] = [];
  let prev = '';
  for (const c of code) {
    if (c === '[') stack.push('[');
    else if (c === '{') stack.push(prev === '=' || prev === '[' || prev === ',' ? 'object' : 'body');
    else if (c === ']' || c === '}') stack.pop();
    else if (c === ',') {
      const top = stack[stack.length - 1];
      if (top === undefined || top === 'body' || prev === ',' || prev === '[') return true;
    }
    if (!/\s/.test(c)) prev = c;
  }
  return false;
}

// ---- generated HCL: the part both grammars read alike -------------------------

const KEYWORDS = new Set(['true', 'false', 'null', 'for', 'in', 'if', 'else', 'endif', 'endfor']);
const ident = fc.stringMatching(/^[a-z_][a-z0-9_-]{0,6}$/).filter((s) => !KEYWORDS.has(s));
const key = fc.oneof({ weight: 4, arbitrary: ident }, { weight: 1, arbitrary: fc.constantFrom('a', 'b', 'plugin_data', 'server') });
const strChar = fc.oneof(
  // No lone `$`: `${` opens an interpolation, which in HCL 1 a `"` does not end.
  { weight: 8, arbitrary: fc.constantFrom('a', 'Z', '0', ' ', '.', ':', '/', '-', '{', '}', '#', "'", 'é', '日', '😀') },
  { weight: 2, arbitrary: fc.constantFrom('\\n', '\\t', '\\"', '\\\\', '\\u00e9', '\\r') },
  { weight: 1, arbitrary: fc.constantFrom('${VAR}', '${a.b}', '$${x}') },
);
const str = fc.array(strChar, { maxLength: 8 }).map((cs) => `"${cs.join('')}"`);
const num = fc.oneof(
  fc.nat({ max: 100_000 }).map(String),
  fc.integer({ min: -1000, max: -1 }).map(String),
  fc.tuple(fc.nat({ max: 999 }), fc.nat({ max: 999 })).map(([a, b]) => `${a}.${b}`),
  // tree-sitter's grammar reads an exponent only after a fraction (HCL 1 reads `1e3` too).
  fc.tuple(fc.integer({ min: 1, max: 9 }), fc.nat({ max: 99 }), fc.constantFrom('e3', 'E-2', 'e+1')).map(([a, b, e]) => `${a}.${b}${e}`),
);
const heredocLine = fc.array(fc.constantFrom('a', 'b', ' ', '"', '=', '{', '#', 'E'), { minLength: 1, maxLength: 6 }).map((c) => c.join('').trim() || 'x');
const heredoc = fc.oneof(
  fc.array(heredocLine, { maxLength: 3 }).map((ls) => `<<EOT\n${ls.map((l) => `${l}\n`).join('')}EOT\n`),
  // <<-: the closing line's indentation is the lines' common indentation (HCL 1 and 2 then agree).
  fc.tuple(fc.integer({ min: 1, max: 4 }), fc.array(fc.tuple(fc.nat({ max: 3 }), heredocLine), { minLength: 1, maxLength: 3 })).map(([k, ls]) => {
    const lines = ls.map(([extra, l], i) => `${' '.repeat(k + (i === 0 ? 0 : extra))}${l}\n`);
    return `<<-EOT\n${lines.join('')}${' '.repeat(k)}EOT\n`;
  }),
);
const scalar = fc.oneof({ weight: 4, arbitrary: str }, { weight: 3, arbitrary: num }, { weight: 1, arbitrary: fc.constantFrom('true', 'false') });

const { value } = fc.letrec<{ value: string; list: string; object: string }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, scalar, tie('list'), tie('object')),
  list: fc.tuple(fc.array(tie('value'), { maxLength: 3 }), fc.boolean(), fc.boolean()).map(([items, multiline, trailing]) => {
    if (items.length === 0) return '[]';
    return multiline ? `[\n${items.map((i) => `  ${i},`).join('\n')}\n]` : `[${items.join(', ')}${trailing ? ',' : ''}]`;
  }),
  object: fc.tuple(fc.array(fc.tuple(fc.oneof(key, str), tie('value')), { maxLength: 3 }), fc.boolean()).map(([elems, multiline]) => {
    if (elems.length === 0) return '{}';
    return multiline ? `{\n${elems.map(([k, v]) => `  ${k} = ${v}`).join('\n')}\n}` : `{ ${elems.map(([k, v]) => `${k} = ${v}`).join(', ')} }`;
  }),
}));
const comment = fc.constantFrom('# note', '// note', '/* note */', '/* two\n lines */');
const label = fc.oneof(str, ident);

/** A body at `depth` (blocks nest at most 3 deep). */
function body(depth: number): fc.Arbitrary<string> {
  const attribute = fc.tuple(key, fc.oneof({ weight: 5, arbitrary: value }, { weight: 1, arbitrary: heredoc }), fc.option(comment)).map(([k, v, c]) =>
    v.startsWith('<<') ? `${k} = ${v}` : `${k} = ${v}${c === null || c.includes('\n') ? '' : ` ${c}`}\n`,
  );
  const block =
    depth >= 3
      ? attribute
      : fc.tuple(key, fc.array(label, { maxLength: 2 }), body(depth + 1)).map(([t, ls, b]) => `${[t, ...ls].join(' ')} {\n${b}}\n`);
  const item = fc.oneof({ weight: 3, arbitrary: attribute }, { weight: 2, arbitrary: block }, { weight: 1, arbitrary: comment.map((c) => `${c}\n`) });
  return fc.array(item, { maxLength: 4 }).map((items) => items.join(''));
}

function hclText(): fc.Arbitrary<string> {
  return fc.tuple(body(0), fc.constantFrom('', '\n', '  ')).map(([b, tail]) => b + tail);
}
