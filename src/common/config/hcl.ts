// HCL config files, SPIRE's native format: `server { … }`, `plugins {
// DataStore "sql" { plugin_data { … } } }`, heredocs, `#`, `//` and `/* */`
// comments. Read by a hand-written HCL 1 parser (./hcl/, after hashicorp/hcl
// v1, which SPIRE uses) into the same RawNode tree as YAML, with a line for
// every key; this module tells HCL from YAML.
export { parseHcl } from './hcl/parser.ts';

export type ConfigFormat = 'hcl' | 'yaml';

/** By extension (.conf/.hcl → HCL, .yaml/.yml/.json → YAML), else by the first statement. */
export function detectFormat(filename: string | undefined, text: string): ConfigFormat {
  const ext = /\.([A-Za-z]+)$/.exec(filename ?? '')?.[1]?.toLowerCase();
  if (ext === 'conf' || ext === 'hcl') return 'hcl';
  if (ext === 'yaml' || ext === 'yml' || ext === 'json') return 'yaml';
  return looksLikeHcl(text) ? 'hcl' : 'yaml';
}

/** The first statement (after comments) is `key = …`, `key {` or `key "label" … {`. */
function looksLikeHcl(text: string): boolean {
  let i = 0;
  const n = Math.min(text.length, 64 * 1024);
  while (i < n) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n' || c === '\ufeff') i++;
    else if (c === '#' || text.startsWith('//', i)) i = lineEnd(text, i);
    else if (text.startsWith('/*', i)) {
      const end = text.indexOf('*/', i + 2);
      if (end === -1) return false;
      i = end + 2;
    } else break;
  }
  if (text.startsWith('//', 0) || text.startsWith('/*', 0)) return true;
  const line = text.slice(i, lineEnd(text, i));
  return /^[A-Za-z_][\w.-]*\s*(=|\{)/.test(line) || /^[A-Za-z_][\w.-]*(\s+("[^"]*"|[A-Za-z_][\w.-]*))+\s*\{/.test(line);
}

function lineEnd(text: string, from: number): number {
  const e = text.indexOf('\n', from);
  return e === -1 ? text.length : e;
}
