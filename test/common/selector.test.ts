import { describe, expect, it } from 'vitest';
import { MAX_SELECTOR_TYPE_BYTES, MAX_SELECTOR_VALUE_BYTES, checkSelector, parseSelector } from '../../src/common/selector.ts';

describe('selectors', () => {
  it.each([
    [' unix:uid:0', 'the type contains whitespace'],
    ['unix :uid:0', 'the type contains whitespace'],
    ['unix: uid:0', 'the value begins or ends with whitespace'],
    ['unix:uid:0 ', 'the value begins or ends with whitespace'],
    ['unix:uid: 0', 'the value has whitespace next to a ":"'],
    ['unix:uid :0', 'the value has whitespace next to a ":"'],
    ['unix:uid:0\n', 'it contains a control character'],
  ])('refuses %j, naming it: %s', (text, problem) => {
    expect(() => parseSelector(text)).toThrow(`invalid selector ${JSON.stringify(text)}: ${problem}`);
  });

  it('accepts whitespace inside a value (a label value may have it)', () => {
    expect(parseSelector('docker:label:com.example.name:my app')).toEqual({ type: 'docker', value: 'label:com.example.name:my app' });
  });

  it(`bounds the value at ${MAX_SELECTOR_VALUE_BYTES} bytes and the type at ${MAX_SELECTOR_TYPE_BYTES}`, () => {
    expect(() => checkSelector({ type: 'k8s', value: 'x'.repeat(MAX_SELECTOR_VALUE_BYTES) })).not.toThrow();
    expect(() => checkSelector({ type: 'k8s', value: 'x'.repeat(MAX_SELECTOR_VALUE_BYTES + 1) })).toThrow(`the value is ${MAX_SELECTOR_VALUE_BYTES + 1} bytes; at most ${MAX_SELECTOR_VALUE_BYTES} are allowed`);
    expect(() => checkSelector({ type: 't'.repeat(MAX_SELECTOR_TYPE_BYTES + 1), value: 'v' })).toThrow(`at most ${MAX_SELECTOR_TYPE_BYTES} are allowed`);
  });
});
