// Go/SPIRE duration syntax ("1h30m", "500ms", "0") ↔ milliseconds. The
// grammar and error wording follow Go's time.ParseDuration, which is what
// SPIRE uses for every *_ttl key and duration flag.
import { HeraldError } from '../errors.ts';

const MS_PER_UNIT: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3, // U+00B5 micro sign
  'μs': 1e-3, // U+03BC Greek mu
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};

export type DurationParse = { readonly ok: true; readonly ms: number } | { readonly ok: false; readonly problem: string };

/** Parses a Go duration without throwing; `problem` uses Go's wording. */
export function tryParseDuration(text: string): DurationParse {
  const quoted = JSON.stringify(text);
  const invalid = { ok: false, problem: `invalid duration ${quoted}` } as const;
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return { ok: true, ms: 0 };
  if (s === '') return invalid;
  let total = 0;
  while (s !== '') {
    const m = /^(\d*)(?:\.(\d*))?/.exec(s);
    const whole = m?.[1] ?? '';
    const frac = m?.[2] ?? '';
    if (whole === '' && frac === '') return invalid;
    s = s.slice(m?.[0].length ?? 0);
    const unitMatch = /^[^\d.]*/.exec(s);
    const unit = unitMatch?.[0] ?? '';
    if (unit === '') return { ok: false, problem: `missing unit in duration ${quoted}` };
    const perUnit = MS_PER_UNIT[unit];
    if (perUnit === undefined) {
      return { ok: false, problem: `unknown unit ${JSON.stringify(unit)} in duration ${quoted}` };
    }
    s = s.slice(unit.length);
    total += Number(`${whole || '0'}.${frac || '0'}`) * perUnit;
  }
  if (!Number.isFinite(total)) return invalid;
  return { ok: true, ms: sign * total };
}

/**
 * Parses a Go duration ("1h30m", "500ms") into milliseconds (may be
 * fractional for ns/us). Throws HeraldError ERR_INVALID_ARGUMENT.
 */
export function parseDuration(text: string): number {
  const r = tryParseDuration(text);
  if (!r.ok) throw new HeraldError('ERR_INVALID_ARGUMENT', `duration: ${r.problem}`);
  return r.ms;
}

/** Compact Go-style rendering: 5400000 → "1h30m", 500 → "500ms", 0 → "0s". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) throw new TypeError('formatDuration: ms must be finite');
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  let out = '';
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1_000]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  if (rest > 0) out += `${Number(rest.toFixed(6))}ms`;
  return sign + out;
}
