// The HCL 1 parser where HCL 1 (hashicorp/hcl v1.0.1-vault-5, SPIRE's) and
// the HCL 2 grammar Herald used before differ, and its syntax errors: one row
// per rule. Each value and each accept/refuse was checked against
// hashicorp/hcl v1's hcl.Decode.
import { describe, expect, it } from 'vitest';
import { formatProblem } from '../../../src/common/config/config-error.ts';
import { parseHcl } from '../../../src/common/config/hcl/parser.ts';
import type { RawNode } from '../../../src/common/config/raw-node.ts';

function plain(n: RawNode): unknown {
  if (n.t === 'scalar' || n.t === 'override') return n.value;
  if (n.t === 'seq') return n.items.map(plain);
  return Object.fromEntries(n.entries.map((e) => [e.key, plain(e.node)]));
}

/** The value read, or the problems as `file:line path: message`. */
function read(text: string): unknown {
  const r = parseHcl(text, 'c.conf');
  if (r.syntaxError || r.problems.length > 0) return r.problems.map(formatProblem);
  return plain(r.root);
}

describe('HCL 1, as SPIRE reads it', () => {
  it.each([
    ['commas between items', 'a = 1, b = 2\n', { a: 1, b: 2 }],
    ['items on one line', 'a = 1 b = "x" c = [1]\n', { a: 1, b: 'x', c: [1] }],
    ['quoted keys and block types', '"a.b" = 1\n"x" "y" {\n  c = 1\n}\n', { 'a.b': 1, x: { y: { c: 1 } } }],
    ['keys with `.` and `-`', 'foo.bar-baz = 1\n', { 'foo.bar-baz': 1 }],
    ['numbers: exponent without fraction, .5, 1., hex, octal', 'a = [1e3, .5, 1., 0x1F, -0x1F, 017, 1.5e-3, -7]\n', { a: [1000, 0.5, 1, 31, -31, 15, 0.0015, -7] }],
    ['zeros', 'a = 0\nb = -0\nc = 00\n', { a: 0, b: 0, c: 0 }],
    ['Go escapes', 'a = "\\a\\b\\f\\v\\x41\\101\\u00e9\\U0001F600"\n', { a: '\x07\b\f\vAAé😀' }],
    ['a surrogate half escaped is U+FFFD', 'a = "\\uD800"\n', { a: '\ufffd' }],
    // As Go: \x and octal escapes are bytes of the string's UTF-8; a byte that starts no valid sequence is U+FFFD.
    ['byte escapes decoded as UTF-8', 'a = "\\303\\251 \\xe2\\x82\\xac \\xff \\xe2\\x82"\n', { a: 'é € \ufffd \ufffd\ufffd' }],
    ['${…} as written, over lines and around quotes', 'a = "${x\ny}"\nb = "${"q"}"\nc = "${a}\\n${b {c}}"\n', { a: '${x\ny}', b: '${"q"}', c: '${a}\n${b {c}}' }],
    ['a heredoc keeps its closing line\'s indentation', 'a = <<EOF\nx\n  EOF\n', { a: 'x\n  ' }],
    ['<<- drops the closing line\'s indentation', 'a = <<-EOF\n    x\n      y\n  EOF\n', { a: '  x\n    y\n' }],
    ['<<- keeps lines less indented than the closing line as they are', 'a = <<-EOF\n  x\n y\n  EOF\n', { a: '  x\n y\n' }],
    ['lists: leading, doubled and trailing commas', 'a = [,1]\nb = [1,,2,]\n', { a: [1], b: [1, 2] }],
    ['lists: none needed after a nested list', 'a = [[1] [2]]\n', { a: [[1], [2]] }],
    ['blocks inside an object value', 'a = { b "c" { d = 1 } }\n', { a: { b: { c: { d: 1 } } } }],
    ['CRLF line ends', 'a = 1\r\nb = <<EOF\r\nx\r\nEOF\r\n', { a: 1, b: 'x\n' }],
    ['all three comments', 'a = 1 /* x\ny */\n// c\nb = 2 # d\n', { a: 1, b: 2 }],
  ])('%s', (_, text, value) => {
    expect(read(text)).toEqual(value);
  });

  it.each([
    ['null is no HCL 1 value', 'a = null\n', [`c.conf:1 a: unsupported HCL expression "null": values are strings, numbers, booleans, lists and objects, as in SPIRE's HCL`]],
    ['an octal number with 8 or 9', 'a = 08\n', ['c.conf:1 a: not a number: "08" (a leading 0 makes it octal)']],
    ['an integer past int64', 'a = 9223372036854775808\n', ['c.conf:1 a: not a number: "9223372036854775808" (out of the 64-bit integer range)']],
    ['an integer a JavaScript number would round', 'a = 9007199254740993\n', ['c.conf:1 a: not a number: "9007199254740993" (beyond ±2^53, the integers Herald holds exactly)']],
    ['a float past float64', 'a = 1e999\n', ['c.conf:1 a: not a number: "1e999"']],
    ['an exponent without digits', 'a = 1e\n', ['c.conf:1 a: not a number: "1e"']],
    ["`\\'` is no Go escape", "a = \"\\'\"\n", ['c.conf:1 a: invalid escape "\\\\\'" in string']],
    ['an octal escape past 255', 'a = "\\777"\n', ['c.conf:1 a: invalid escape "\\\\777" in string']],
    ['a code point past U+10FFFF', 'a = "\\U00110000"\n', ['c.conf:1 a: invalid escape "\\\\U00110000" in string']],
    ['a malformed escape inside ${…} (kept as written otherwise)', 'a = "${x \\q}"\n', ['c.conf:1 a: invalid escape "\\\\q" in string']],
  ])('refused: %s', (_, text, problems) => {
    expect(read(text)).toEqual(problems);
  });
});

