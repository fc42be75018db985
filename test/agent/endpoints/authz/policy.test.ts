// Policy rules: parsing (every mistake named) and evaluation (first match wins).
import { describe, expect, it } from 'vitest';
import { evaluate, parsePolicy } from '../../../../src/agent/endpoints/authz/policy.ts';
import { bearerToken } from '../../../../src/agent/endpoints/authz/check.ts';
import { SpiffeId } from '../../../../src/spiffe/id.ts';

const policy = parsePolicy(`
default: deny
rules:
  - name: no-admin-from-web
    action: deny
    destination: { path_prefix: /admin }
    jwt: { trust_domains: [web.example] }
  - name: web-reads-echo
    action: allow
    destination: { host: echo.local, methods: [GET] }
    jwt: { path_prefixes: [spiffe://web.example/frontend] }
  - name: ops-anywhere
    action: allow
    jwt: { ids: [spiffe://ops.example/admin] }
  - name: mesh-peer
    action: allow
    destination: { path_prefix: /internal }
    peer: { trust_domains: [echo.example] }
`);

const id = (s: string) => SpiffeId.fromString(s);

describe('policy evaluation', () => {
  it.each([
    ['web frontend GET echo.local', { host: 'echo.local:8080', path: '/x', method: 'GET', jwtSubject: id('spiffe://web.example/frontend/a'), peer: undefined }, 'allow', 'web-reads-echo'],
    ['web frontend POST is not covered', { host: 'echo.local', path: '/x', method: 'POST', jwtSubject: id('spiffe://web.example/frontend'), peer: undefined }, 'deny', undefined],
    ['prefix is by path segment', { host: 'echo.local', path: '/x', method: 'GET', jwtSubject: id('spiffe://web.example/frontendish'), peer: undefined }, 'deny', undefined],
    ['deny rule before allow', { host: 'echo.local', path: '/admin/x', method: 'GET', jwtSubject: id('spiffe://web.example/frontend'), peer: undefined }, 'deny', 'no-admin-from-web'],
    ['exact id', { host: 'any', path: '/admin', method: 'DELETE', jwtSubject: id('spiffe://ops.example/admin'), peer: undefined }, 'allow', 'ops-anywhere'],
    ['peer trust domain', { host: 'x', path: '/internal/y', method: 'GET', jwtSubject: undefined, peer: id('spiffe://echo.example/svc') }, 'allow', 'mesh-peer'],
    ['peer rule needs a peer', { host: 'x', path: '/internal/y', method: 'GET', jwtSubject: id('spiffe://echo.example/svc'), peer: undefined }, 'deny', undefined],
  ] as const)('%s', (_n, req, action, rule) => {
    expect(evaluate(policy, req)).toEqual({ action, rule });
  });
});

describe('policy parsing refuses mistakes, naming them', () => {
  it.each([
    ['rules: [{ action: permit }]', /rules\[0\]\.action: must be allow or deny/],
    ['rules: [{ action: allow, jwt: { idz: [x] } }]', /rules\[0\]\.jwt\.idz: unknown key/],
    ['rules: [{ action: allow, jwt: { ids: [not-a-spiffe-id] } }]', /rules\[0\]\.jwt\.ids\[0\]/],
    ['rules: [{ action: allow, jwt: {} }]', /matches nothing/],
    ['rules: [{ action: allow, destination: { path_prefix: admin } }]', /path_prefix: must start with \//],
    ['default: maybe', /default: must be allow or deny/],
    ['rules: {', /not valid YAML/],
    ['default: !deny deny', /not valid YAML: Unresolved tag: !deny/],
    ['extra: 1', /extra: unknown key/],
  ])('%s', (text, message) => {
    expect(() => parsePolicy(text)).toThrow(message);
  });
});

describe('bearer token parsing', () => {
  it.each([
    ['Bearer abc.def.ghi', 'abc.def.ghi'],
    ['bearer   abc.def.ghi ', 'abc.def.ghi'],
    ['Basic abc', undefined],
    ['Bearer a.b.c, Bearer d.e.f', undefined],
    ['abc.def.ghi', undefined],
  ])('%s', (value, token) => {
    expect(bearerToken(value)).toBe(token);
  });
});
