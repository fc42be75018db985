// The A/B rotation with short TTLs on a real server: the next CA is in the
// bundle before it signs, SVIDs minted before and after the switch both
// verify against `bundle show`, and a restart keeps the state.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type ServerHandle } from '../helpers/herald.ts';
import { runCommand } from '../helpers/process.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';

interface State { active: { authority_id: string } | null; prepared: { authority_id: string } | null; old: { authority_id: string } | null }

describe('CA rotation across slots (short TTLs)', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let server: ServerHandle;
  const state = async (): Promise<State> => JSON.parse((await server.cli('localauthority', 'x509', 'show', '-output', 'json')).stdout);
  const mintAndVerify = async (name: string) => {
    const dir = join(tmp.path, name);
    const mintedAt = Math.floor(Date.now() / 1000);
    const m = await server.cli('x509', 'mint', '-spiffeID', `spiffe://example.org/${name}`, '-ttl', '3s', '-write', dir);
    expect(m.code, m.stderr).toBe(0);
    await writeFile(join(dir, 'bundle-show.pem'), (await server.cli('bundle', 'show')).stdout);
    // Verified as of its minting: the chain is what is checked here, and a 3 s SVID can
    // expire before openssl runs on a loaded machine.
    const verify = await runCommand('openssl', ['verify', '-attime', String(mintedAt + 1), '-CAfile', join(dir, 'bundle-show.pem'), join(dir, 'svid.pem')]);
    expect(verify.stdout, verify.stderr).toContain(': OK');
    return verify;
  };

  beforeAll(async () => {
    tmp = await makeTempDir('herald-rotation-');
    // ca_ttl 18s: prepared after 9s, activated after 15s (SPIRE's 1/2 and 5/6).
    server = await startServer({ dir: tmp.path, caTtl: '18s', x509SvidTtl: '3s', jwtSvidTtl: '3s' });
  });

  afterAll(async () => {
    await server?.stop();
    await tmp?.cleanup();
  });

  it('prepares the next CA into the bundle before activating it, and keeps the old one', async () => {
    const first = await state();
    // SPIRE's -output json drops empty fields: no prepared authority, no "prepared" key.
    expect(first.prepared).toBeUndefined();
    const before = await mintAndVerify('before');
    expect(before.stdout).toContain(': OK');

    const prepared = await waitFor('a prepared CA', async () => (await state()).prepared ?? undefined, { timeoutMs: 30_000, intervalMs: 250 });
    // Published before it signs anything: the bundle already holds both.
    const pem = (await server.cli('bundle', 'show')).stdout;
    expect(pem.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    expect((await state()).active!.authority_id).toBe(first.active!.authority_id);

    const after = await waitFor('the prepared CA active', async () => {
      const s = await state();
      return s.active?.authority_id === prepared.authority_id ? s : undefined;
    }, { timeoutMs: 30_000, intervalMs: 250 });
    expect(after.old!.authority_id).toBe(first.active!.authority_id);
    expect((await mintAndVerify('after')).stdout).toContain(': OK');
    expect(server.proc.output()).toMatch(/X509 CA activated.*slot=B/);

    // A restart loads the journal: same active CA, nothing regenerated.
    await server.restart();
    expect((await state()).active!.authority_id).toBe(prepared.authority_id);
  }, 90_000);
});
