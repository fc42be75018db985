// Conformance vectors from shared/spec/spiffe-id.md §8, asserted with the
// exact go-spiffe message for each rule.
import { describe, expect, it } from 'vitest';
import { SpiffeId, trustDomainId } from '../../src/spiffe/id.ts';
import { TrustDomain } from '../../src/spiffe/trust-domain.ts';
import { SpiffeIdError } from '../../src/spiffe/errors.ts';
import { validatePath, validatePathSegment } from '../../src/spiffe/path.ts';

const valid: [string, string, string][] = [
  ['spiffe://example.org', 'example.org', ''],
  ['spiffe://trustdomain/path', 'trustdomain', '/path'],
  ['spiffe://staging.example.com/payments/mysql', 'staging.example.com', '/payments/mysql'],
  ['spiffe://k8s-west.example.com/ns/staging/sa/default', 'k8s-west.example.com', '/ns/staging/sa/default'],
  ['spiffe://example.com/9eebccd2-12bf-40a6-b262-65fe0487d453', 'example.com', '/9eebccd2-12bf-40a6-b262-65fe0487d453'],
  ['spiffe://my_td-1.example/Upper/Case_ok', 'my_td-1.example', '/Upper/Case_ok'],
  ['spiffe://trustdomain/.path', 'trustdomain', '/.path'],
  ['spiffe://trustdomain/..path', 'trustdomain', '/..path'],
  ['spiffe://trustdomain/...', 'trustdomain', '/...'],
  ['spiffe://192.168.1.1/workload', '192.168.1.1', '/workload'],
  ['spiffe://td/a/b/c/d.e-f_g', 'td', '/a/b/c/d.e-f_g'],
];

const SCHEME = 'scheme is missing or invalid';
const TD_MISSING = 'trust domain is missing';
const TD_CHAR = 'trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores';
const PATH_CHAR = 'path segment characters are limited to letters, numbers, dots, dashes, and underscores';
const TRAILING = 'path cannot have a trailing slash';
const EMPTY_SEG = 'path cannot contain empty segments';
const DOT_SEG = 'path cannot contain dot segments';

