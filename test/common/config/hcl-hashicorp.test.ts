// Herald's HCL parser against hashicorp/hcl v1 itself, the library SPIRE
// reads its config files with (test/interop/hcl1, built by scripts/setup):
// where hashicorp/hcl reads a text, Herald reads the same keys, labels,
// values and lines; where it refuses one (or its decoder would panic, which
// fails SPIRE's config load), Herald refuses it too. Over every HCL text of
// the repository and generated and mutated HCL 1, with what only HCL 1 has.
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseHcl } from '../../../src/common/config/hcl/parser.ts';
import { textProblem } from '../../../src/common/config/limits.ts';
import type { ConfigLocation } from '../../../src/common/config/config-error.ts';
import type { MapEntry, RawNode, Scalar } from '../../../src/common/config/raw-node.ts';
import { hcl1ReaderPath } from '../../../demo/lib/tools.ts';
import { fuzzRuns, mutatedText } from '../../fuzz/fuzz-params.ts';
import { blankStringsAndComments, hclFiles, hclInTests, hclText } from './hcl-corpus.ts';

interface GoItem {
  readonly keys: string[];
  readonly lines: number[];
  readonly assign: boolean;
  readonly val: GoNode;
}
interface GoNode {
  readonly kind: 'lit' | 'list' | 'obj';
  readonly lit: Scalar;
  readonly list?: GoNode[] | null;
  readonly obj?: GoItem[] | null;
  readonly line: number;
}
type GoResult = { readonly error: string } | { readonly error?: undefined; readonly items: GoItem[] };

