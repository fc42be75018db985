import { describe, expect, it } from 'vitest';
import { expandEnv } from '../../../src/common/config/expand-env.ts';

describe('expandEnv (SPIRE -expandEnv, Go os.ExpandEnv)', () => {
  const env = { HOME: '/home/h', TD: 'example.org', EMPTY: '', A_1: 'a1' };
  it.each([
    ['$HOME/x', '/home/h/x'],
    ['${HOME}x', '/home/hx'],
    ['td: $TD', 'td: example.org'],
    ['$A_1-$A_1', 'a1-a1'],
    ['[$EMPTY]', '[]'],
    ['[$UNSET]', '[]'],
    ['[${UNSET}]', '[]'],
    ['cost: 5$', 'cost: 5$'],
    ['$1', '$1'],
    ['no vars', 'no vars'],
    ['${unterminated', '${unterminated'],
  ])('%j → %j', (input, output) => {
    expect(expandEnv(input, env)).toBe(output);
  });

  it('ignores inherited properties', () => {
    expect(expandEnv('$toString', env)).toBe('');
  });
});
