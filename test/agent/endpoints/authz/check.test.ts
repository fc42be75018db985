// ext_authz Check decisions with real keys and bundles: every JWT-SVID
// rejection → 401 with a WWW-Authenticate hint and no token echoed; policy
// denial → 403; allow → identity headers; inject mode.
import { createHmac, sign as cryptoSign, type KeyObject } from 'node:crypto';
import pino from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { check, type CheckDeps } from '../../../../src/agent/endpoints/authz/check.ts';
import { JwtSvidValidator } from '../../../../src/agent/endpoints/authz/jwt-validator.ts';
import { parsePolicy } from '../../../../src/agent/endpoints/authz/policy.ts';
import { AgentMetrics } from '../../../../src/agent/telemetry.ts';
import { valueOf } from '../../../../src/common/telemetry/metrics.ts';
import { BundleSet } from '../../../../src/spiffe/bundle/set.ts';
import { SpiffeBundle } from '../../../../src/spiffe/bundle/spiffe-bundle.ts';
import { SpiffeId } from '../../../../src/spiffe/id.ts';
import { sign } from '../../../../src/spiffe/jwtsvid.ts';
import { generateKeyPair } from '../../../../src/spiffe/keys.ts';
import { TrustDomain } from '../../../../src/spiffe/trust-domain.ts';

