// Bounds on what a config file may cost to load, so a hostile or broken file
// (a YAML alias bomb, a 20 MB one-line file, a binary, 100k unknown keys)
// fails fast with a short, clear message instead of hanging or echoing
// itself back. Every bound is far above what a real config needs.
import type { ConfigProblem } from './config-error.ts';

/** Largest config file or text accepted: 1 MiB (SPIRE's full example configs are about 45 KB). */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Deepest nesting of mappings and lists (Herald's deepest key is 6 levels down). */
export const MAX_CONFIG_DEPTH = 64;
/** Values a YAML file may reach through aliases (*name), counted once per use. */
export const MAX_ALIAS_VALUES = 10_000;
/** Problems listed in a ConfigError's message; the rest are counted. */
export const MAX_LISTED_PROBLEMS = 100;
/** Longest piece of the input quoted back in a message. */
export const MAX_EXCERPT_CHARS = 60;

/** `"abc…" (12345 characters)` for long text, JSON-quoted text otherwise. */
export function quoteExcerpt(text: string): string {
  if (text.length <= MAX_EXCERPT_CHARS) return JSON.stringify(text);
  return `${JSON.stringify(text.slice(0, MAX_EXCERPT_CHARS))}… (${text.length} characters)`;
}

/** A key shortened for a key path in a message. */
export function shortKey(key: string): string {
  return key.length <= MAX_EXCERPT_CHARS ? key : `${key.slice(0, MAX_EXCERPT_CHARS)}…`;
}

export function tooLargeMessage(bytes: number | undefined): string {
  const size = bytes === undefined ? 'more than 1 MiB' : `${bytes} bytes`;
  return `config file is ${size}; the limit is 1 MiB (${MAX_CONFIG_BYTES} bytes)`;
}

// C0 control characters other than tab, newline, vertical tab, form feed, carriage return and escape.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000e-\u001a\u001c-\u001f]/;

/** The problem with text that is too large or not text at all, if any. */
export function textProblem(text: string, file: string): ConfigProblem | undefined {
  // UTF-8 is at most 3 bytes per UTF-16 code unit: skip counting when it cannot matter.
  if (text.length * 3 > MAX_CONFIG_BYTES) {
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > MAX_CONFIG_BYTES) return { file, path: '', message: tooLargeMessage(bytes) };
  }
  const m = CONTROL.exec(text);
  if (m !== null) {
    const line = lineAt(text, m.index);
    const code = `0x${m[0].charCodeAt(0).toString(16).padStart(2, '0')}`;
    return { file, line, path: '', message: `not a text file: control character ${code} at line ${line}, column ${m.index - text.lastIndexOf('\n', m.index - 1)}` };
  }
  return undefined;
}

/** 1-based line of a UTF-16 offset. */
export function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}
