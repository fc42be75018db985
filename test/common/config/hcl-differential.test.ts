// Herald's HCL 1 parser against the tree-sitter parser it replaced
// (tree-sitter-hcl.ts): the same RawNode tree, lines and problems for every
// HCL file and snippet the repository holds, for SPIRE's full example
// configs, and for generated HCL in what both grammars read alike. Mutated
// HCL must be refused by both or read the same, except where the text uses
// what only one of them reads (HCL 1 is not HCL 2; Herald follows HCL 1, as
// SPIRE does): those cases are pinned in hcl-parser.test.ts.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseHcl } from '../../../src/common/config/hcl/parser.ts';
import { textProblem } from '../../../src/common/config/limits.ts';
import type { ParsedConfig } from '../../../src/common/config/raw-node.ts';
import { fuzzParams, mutatedText } from '../../fuzz/fuzz-params.ts';
import { blankStringsAndComments, hclFiles, hclInTests, hclText } from './hcl-corpus.ts';
import { loadHclParser, parseHclTreeSitter } from './tree-sitter-hcl.ts';

beforeAll(async () => {
  await loadHclParser();
});

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
      // A fixed seed unless HERALD_FUZZ_SEED is set: what is left out (hcl1Only) is a judgment by
      // patterns, and a case it misses is a gap to fill, not a flaky failure of `npm test`.
      { seed: 22, ...fuzzParams(1000) },
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
  return oddString || /(?![\x00-\x7f])[\p{L}\p{N}\p{M}\p{Pc}]/u.test(code) || oddComma(code) || HCL1_ONLY.some((re) => re.test(code)) || /\\[abfvx0-7'U]|\\u[dD][89a-fA-F]|%\{/.test(text) || oddInterpolation(text); // escapes only HCL 1 reads (or refuses); HCL 2's template directives
}

const HCL1_ONLY: readonly RegExp[] = [
  /(^|[\n{},\]])[ \t]*"[ ]*"\s*[\w={"]/, // quoted keys and block types
  /[A-Za-z_][\w-]*\./, // identifiers with `.`
  /\bnull\b/, // not an HCL 1 value
  /<</, // heredocs: HCL 1's `<<-` rule, and its closing line needs a newline
  /\b0\d|\d\.(?!\d)|(^|[^\w.])\.\d|0[xX]|(^|[^.\d])\d+[eE]/, // octal, `1.`, `.5`, hex, `1e3`: tree-sitter reads an exponent only after a fraction
  /=[ \t]*("[ ]*"[ \t]*[\w"]|([\w.+-]+|\[[^\]\n]*\]|\{[^}\n]*\})([ \t]+[\w"]|[ \t]*"))/, // `a = 1 b = 2`, `a = true"b" {}`: HCL 1 needs no newline between items
  /=\s*\{[^}]*?[\w"][ \t]*\{/, // blocks inside an object value
  /=\s*[-!(+]/, // operators: HCL 1 refuses as syntax, tree-sitter as a problem
  /::/, // tree-sitter reads `a::b {` as a block
  /(^|[\n}])[ \t]*\{/, // … and a `{` without a type as nothing
  /[\f\v\u00a0\ufeff]/, // space to HCL 2, not to HCL 1
];

/** A `${…}` that is not a plain name or traversal: HCL 1 keeps it as text, HCL 2 parses it as an expression (and may refuse it). */
function oddInterpolation(text: string): boolean {
  return /\$\{(?![A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*\})/.test(text);
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