const local = TrustDomain.fromString('echo.example');
const federated = TrustDomain.fromString('web.example');
let localKey: { privateKey: KeyObject; publicKey: KeyObject };
let fedKey: { privateKey: KeyObject; publicKey: KeyObject };
let strangerKey: { privateKey: KeyObject; publicKey: KeyObject };
let deps: CheckDeps;

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);
const claims = (over: object = {}) => ({ sub: 'spiffe://web.example/frontend', aud: ['echo'], exp: now() + 300, iat: now(), ...over });
function raw(header: object, body: object, key?: KeyObject, hmacSecret?: Buffer): string {
  const input = `${b64(header)}.${b64(body)}`;
  if (hmacSecret) return `${input}.${createHmac('sha256', hmacSecret).update(input).digest('base64url')}`;
  if (!key) return `${input}.`;
  return `${input}.${cryptoSign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
}

function request(headers: Record<string, string>, extra: { ext?: Record<string, string>; peer?: string; path?: string } = {}) {
  return {
    request: {
      attributes: {
        source: { principal: extra.peer ?? '' },
        request: { http: { method: 'GET', path: extra.path ?? '/hello', host: 'echo.local', headers: { ':authority': 'echo.local', ...headers } } },
        context_extensions: extra.ext ?? {},
      },
    },
    getPeer: () => 'test',
  } as never;
}

type Res = { status: { code: number }; denied_response?: { status: { code: number }; headers: { header: { key: string; value: string } }[]; body: string }; ok_response?: { headers: { header: { key: string; value: string } }[]; headers_to_remove: string[] } };

beforeAll(() => {
  localKey = generateKeyPair('ec-p256');
  fedKey = generateKeyPair('ec-p256');
  strangerKey = generateKeyPair('ec-p256');
  const set = new BundleSet([
    new SpiffeBundle(local, { jwtAuthorities: new Map([['local-kid', localKey.publicKey]]) }),
    new SpiffeBundle(federated, { jwtAuthorities: new Map([['web-kid', fedKey.publicKey]]) }),
  ]);
  deps = {
    config: { header: 'authorization', audiences: ['echo'], injectAudience: undefined, stripToken: true, spiffeIdHeader: 'x-spiffe-id', trustDomainHeader: 'x-spiffe-trust-domain' },
    validator: new JwtSvidValidator({ bundles: () => ({ source: set, generation: 1 }), now: () => Date.now() }),
    policy: () => undefined,
    injectToken: async (_c, aud) => `minted-for-${aud}`,
    log: pino({ level: 'silent' }),
    metrics: new AgentMetrics(),
  };
});

const token = (id: string, key: KeyObject, kid: string, aud = ['echo']) => sign({ id: SpiffeId.fromString(id), audience: aud, expiresAt: Date.now() + 300_000, key, kid, now: Date.now() });

describe('Check: validate mode', () => {
  it('allows a local JWT-SVID, injects identity headers, strips the token', async () => {
    const res = (await check(request({ authorization: `Bearer ${await token('spiffe://echo.example/svc', localKey.privateKey, 'local-kid')}` }), deps)) as Res;
    expect(res.status.code).toBe(0);
    expect(res.ok_response!.headers.map((h) => [h.header.key, h.header.value])).toEqual([['x-spiffe-id', 'spiffe://echo.example/svc'], ['x-spiffe-trust-domain', 'echo.example']]);
    expect(res.ok_response!.headers_to_remove).toEqual(['authorization']);
  });

  it('allows a JWT-SVID from a federated trust domain', async () => {
    const res = (await check(request({ authorization: `Bearer ${await token('spiffe://web.example/frontend', fedKey.privateKey, 'web-kid')}` }), deps)) as Res;
    expect(res.status.code).toBe(0);
  });

  const rejected: [string, () => Promise<string | undefined>][] = [
    ['missing token', async () => undefined],
    ['a non-federated trust domain', async () => `Bearer ${await token('spiffe://stranger.example/x', strangerKey.privateKey, 'stranger-kid')}`],
    ['a forged signature', async () => `Bearer ${raw({ alg: 'ES256', kid: 'web-kid', typ: 'JWT' }, claims(), strangerKey.privateKey)}`],
    ['alg none', async () => `Bearer ${raw({ alg: 'none', kid: 'web-kid' }, claims())}`],
    ['HS256 with the public key as secret', async () => `Bearer ${raw({ alg: 'HS256', kid: 'web-kid' }, claims(), undefined, fedKey.publicKey.export({ format: 'pem', type: 'spki' }) as Buffer)}`],
    ['an expired token', async () => `Bearer ${raw({ alg: 'ES256', kid: 'web-kid', typ: 'JWT' }, claims({ exp: now() - 3600 }), fedKey.privateKey)}`],
    ['a wrong audience', async () => `Bearer ${await token('spiffe://web.example/frontend', fedKey.privateKey, 'web-kid', ['other'])}`],
    ['an unknown kid', async () => `Bearer ${raw({ alg: 'ES256', kid: 'nope', typ: 'JWT' }, claims(), fedKey.privateKey)}`],
    ['sub not a SPIFFE ID', async () => `Bearer ${raw({ alg: 'ES256', kid: 'web-kid', typ: 'JWT' }, claims({ sub: 'frontend' }), fedKey.privateKey)}`],
    ['an oversized header', async () => `Bearer ${'a'.repeat(20_000)}`],
    ['garbage', async () => 'Bearer not-a-jwt'],
    ['another scheme', async () => 'Basic dXNlcjpwYXNz'],
  ];

  it.each(rejected)('answers 401 to %s, without echoing the token', async (_name, make) => {
    const value = await make();
    const res = (await check(request(value === undefined ? {} : { authorization: value }), deps)) as Res;
    expect(res.status.code).toBe(16);
    expect(res.denied_response!.status.code).toBe(401);
    const www = res.denied_response!.headers.find((h) => h.header.key === 'www-authenticate')!.header.value;
    expect(www).toMatch(/^Bearer realm="herald"/);
    if (value) {
      const credential = value.split(' ')[1]!;
      expect(res.denied_response!.body).not.toContain(credential.slice(0, 20));
      expect(www).not.toContain(credential.slice(0, 20));
    }
  });

  it('answers 403 when the policy denies, 200 when it allows', async () => {
    const withPolicy: CheckDeps = {
      ...deps,
      policy: () => parsePolicy('default: deny\nrules:\n  - { action: allow, jwt: { path_prefixes: [spiffe://web.example/frontend] }, destination: { path_prefix: /hello } }'),
    };
    const tok = `Bearer ${await token('spiffe://web.example/frontend', fedKey.privateKey, 'web-kid')}`;
    expect(((await check(request({ authorization: tok }), withPolicy)) as Res).status.code).toBe(0);
    const decisions = async (result: string) => valueOf(deps.metrics.authzDecision, { result });
    const [allowed, deniedPolicy] = [await decisions('allowed'), await decisions('denied_policy')];
    const denied = (await check(request({ authorization: tok }, { path: '/admin' }), withPolicy)) as Res;
    expect(denied.status.code).toBe(7);
    // Counted by result (spire_agent_authz_decision{result}).
    expect(await decisions('denied_policy')).toBe(deniedPolicy + 1);
    expect(await decisions('allowed')).toBe(allowed);
    expect(denied.denied_response!.status.code).toBe(403);
    expect(denied.denied_response!.body).toBe('forbidden by policy\n');
  });

  it('uses the route\'s audience from the context extension', async () => {
    const tok = `Bearer ${await token('spiffe://web.example/frontend', fedKey.privateKey, 'web-kid', ['billing'])}`;
    expect(((await check(request({ authorization: tok }), deps)) as Res).status.code).toBe(16);
    expect(((await check(request({ authorization: tok }, { ext: { audience: 'billing' } }), deps)) as Res).status.code).toBe(0);
  });
});

describe('Check: inject and peer modes', () => {
  it('inject replaces the authorization header with the workload\'s JWT-SVID for the audience', async () => {
    const res = (await check(request({ authorization: 'Bearer attacker' }, { ext: { herald_mode: 'inject', audience: 'echo' } }), deps)) as Res;
    expect(res.status.code).toBe(0);
    expect(res.ok_response!.headers).toEqual([{ header: { key: 'authorization', value: 'Bearer minted-for-echo' }, append: { value: false } }]);
  });

  it('peer mode decides on the mTLS peer; without a policy it refuses', async () => {
    expect(((await check(request({}, { ext: { herald_mode: 'peer' }, peer: 'spiffe://web.example/frontend' }), deps)) as Res).status.code).toBe(7);
    const withPolicy: CheckDeps = { ...deps, policy: () => parsePolicy('rules:\n  - { action: allow, peer: { trust_domains: [web.example] } }') };
    const ok = (await check(request({}, { ext: { herald_mode: 'peer' }, peer: 'spiffe://web.example/frontend' }), withPolicy)) as Res;
    expect(ok.status.code).toBe(0);
    expect(ok.ok_response!.headers[0]!.header.value).toBe('spiffe://web.example/frontend');
  });
});