/** What hashicorp/hcl v1 reads of each text. */
function hashicorp(texts: readonly string[]): GoResult[] {
  const out = execFileSync(hcl1ReaderPath(), { input: JSON.stringify(texts), encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  return JSON.parse(out) as GoResult[];
}

type MapNode = Extract<RawNode, { t: 'map' }>;
class Duplicate extends Error {}

/** hashicorp/hcl's items as Herald's RawNode: blocks nest by label and merge by type, as parser.ts does; a duplicate throws. */
function toRawNode(items: readonly GoItem[], file: string): RawNode {
  const blockMade = new WeakSet<MapEntry>();
  const at = (line: number): ConfigLocation => ({ file, line });
  const addItems = (target: MapNode, list: readonly GoItem[]): void => {
    for (const it of list) {
      if (it.assign) {
        const key = it.keys[0] as string;
        if (target.entries.some((e) => e.key === key)) throw new Duplicate(key);
        target.entries.push({ key, at: at(it.lines[0] as number), node: value(it.val, at(it.lines[0] as number)) });
        continue;
      }
      let cur = target;
      for (const [i, key] of it.keys.entries()) {
        const existing = cur.entries.find((e) => e.key === key);
        if (existing !== undefined) {
          if (!blockMade.has(existing) || existing.node.t !== 'map' || (i === it.keys.length - 1 && it.keys.length > 1)) throw new Duplicate(key);
          cur = existing.node;
          continue;
        }
        const m: MapNode = { t: 'map', entries: [], at: at(it.lines[i] as number) };
        const entry: MapEntry = { key, at: at(it.lines[i] as number), node: m };
        blockMade.add(entry);
        cur.entries.push(entry);
        cur = m;
      }
      addItems(cur, it.val.obj ?? []);
    }
  };
  const value = (n: GoNode, where: ConfigLocation): RawNode => {
    if (n.kind === 'lit') return { t: 'scalar', value: n.lit, at: where };
    if (n.kind === 'list') return { t: 'seq', items: (n.list ?? []).map((x) => value(x, at(x.line))), at: where };
    const m: MapNode = { t: 'map', entries: [], at: where };
    addItems(m, n.obj ?? []);
    return m;
  };
  const root: MapNode = { t: 'map', entries: [], at: { file } };
  addItems(root, items);
  return root;
}

/**
 * Left out: what cannot be in a config file (control characters, lone
 * surrogates: not UTF-8); `\x80`–`\xff` (a raw byte in Go, U+0080–U+00FF
 * here); letters outside strings and comments past ASCII (Go's Unicode tables
 * and V8's are not the same version).
 */
function comparable(text: string): boolean {
  if (textProblem(text, 'x') !== undefined || !text.isWellFormed()) return false;
  return !/[^\x00-\x7f]/.test(blankStringsAndComments(text).code);
}

/**
 * hashicorp/hcl v1 drops a `key =` without value before a `}` or the end of
 * the file without a word (its parser swallows that error); Herald refuses it.
 */
/**
 * The same difference, in general: hashicorp/hcl's objectType ignores an
 * error met at a `}` inside a block (an unclosed list, a key without a
 * value) and keeps what it had read, dropping the rest of the item without a
 * word. Herald refuses the file at that `}`.
 */
function failsAtClosingBrace(ours: ReturnType<typeof parseHcl>): boolean {
  // The message quotes the text from the `}` on ("}", "}}", "}\n  b…").
  return /unexpected "\}/.test(ours.problems[0]?.message ?? '');
}

function valueMissing(text: string): boolean {
  return /=\s*(\}|$)/.test(blankStringsAndComments(text).code);
}

/** Each text: refused by both, or read the same (a duplicate key: refused by Herald, which hashicorp/hcl leaves to the decoder). */
function expectSameAsHashicorp(texts: readonly string[]): void {
  const read = texts.filter(comparable);
  expect(read.length).toBeGreaterThan(texts.length / 2);
  const results = hashicorp(read);
  for (const [i, text] of read.entries()) {
    const go = results[i] as GoResult;
    const ours = parseHcl(text, 'h.conf');
    const failed = ours.syntaxError || ours.problems.length > 0;
    if (go.error !== undefined) {
      expect({ text, hashicorp: go.error, failed }).toEqual({ text, hashicorp: go.error, failed: true });
      continue;
    }
    let expected: RawNode | 'duplicate';
    try {
      expected = toRawNode(go.items, 'h.conf');
    } catch (err) {
      if (!(err instanceof Duplicate)) throw err;
      expected = 'duplicate';
    }
    if (expected === 'duplicate') {
      // Refused anyway, for the missing value first.
      if (ours.syntaxError && valueMissing(text)) continue;
      expect({ text, duplicate: ours.syntaxError && /duplicate key|declared more than once/.test(ours.problems[0]?.message ?? '') }).toEqual({ text, duplicate: true });
      continue;
    }
    if (ours.syntaxError && (valueMissing(text) || failsAtClosingBrace(ours))) continue;
    // The other difference on purpose: an integer beyond ±2^53 is refused (Go holds it, a JavaScript number would round it).
    if (!ours.syntaxError && ours.problems.length > 0 && ours.problems.every((p) => p.message.includes('beyond ±2^53'))) continue;
    const root = expected.t === 'map' && expected.entries.length === 0 ? { t: 'map', entries: [], at: { file: 'h.conf' } } : expected;
    expect({ text, ...ours }).toEqual({ text, root, problems: [], syntaxError: false });
  }
}

describe('HCL parser: what hashicorp/hcl v1 (SPIRE\'s) reads', () => {
  it('every HCL file, docs block and test snippet in the repository', () => {
    const texts = [...hclFiles(), ...hclInTests()].map(([, t]) => t);
    expect(texts.length).toBeGreaterThan(30);
    expectSameAsHashicorp(texts);
  });

  it('generated HCL 1, with what only HCL 1 reads or refuses', () => {
    expectSameAsHashicorp(fc.sample(hclText('hcl1'), { numRuns: fuzzRuns(2000), ...seed() }));
  });

  it('mutated HCL', () => {
    const seeds = [...hclFiles(), ...hclInTests()].map(([, t]) => t).filter((t) => t.length < 4000);
    const specials = ['{', '}', '=', '"', '\n', '#', '//', '/*', '*/', '${', '<<EOF\n', '<<-EOF\n', '\nEOF\n', '\n  EOF\n', '[', ']', ',', '\\', '\\u', '"a" "b"', '1e9', '0x', '-', '.', '\r\n'];
    expectSameAsHashicorp(fc.sample(mutatedText(seeds, specials), { numRuns: fuzzRuns(3000), ...seed() }));
  });
});

/** HERALD_FUZZ_SEED replays a run (see test/fuzz/fuzz-params.ts). */
function seed(): { seed?: number } {
  const s = Number(process.env.HERALD_FUZZ_SEED);
  return Number.isInteger(s) ? { seed: s } : {};
}
