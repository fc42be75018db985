// The demo's headless scenario (`npm run demo -- --check`, and the compose demo's test):
// mTLS call, JWT call, forged token, echo's read from PostgreSQL with its own SVID, echo's CA
// rotation and its propagation (with echo reading from PostgreSQL throughout), calls after it.
// It runs against the backend in-process, or against a running demo page over HTTP
// (PageClient: the same /api/* the buttons use), e.g. the docker-compose demo:
//   node demo/lib/check.ts http://127.0.0.1:8080
import type { CallMode, CallResult, DemoBackend } from './backend.ts';
import { ECHO_DB, type DbRead } from './echo-db.ts';

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
  const db = dbRead(mtls);
  step('echo reads from PostgreSQL, logged in by its X509-SVID as the CN', db?.row === ECHO_DB.greeting && db.user === ECHO_DB.role && new RegExp(`(^|[/,])CN=${ECHO_DB.role}($|[/,])`).test(db.clientDn), dbDetail(mtls));
  // echo keeps reading from PostgreSQL while its CA rotates (bounded: the rotation's length, at most 150 calls).
  let rotating = true;
  const during: CallResult[] = [];
  const load = (async () => {
    while (rotating && during.length < 150) {
      during.push(await backend.call('mtls'));
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const rotated = await backend.rotateEcho().catch((err: Error) => ({ error: err.message }));
  rotating = false;
  await load;
  const r = 'error' in rotated ? undefined : rotated;
  step('echo.example prepares a new CA, web.example learns it through federation, echo activates it', r !== undefined, r ? `new CA ${r.x509.slice(0, 12)}…, reached web in ${(r.propagatedMs / 1000).toFixed(1)} s` : (rotated as { error: string }).error);
  const again = await backend.call('mtls');
  step('calls keep working right after the rotation', again.status === 200, `status ${again.status}`);
  const failed = during.filter((c) => c.status !== 200 || !dbRead(c));
  const newer = dbRead(again);
  step(
    'echo read from PostgreSQL throughout the rotation, with a pool renewed from the Workload API',
    during.length > 0 && failed.length === 0 && newer !== undefined && db !== undefined && newer.generation > db.generation && newer.user === ECHO_DB.role,
    `${during.length} reads during the rotation, ${failed.length} failed${failed[0] ? ` (${dbDetail(failed[0])})` : ''}; pool ${db?.generation} → ${newer?.generation}, logged in as ${newer?.user}`,
  );
  const after = await Promise.all([backend.call('mtls'), backend.call('jwt')]);
  step('mTLS and JWT calls still work', after.every((r) => r.status === 200), after.map((r) => `${r.mode} ${r.status}`).join(', '));
  const state = await backend.state();
  step('the page\'s state shows both domains', state.domains.length === 2 && state.domains.every((d) => d.x509.active && d.svid), state.domains.map((d) => `${d.trustDomain}: ${d.identities.join(',')}`).join('; '));
  say(failures === 0 ? '\nDemo check passed.' : `\nDemo check FAILED (${failures} step${failures === 1 ? '' : 's'}).`);
  return failures === 0;
}

const dbRead = (c: CallResult): DbRead | undefined => (c.db && !('error' in c.db) ? c.db : undefined);
const dbDetail = (c: CallResult): string => {
  if (!c.db) return `status ${c.status}, no database read`;
  if ('error' in c.db) return `status ${c.status}, database: ${c.db.error}`;
  return `read "${c.db.row}" as ${c.db.user} (${c.db.clientDn})`;
};

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
