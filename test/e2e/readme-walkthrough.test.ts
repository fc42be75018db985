// The README's walkthrough block, run verbatim as a newcomer pastes it: from a
// directory that looks like the repository root (bin/ and conf/), with the
// quick-start configs' fixed ports and /tmp socket paths made private by a
// network, mount and pid namespace of its own (so it cannot collide with
// another run, and every background process dies with the block).
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/herald.ts';
import { runCommand } from '../helpers/process.ts';
import { makeTempDir } from '../helpers/tmp.ts';

/** The sh block that follows the `<!-- walkthrough -->` marker in README.md. */
function readmeWalkthrough(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const m = /<!-- walkthrough -->\n```sh\n([\s\S]*?)```/.exec(readme);
  if (!m) throw new Error('README.md has no <!-- walkthrough --> sh block');
  return m[1]!;
}

describe('the README walkthrough, pasted as one block', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let res: { code: number | null; stdout: string; stderr: string };

  beforeAll(async () => {
    tmp = await makeTempDir('herald-readme-');
    await symlink(join(ROOT, 'bin'), join(tmp.path, 'bin'));
    await symlink(join(ROOT, 'conf'), join(tmp.path, 'conf'));
    const isolate = [
      'set -e',
      'ip link set lo up',
      // Private, root-owned socket directories at the configs' own paths.
      'for d in /tmp/herald-server /tmp/herald-agent; do mkdir -p "$d"; mount -t tmpfs -o mode=0755 tmpfs "$d"; done',
      `cd ${JSON.stringify(tmp.path)}`,
      'set +e',
    ].join('\n');
    // --kill-child: if the block hangs and unshare is killed, the namespace's init (and so
    // every process of the block) goes with it.
    res = await runCommand('unshare', ['--mount', '--net', '--pid', '--fork', '--kill-child', '--mount-proc', 'bash', '-c', `${isolate}\n${readmeWalkthrough()}`], { timeoutMs: 150_000 });
  }, 160_000);

  afterAll(async () => {
    await tmp?.cleanup();
  });

  it('runs to the end: healthy server, healthy agent, an SVID written', () => {
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(res.stdout).toContain('Server is healthy.\n');
    expect(res.stdout).toMatch(/^Entry ID\s+: [0-9a-f-]{36}$/m);
    expect(res.stdout).toContain('Agent is healthy.\n');
    expect(res.stdout).toMatch(/Received 1 svid after [\d.]+ms/);
  });

  it('wrote svid.0.pem, svid.0.key and bundle.0.pem, and the SVID verifies against the bundle', async () => {
    const svid = new X509Certificate(readFileSync(join(tmp.path, 'svid.0.pem')));
    expect(svid.subjectAltName).toBe('URI:spiffe://example.org/myservice');
    readFileSync(join(tmp.path, 'svid.0.key'));
    const verify = await runCommand('openssl', ['verify', '-CAfile', join(tmp.path, 'bundle.0.pem'), join(tmp.path, 'svid.0.pem')]);
    expect(verify.stdout.trim()).toBe(`${join(tmp.path, 'svid.0.pem')}: OK`);
  });
});
