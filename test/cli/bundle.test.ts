// The prebuilt CLI bundle (scripts/build-bundle.ts): the launchers run it only
// while it is fresh, it behaves as the sources (a server and an agent started
// from it serve an SVID), and `--check` catches a broken one. Each test builds
// its own bundle in a temp dir (HERALD_BUNDLE_DIR), never the checkout's.
import { cp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundle } from '../../scripts/build-bundle.ts';
import { BUNDLE_FILE, MANIFEST_FILE, bundleState } from '../../src/cli/bundle.js';
import { ROOT, SERVER_BIN, AGENT_BIN, startAgent, startServer } from '../helpers/herald.ts';
import { runCommand } from '../helpers/process.ts';
import { makeTempDir } from '../helpers/tmp.ts';

const BUILD = join(ROOT, 'scripts/build-bundle.ts');
let tmp: { path: string; cleanup: () => Promise<void> };
let bundle: string;

/** Runs a launcher with `env` on top of the test's environment. */
const bin = (path: string, args: string[], env: Record<string, string>) => runCommand(path, args, { env: { ...process.env, ...env }, cwd: tmp.path });

beforeAll(async () => {
  tmp = await makeTempDir('herald-bundle-');
  bundle = join(tmp.path, 'cli');
  await buildBundle(bundle);
}, 180_000);
afterAll(() => tmp?.cleanup());

/** A copy of the test's bundle, to spoil. */
async function copyOfBundle(name: string): Promise<string> {
  const dir = join(tmp.path, name);
  await cp(bundle, dir, { recursive: true });
  return dir;
}