const invalid: [string, string, string][] = [
  ['', 'cannot be empty', 'ERR_SPIFFE_ID_EMPTY'],
  ['s', SCHEME, 'ERR_SPIFFE_ID_WRONG_SCHEME'],
  ['spiffe:/', SCHEME, 'ERR_SPIFFE_ID_WRONG_SCHEME'],
  ['spiffe:/td', SCHEME, 'ERR_SPIFFE_ID_WRONG_SCHEME'],
  ['http://example.org/x', SCHEME, 'ERR_SPIFFE_ID_WRONG_SCHEME'],
  ['Spiffe://example.org', SCHEME, 'ERR_SPIFFE_ID_WRONG_SCHEME'],
  ['SPIFFE://example.org', SCHEME, 'ERR_SPIFFE_ID_WRONG_SCHEME'],
  ['spiffe://', TD_MISSING, 'ERR_SPIFFE_ID_MISSING_TRUST_DOMAIN'],
  ['spiffe:///', TD_MISSING, 'ERR_SPIFFE_ID_MISSING_TRUST_DOMAIN'],
  ['spiffe:///path', TD_MISSING, 'ERR_SPIFFE_ID_MISSING_TRUST_DOMAIN'],
  ['spiffe://Example.org/path', TD_CHAR, 'ERR_SPIFFE_ID_BAD_TRUST_DOMAIN_CHAR'],
  ['spiffe://example.org:8080/path', TD_CHAR, 'ERR_SPIFFE_ID_BAD_TRUST_DOMAIN_CHAR'],
  ['spiffe://user@example.org/path', TD_CHAR, 'ERR_SPIFFE_ID_BAD_TRUST_DOMAIN_CHAR'],
  ['spiffe://[::1]/path', TD_CHAR, 'ERR_SPIFFE_ID_BAD_TRUST_DOMAIN_CHAR'],
  ['spiffe://trust$domain', TD_CHAR, 'ERR_SPIFFE_ID_BAD_TRUST_DOMAIN_CHAR'],
  ['spiffe://%62%61%64/path', TD_CHAR, 'ERR_SPIFFE_ID_BAD_TRUST_DOMAIN_CHAR'],
  ['spiffe://example.org?x', TD_CHAR, 'ERR_SPIFFE_ID_BAD_TRUST_DOMAIN_CHAR'],
  ['spiffe://example.org#x', TD_CHAR, 'ERR_SPIFFE_ID_BAD_TRUST_DOMAIN_CHAR'],
  ['spiffe://trustdomain/', TRAILING, 'ERR_SPIFFE_ID_TRAILING_SLASH'],
  ['spiffe://trustdomain/path/', TRAILING, 'ERR_SPIFFE_ID_TRAILING_SLASH'],
  ['spiffe://trustdomain//', EMPTY_SEG, 'ERR_SPIFFE_ID_EMPTY_SEGMENT'],
  ['spiffe://trustdomain//path', EMPTY_SEG, 'ERR_SPIFFE_ID_EMPTY_SEGMENT'],
  ['spiffe://trustdomain/a//b', EMPTY_SEG, 'ERR_SPIFFE_ID_EMPTY_SEGMENT'],
  ['spiffe://trustdomain/.', DOT_SEG, 'ERR_SPIFFE_ID_DOT_SEGMENT'],
  ['spiffe://trustdomain/..', DOT_SEG, 'ERR_SPIFFE_ID_DOT_SEGMENT'],
  ['spiffe://trustdomain/./path', DOT_SEG, 'ERR_SPIFFE_ID_DOT_SEGMENT'],
  ['spiffe://trustdomain/path/../other', DOT_SEG, 'ERR_SPIFFE_ID_DOT_SEGMENT'],
  ['spiffe://trustdomain/path?query=1', PATH_CHAR, 'ERR_SPIFFE_ID_BAD_PATH_SEGMENT_CHAR'],
  ['spiffe://trustdomain/path#frag', PATH_CHAR, 'ERR_SPIFFE_ID_BAD_PATH_SEGMENT_CHAR'],
  ['spiffe://trustdomain/%62%61%64', PATH_CHAR, 'ERR_SPIFFE_ID_BAD_PATH_SEGMENT_CHAR'],
  ['spiffe://trustdomain/path$', PATH_CHAR, 'ERR_SPIFFE_ID_BAD_PATH_SEGMENT_CHAR'],
  ['spiffe://trustdomain/a b', PATH_CHAR, 'ERR_SPIFFE_ID_BAD_PATH_SEGMENT_CHAR'],
  ['spiffe://trustdomain/a~b', PATH_CHAR, 'ERR_SPIFFE_ID_BAD_PATH_SEGMENT_CHAR'],
  ['spiffe://trustdomain/a:b', PATH_CHAR, 'ERR_SPIFFE_ID_BAD_PATH_SEGMENT_CHAR'],
  ['spiffe://trustdomain/a@b', PATH_CHAR, 'ERR_SPIFFE_ID_BAD_PATH_SEGMENT_CHAR'],
  ['spiffe://trustdomain/🤯', PATH_CHAR, 'ERR_SPIFFE_ID_BAD_PATH_SEGMENT_CHAR'],
  ['spiffe://td/' + 'a'.repeat(2048), 'SPIFFE ID cannot be longer than 2048 bytes', 'ERR_SPIFFE_ID_TOO_LONG'],
  ['spiffe://' + 'a'.repeat(256) + '/x', 'trust domain cannot be longer than 255 bytes', 'ERR_SPIFFE_ID_TRUST_DOMAIN_TOO_LONG'],
];

function caught(fn: () => unknown): SpiffeIdError {
  try {
    fn();
  } catch (err) {
    if (err instanceof SpiffeIdError) return err;
    throw err;
  }
  throw new Error('expected an error');
}

