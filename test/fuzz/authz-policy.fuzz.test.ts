// The ext_authz policy file (rules over JWT-SVID subjects and mTLS peers):
// parsePolicy throws only PolicyError, whatever the YAML; an accepted policy
// decides every request (allow or deny) without throwing.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { PolicyError, evaluate, parsePolicy } from '../../src/agent/endpoints/authz/policy.ts';
import { SpiffeId } from '../../src/spiffe/id.ts';
import { fuzzParams, mutatedText, typedOutcome } from './fuzz-params.ts';

const SEED = `default: deny
rules:
  - name: no-admin-from-web
    action: deny
    destination: { path_prefix: /admin }
    jwt: { trust_domains: [web.example] }
  - name: web-reads-echo
    action: allow
    destination: { host: echo.local, methods: [GET] }
    jwt: { path_prefixes: [spiffe://web.example/frontend, /x] }
  - name: mesh-peer
    action: allow
    peer: { ids: [spiffe://ops.example/admin] }
`;

const idText = fc.oneof(fc.constantFrom('spiffe://web.example/frontend/a', 'spiffe://ops.example/admin', 'web.example', '/x', 'spiffe://', 'spiffe://a/b/'), fc.string({ maxLength: 12 }));
const matcher = fc.oneof(
  fc.record({ ids: fc.array(idText, { maxLength: 2 }), trust_domains: fc.array(idText, { maxLength: 2 }), path_prefixes: fc.array(idText, { maxLength: 2 }) }, { requiredKeys: [] }),
  fc.jsonValue(),
);
const rule = fc.oneof(
  fc.record(
    {
      name: fc.oneof(fc.string({ maxLength: 8 }), fc.jsonValue()),
      action: fc.oneof(fc.constantFrom('allow', 'deny'), fc.jsonValue()),
      destination: fc.oneof(fc.record({ host: fc.oneof(fc.string({ maxLength: 8 }), fc.jsonValue()), path_prefix: fc.oneof(fc.constantFrom('/', '/admin'), fc.jsonValue()), methods: fc.oneof(fc.array(fc.string({ maxLength: 6 })), fc.jsonValue()) }, { requiredKeys: [] }), fc.jsonValue()),
      jwt: matcher,
      peer: matcher,
    },
    { requiredKeys: [] },
  ),
  fc.jsonValue(),
);
const policyText = fc.oneof(
  fc.record({ default: fc.oneof(fc.constantFrom('allow', 'deny'), fc.jsonValue()), rules: fc.oneof(fc.array(rule, { maxLength: 4 }), fc.jsonValue()) }, { requiredKeys: [] }).map((doc) => stringify(doc)),
  mutatedText([SEED], [':', '- ', '{', '}', '[', ']', '&a', '*a', '!!binary', '\n  ', '"', "'", '\t', '~', 'null', '<<: *a']),
  fc.string({ maxLength: 60 }),
);
const request = fc.record({
  host: fc.oneof(fc.constantFrom('echo.local', 'ECHO.local:8080', ''), fc.string({ maxLength: 10 })),
  path: fc.oneof(fc.constantFrom('/admin/x', '/', ''), fc.string({ maxLength: 10 })),
  method: fc.oneof(fc.constantFrom('GET', 'post'), fc.string({ maxLength: 5 })),
  jwtSubject: fc.option(fc.constantFrom('spiffe://web.example/frontend/a', 'spiffe://web.example/frontendx', 'spiffe://ops.example/admin').map((s) => SpiffeId.fromString(s)), { nil: undefined }),
  peer: fc.option(fc.constantFrom('spiffe://ops.example/admin', 'spiffe://echo.example/e').map((s) => SpiffeId.fromString(s)), { nil: undefined }),
});

describe('fuzz: ext_authz policy file', () => {
  it('parsePolicy throws only PolicyError; an accepted policy decides any request', () => {
    fc.assert(
      fc.property(policyText, fc.array(request, { minLength: 1, maxLength: 3 }), (text, requests) => {
        const out = typedOutcome('parsePolicy', () => parsePolicy(text, 'policy.yaml'));
        if (!out.ok) {
          expect(out.error).toBeInstanceOf(PolicyError);
          return;
        }
        for (const req of requests) {
          const decision = typedOutcome('evaluate', () => evaluate(out.value, req));
          expect(decision.ok && ['allow', 'deny'].includes(decision.value.action)).toBe(true);
        }
      }),
      fuzzParams(2000),
    );
  });
});