describe('HCL syntax errors: line, column and what is wrong', () => {
  it.each([
    ['a newline inside a string', 'a = "x\ny"\n', 'c.conf:1: hcl: syntax error at column 5: unterminated string "\\"x": a string must end with " on the line it starts on'],
    ['an unterminated string at the end', 'a {\n  b = "abc', 'c.conf:2: hcl: syntax error at column 7: unterminated string "\\"abc": a string must end with " on the line it starts on'],
    ['an unterminated comment', 'a = 1\n/* x\n', 'c.conf:2: hcl: syntax error at column 1: unterminated /* comment: no */ follows'],
    ['<<- closed at column 1 (hashicorp/hcl v1 wants it indented)', 'a = <<-EOF\nx\nEOF\n', 'c.conf:1: hcl: syntax error at column 5: unterminated heredoc <<-EOF: no indented line "EOF" follows (followed by a newline)'],
    ['a heredoc closed at the end of the file without a newline', 'a = <<EOF\nx\nEOF', 'c.conf:1: hcl: syntax error at column 5: unterminated heredoc <<EOF: no line "EOF" follows (followed by a newline)'],
    ['text after a heredoc anchor', 'a = <<EOF \nx\nEOF\n', 'c.conf:1: hcl: syntax error at column 5: heredoc anchor <<EOF must end its line'],
    ['a heredoc without anchor', 'a = <<\nx\n', 'c.conf:1: hcl: syntax error at column 5: heredoc without an anchor: write <<EOF (or <<-EOF), a newline, the text, then EOF on its own line'],
    ['an unclosed list', 'a = [1\n', 'c.conf:2: hcl: syntax error at column 1: missing "]"'],
    ['an unclosed block', 'a {\n  b = 1\n', 'c.conf:3: hcl: syntax error at column 1: missing "}"'],
    ['list items without a comma', 'a = [1 2]\n', 'c.conf:1: hcl: syntax error at column 8: unexpected "2]" (expected "," or "]")'],
    ['a block without a type', '{\n a = 1\n}\n', 'c.conf:1: hcl: syntax error at column 1: unexpected "{"'],
    ['two commas', 'a = 1,,\n', 'c.conf:1: hcl: syntax error at column 7: unexpected ","'],
    ['labels before `=`', 'a "b" = 1\n', 'c.conf:1: hcl: syntax error at column 7: unexpected "=" (after 2 keys: `a … = value` takes one key, a block `a … { … }` several)'],
    ['a boolean as key', 'true = 1\n', 'c.conf:1: hcl: syntax error at column 1: unexpected "true"'],
    ['a value missing', 'a {\n  b =\n}\n', 'c.conf:2: hcl: syntax error at column 3: no value after "b =" (found "}")'],
    // hashicorp/hcl v1 drops these keys without a word (its parser swallows the error): a typo must not vanish.
    ['a value missing at the end of the file', 'a = 1\nb =\n', 'c.conf:2: hcl: syntax error at column 1: no value after "b =" (found the end of the file)'],
    ['a value missing in a block in a block', 'a {\n  b {\n    c = # no value\n  }\n}\n', 'c.conf:3: hcl: syntax error at column 5: no value after "c =" (found "}")'],
    ['a character HCL has no use for', 'a:\n', 'c.conf:1: hcl: syntax error at column 1: unexpected "a:"'],
    ['a space HCL does not know', 'a = 1\n\fb = 1\n', 'c.conf:2: hcl: syntax error at column 1: unexpected "\\f"'],
    ['a number glued to a name', 'a = 12abc\n', 'c.conf:1: hcl: syntax error at column 7: unexpected "abc"'],
    ['a hex number without digits', 'a = 0x\n', 'c.conf:1: hcl: syntax error at column 5: malformed number "0x": no hexadecimal digits'],
    ['an exponent after a number that starts with "." (hashicorp/hcl v1 refuses it)', 'a = .5e3\n', 'c.conf:1: hcl: syntax error at column 5: malformed number ".5e": no exponent after a number that starts with "." (write 0.5e…)'],
    // hashicorp/hcl v1 drops what it had read of the item at a `}` where it meets an error in a block; Herald refuses.
    ['a list left open at a block\'s "}"', 'b {\n  a = ["x" }\n}\n', 'c.conf:2: hcl: syntax error at column 12: unexpected "}" (expected "," or "]")'],
    ['an unclosed bracket in an expression', 'a = f(1\n', 'c.conf:1: hcl: syntax error at column 5: unclosed bracket in "f(1\\n"'],
  ])('%s', (_, text, message) => {
    expect(read(text)).toEqual([message]);
  });

  it('reads on after an unsupported expression, reporting each', () => {
    expect(read('a = upper("x")\nb = [foo, 1]\nc = 2\n')).toEqual([
      `c.conf:1 a: unsupported HCL expression "upper(\\"x\\")": values are strings, numbers, booleans, lists and objects, as in SPIRE's HCL`,
      `c.conf:2 b[0]: unsupported HCL expression "foo": values are strings, numbers, booleans, lists and objects, as in SPIRE's HCL`,
    ]);
  });

  it('nesting: objects, lists and blocks alike stop at the depth limit, at the line that passes it', () => {
    const objects = `a = ${'{ b = '.repeat(70)}1${' }'.repeat(70)}\n`;
    expect(read(objects)).toEqual([`c.conf:1 a${'.b'.repeat(64)}: nested more than 64 levels deep (the limit)`]);
    const blocks = `${'a {\n'.repeat(70)}${'}\n'.repeat(70)}`;
    expect(read(blocks)).toEqual([`c.conf:66 ${Array(65).fill('a').join('.')}: nested more than 64 levels deep (the limit)`]);
  });
});