describe('SpiffeId.fromString', () => {
  it.each(valid)('accepts %s', (input, td, path) => {
    const id = SpiffeId.fromString(input);
    expect(id.trustDomain.name).toBe(td);
    expect(id.path).toBe(path);
    expect(id.toString()).toBe(input);
  });

  it.each(invalid)('rejects %j', (input, message, code) => {
    const err = caught(() => SpiffeId.fromString(input));
    expect({ code: err.code, message: err.message }).toEqual({ code, message: `spiffeid: ${message}` });
  });

  it('accepts an ID of exactly 2048 bytes', () => {
    const prefix = 'spiffe://td/';
    const id = prefix + 'a'.repeat(2048 - prefix.length);
    expect(id.length).toBe(2048);
    expect(SpiffeId.fromString(id).toString()).toBe(id);
  });
});

describe('path validation', () => {
  it.each([
    ['', null],
    ['/foo', null],
    ['foo', 'path must have a leading slash'],
    ['/', 'path cannot have a trailing slash'],
  ])('validatePath(%j)', (path, message) => {
    if (message === null) expect(() => validatePath(path)).not.toThrow();
    else expect(caught(() => validatePath(path)).message).toBe(`spiffeid: ${message}`);
  });

  it.each([
    ['', EMPTY_SEG],
    ['.', DOT_SEG],
    ['..', DOT_SEG],
    ['a/b', PATH_CHAR],
  ])('validatePathSegment(%j)', (seg, message) => {
    expect(caught(() => validatePathSegment(seg)).message).toBe(`spiffeid: ${message}`);
  });
});

describe('helpers', () => {
  const td = TrustDomain.fromString('example.org');

  it('builds from segments and paths', () => {
    expect(SpiffeId.fromSegments(td, 'ns', 'default').toString()).toBe('spiffe://example.org/ns/default');
    expect(SpiffeId.fromPath(td, '/a/b').toString()).toBe('spiffe://example.org/a/b');
    expect(trustDomainId(td).toString()).toBe('spiffe://example.org');
    expect(trustDomainId(td).isTrustDomainId()).toBe(true);
    expect(caught(() => SpiffeId.fromSegments(td, 'a/b')).message).toBe(`spiffeid: ${PATH_CHAR}`);
  });

  it('compares by value', () => {
    const a = SpiffeId.fromString('spiffe://example.org/web');
    expect(a.equals(SpiffeId.fromString('spiffe://example.org/web'))).toBe(true);
    expect(a.equals(SpiffeId.fromString('spiffe://example.org/Web'))).toBe(false);
    expect(a.memberOf(td)).toBe(true);
    expect(a.memberOf(TrustDomain.fromString('example.com'))).toBe(false);
  });

  it('matches path prefixes on segment boundaries', () => {
    const id = SpiffeId.fromString('spiffe://example.org/ns/prod/web');
    expect(id.hasPathPrefix('/ns/prod')).toBe(true);
    expect(id.hasPathPrefix('/ns/prod/')).toBe(true);
    expect(id.hasPathPrefix('/ns/pro')).toBe(false);
  });

  it('appends and replaces paths', () => {
    const id = SpiffeId.fromString('spiffe://example.org/spire');
    expect(id.appendSegments('agent', 'join_token', 'abc').toString()).toBe('spiffe://example.org/spire/agent/join_token/abc');
    expect(id.replacePath('/x').toString()).toBe('spiffe://example.org/x');
  });
});

describe('TrustDomain.fromString', () => {
  it.each([
    ['example.org', 'example.org'],
    ['spiffe://example.org', 'example.org'],
    ['spiffe://example.org/path', 'example.org'],
    ['my_td-1.example', 'my_td-1.example'],
  ])('accepts %s', (input, name) => {
    const td = TrustDomain.fromString(input);
    expect(td.name).toBe(name);
    expect(td.idString()).toBe(`spiffe://${name}`);
  });

  it.each([
    ['', TD_MISSING],
    ['Example.org', TD_CHAR],
    ['example.org:443', TD_CHAR],
    ['spiffe://example.org/a//b', EMPTY_SEG],
    ['http://example.org', SCHEME],
  ])('rejects %j', (input, message) => {
    expect(caught(() => TrustDomain.fromString(input)).message).toBe(`spiffeid: ${message}`);
  });
});
