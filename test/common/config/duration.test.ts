import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration, tryParseDuration } from '../../../src/common/config/duration.ts';
import { HeraldError } from '../../../src/common/errors.ts';

// Vectors follow Go's time.ParseDuration (what SPIRE uses for *_ttl keys).
describe('parseDuration', () => {
  it.each([
    ['0', 0],
    ['5s', 5_000],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1h30m', 5_400_000],
    ['500ms', 500],
    ['1.5h', 5_400_000],
    ['.5s', 500],
    ['1.s', 1_000],
    ['1h1m1s1ms', 3_661_001],
    ['+2m', 120_000],
    ['-1m', -60_000],
    ['1500us', 1.5],
    ['1500µs', 1.5],
    ['1500μs', 1.5],
    ['2000000ns', 2],
    ['24h', 86_400_000],
  ])('%s → %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    ['', 'invalid duration ""'],
    ['h', 'invalid duration "h"'],
    ['.', 'invalid duration "."'],
    ['-', 'invalid duration "-"'],
    ['1', 'missing unit in duration "1"'],
    ['90', 'missing unit in duration "90"'],
    ['1h30', 'missing unit in duration "1h30"'],
    ['5x', 'unknown unit "x" in duration "5x"'],
    ['1d', 'unknown unit "d" in duration "1d"'],
    ['1 h', 'unknown unit " h" in duration "1 h"'],
    ['1H', 'unknown unit "H" in duration "1H"'],
  ])('%j is rejected: %s', (text, problem) => {
    expect(tryParseDuration(text)).toEqual({ ok: false, problem });
    const err = (() => {
      try {
        parseDuration(text);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(HeraldError);
    expect(err).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: `duration: ${problem}` });
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [500, '500ms'],
    [1_000, '1s'],
    [300_000, '5m'],
    [3_600_000, '1h'],
    [5_400_000, '1h30m'],
    [86_400_000, '24h'],
    [3_661_001, '1h1m1s1ms'],
    [1.5, '1.5ms'],
    [-60_000, '-1m'],
  ])('%d ms → %s (and back)', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
    expect(parseDuration(text)).toBe(ms);
  });

  it('rejects a non-finite value as misuse', () => {
    expect(() => formatDuration(Number.NaN)).toThrow(TypeError);
  });
});
