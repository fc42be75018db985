// The demo's headless scenario (`npm run demo -- --check`, and the compose demo's test):
// mTLS call, JWT call, forged token, echo's CA rotation and its propagation, calls after it.
// It runs against the backend in-process, or against a running demo page over HTTP
// (PageClient: the same /api/* the buttons use), e.g. the docker-compose demo:
//   node demo/lib/check.ts http://127.0.0.1:8080
import type { CallMode, CallResult, DemoBackend } from './backend.ts';

export type DemoApi = Pick<DemoBackend, 'call' | 'rotateEcho' | 'state'>;

/** The demo page's API, as its buttons call it. */
export class PageClient implements DemoApi {
  readonly #url: string;
  constructor(url: string) {
    this.#url = url.replace(/\/$/, '');
  }
  async #json<T>(method: string, path: string): Promise<T> {
    const res = await fetch(`${this.#url}${path}`, { method });
    const body = (await res.json()) as T & { error?: string };
    if (!res.ok) throw new Error(body.error ?? `${method} ${path}: HTTP ${res.status}`);
    return body;
  }
  call(mode: CallMode): Promise<CallResult> {
    return this.#json('POST', `/api/call?mode=${mode}`);
  }
  rotateEcho(): ReturnType<DemoBackend['rotateEcho']> {
    return this.#json('POST', '/api/rotate');
  }
  state(): ReturnType<DemoBackend['state']> {
    return this.#json('GET', '/api/state');
  }
}

/** Runs every step, printing one line each; true only if every step behaved. */
export async function check(backend: DemoApi, say: (line: string) => void = (s) => void process.stdout.write(`${s}\n`)): Promise<boolean> {
  let failures = 0;
  const step = (name: string, ok: boolean, detail: string): void => {
    if (!ok) failures++;
    say(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? ` — ${detail}` : ''}`);
  };
  const mtls = await backend.call('mtls');
  step('web calls echo over mTLS', mtls.status === 200 && mtls.echoSawPeer === 'spiffe://web.example/web' && mtls.webSawPeer === 'spiffe://echo.example/echo', `status ${mtls.status}, echo saw ${mtls.echoSawPeer}, web saw ${mtls.webSawPeer}`);
  const jwt = await backend.call('jwt');
  step('web calls echo with a JWT-SVID', jwt.status === 200 && jwt.jwtClaims?.sub === 'spiffe://web.example/web', `status ${jwt.status}, sub ${String(jwt.jwtClaims?.sub)}, aud ${JSON.stringify(jwt.jwtClaims?.aud)}`);
  const forged = await backend.call('forged');
  step('a forged token is rejected', forged.status === 401, `status ${forged.status}`);
  const rotated = await backend.rotateEcho().catch((err: Error) => ({ error: err.message }));
  const r = 'error' in rotated ? undefined : rotated;
  step('echo.example prepares a new CA, web.example learns it through federation, echo activates it', r !== undefined, r ? `new CA ${r.x509.slice(0, 12)}…, reached web in ${(r.propagatedMs / 1000).toFixed(1)} s` : (rotated as { error: string }).error);
  const again = await backend.call('mtls');
  step('calls keep working right after the rotation', again.status === 200, `status ${again.status}`);
  const after = await Promise.all([backend.call('mtls'), backend.call('jwt')]);
  step('mTLS and JWT calls still work', after.every((r) => r.status === 200), after.map((r) => `${r.mode} ${r.status}`).join(', '));
  const state = await backend.state();
  step('the page\'s state shows both domains', state.domains.length === 2 && state.domains.every((d) => d.x509.active && d.svid), state.domains.map((d) => `${d.trustDomain}: ${d.identities.join(',')}`).join('; '));
  say(failures === 0 ? '\nDemo check passed.' : `\nDemo check FAILED (${failures} step${failures === 1 ? '' : 's'}).`);
  return failures === 0;
}

if (import.meta.main) {
  const url = process.argv[2];
  if (!url) {
    process.stderr.write('usage: node demo/lib/check.ts URL   (a running demo page, e.g. http://127.0.0.1:8080)\n');
    process.exit(2);
  }
  const ok = await check(new PageClient(url)).catch((err: Error) => {
    process.stderr.write(`demo check: ${url}: ${err.message}${err.cause ? ` (${(err.cause as Error).message})` : ''}\n`);
    return false;
  });
  process.exit(ok ? 0 : 1);
}