describe('the CLI bundle', () => {
  it('is fresh after a build and records its own sources', async () => {
    expect(bundleState(ROOT, bundle)).toBe('fresh');
    const manifest = JSON.parse(await readFile(join(bundle, MANIFEST_FILE), 'utf8')) as { files: Record<string, unknown> };
    expect(Object.keys(manifest.files)).toEqual(expect.arrayContaining(['src/cli/main.ts', 'src/cli/server/run.ts', 'src/server/server.ts', 'src/agent/agent.ts']));
  });

  it('runs a server and an agent that serve an SVID, and the admin CLI, as the sources do', async () => {
    const env = { HERALD_BUNDLE: 'require', HERALD_BUNDLE_DIR: bundle };
    const saved = { ...process.env };
    // The helpers start bin/herald-server and bin/herald-agent with this process's environment.
    Object.assign(process.env, env);
    const dir = await makeTempDir('hb-');
    try {
      const server = await startServer({ dir: dir.path });
      const token = (await server.cli('token', 'generate', '-spiffeID', 'spiffe://example.org/node')).stdout.split(' ')[1]!.trim();
      const create = await server.cli('entry', 'create', '-parentID', 'spiffe://example.org/node', '-spiffeID', 'spiffe://example.org/w', '-selector', `unix:uid:${process.getuid!()}`);
      expect(create.stderr).toBe('');
      const agent = await startAgent({ dir: dir.path, server, joinToken: token });
      const fetched = await agent.cli('api', 'fetch', 'x509', '-timeout', '30s');
      expect(fetched.stdout).toContain('SPIFFE ID:\t\tspiffe://example.org/w');
      // The same admin call from the sources prints the same.
      const show = ['entry', 'show', '-spiffeID', 'spiffe://example.org/w', '-socketPath', server.socketPath];
      const fromBundle = await bin(SERVER_BIN, show, env);
      expect(fromBundle.stdout).toContain('spiffe://example.org/w');
      expect(await bin(SERVER_BIN, show, { HERALD_BUNDLE: 'off' })).toEqual(fromBundle);
      await agent.stop();
      await server.stop();
    } finally {
      process.env = saved;
      await dir.cleanup();
    }
  }, 120_000);

  it('is not used once a source it was built from changes: the launcher runs the sources', async () => {
    const stale = await copyOfBundle('stale');
    // What a `git pull` does to a source file: new content, new mtime. Here only the
    // manifest's record of it changes, so the checkout's file stays as it is.
    const manifestPath = join(stale, MANIFEST_FILE);
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as { files: Record<string, [number, number]> };
    manifest.files['src/cli/server/run.ts']![0] -= 1000;
    await writeFile(manifestPath, JSON.stringify(manifest));
    // Were the bundle run, every command would fail with this.
    await writeFile(join(stale, BUNDLE_FILE), 'throw new Error("the stale bundle ran");\n');
    expect(bundleState(ROOT, stale)).toBe('stale');

    const help = await bin(SERVER_BIN, ['--help'], { HERALD_BUNDLE_DIR: stale });
    expect(help.stderr).toBe('');
    expect(help.code).toBe(0);
    expect(help).toEqual(await bin(SERVER_BIN, ['--help'], { HERALD_BUNDLE: 'off' }));
    const required = await bin(AGENT_BIN, ['--help'], { HERALD_BUNDLE_DIR: stale, HERALD_BUNDLE: 'require' });
    expect(required.code).not.toBe(0);
    expect(required.stderr).toContain(`the CLI bundle ${stale} is stale`);
  }, 60_000);

  it('keeps the chunks of the two builds before it, for daemons started from them, and no older', async () => {
    const dir = await copyOfBundle('rebuilt');
    // As if the build before had a chunk this one does not (a source changed since): a daemon started from it may import it any time.
    const older = 'from-an-older-build-AAAAAAAA.mjs';
    const manifestPath = join(dir, MANIFEST_FILE);
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8')) as { builds: string[][] };
    await writeFile(join(dir, older), 'export const x = 1;\n');
    manifest.builds[0]!.push(older);
    await writeFile(manifestPath, JSON.stringify(manifest));
    const present = async () => (await readdir(dir)).includes(older);
    await buildBundle(dir);
    expect(await present()).toBe(true);
    expect(bundleState(ROOT, dir)).toBe('fresh');
    await buildBundle(dir);
    expect(await present()).toBe(true);
    await buildBundle(dir);
    expect(await present()).toBe(false);
  }, 120_000);

  it('is stale when a file it records is touched, deleted or missing', async () => {
    const dir = await copyOfBundle('touched');
    const manifest = JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')) as { files: Record<string, [number, number]> };
    // A fake source, so that the checkout is never touched.
    const fake = join(tmp.path, 'fake-source.ts');
    await writeFile(fake, 'export {};\n');
    const st = await stat(fake);
    await writeFile(join(dir, MANIFEST_FILE), JSON.stringify({ files: { ...manifest.files, [relative(ROOT, fake)]: [st.mtimeMs, st.size] } }));
    expect(bundleState(ROOT, dir)).toBe('fresh');
    await utimes(fake, new Date(), new Date(Date.now() + 5000));
    expect(bundleState(ROOT, dir)).toBe('stale');
    await rm(fake);
    expect(bundleState(ROOT, dir)).toBe('stale');
    expect(bundleState(ROOT, join(tmp.path, 'none'))).toBe('missing');
  });

  it('--check passes on a good bundle and names a broken one', async () => {
    const good = await runCommand(process.execPath, [BUILD, '--check', '--out', bundle], { cwd: tmp.path, timeoutMs: 120_000 });
    expect(good.stderr).toBe('');
    expect(good.code).toBe(0);

    const broken = await copyOfBundle('broken');
    // A chunk the admin commands need (cut short, as by a full disk), the manifest still fresh.
    const chunk = (await readdir(broken)).find((f) => f.startsWith('grpc-client-'));
    expect(chunk).toBeDefined();
    const text = await readFile(join(broken, chunk!), 'utf8');
    await writeFile(join(broken, chunk!), text.slice(0, text.length / 2));
    expect(bundleState(ROOT, broken)).toBe('fresh');
    const bad = await runCommand(process.execPath, [BUILD, '--check', '--out', broken], { cwd: tmp.path, timeoutMs: 120_000 });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^build-bundle: the CLI bundle's `herald-server [^`]*` differs from the sources'/);
  }, 240_000);
});
