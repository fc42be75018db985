// The HCL parse cache: a config file parsed once is read back on the next
// start without loading the parser (its WebAssembly costs ~25 ms and ~8 MiB
// for the life of the process), and gives exactly what the parser gives.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../helpers/herald.ts';
import { runCommand } from '../../helpers/process.ts';
import { makeTempDir } from '../../helpers/tmp.ts';

const SPIRE_SERVER_CONF = join(ROOT, 'test/fixtures/spire-conf/server/server.conf');
let tmp: { path: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  tmp = await makeTempDir('hcl-cache-');
});
afterAll(() => tmp.cleanup());

/** In a fresh process (an empty module state, as a daemon's start): loads `file`'s text as the daemons do, prints what it saw. */
async function loadInFreshProcess(text: string, file: string): Promise<{ parserLoaded: boolean; parsed: unknown }> {
  const script = `
    import { hclParserLoaded, parseHcl } from ${JSON.stringify(join(ROOT, 'src/common/config/hcl.ts'))};
    import { prepareParser } from ${JSON.stringify(join(ROOT, 'src/common/config/load.ts'))};
    const text = ${JSON.stringify(text)};
    await prepareParser(text, { filename: ${JSON.stringify(file)} });
    const parserLoaded = hclParserLoaded();
    let parsed;
    try { parsed = parseHcl(text, ${JSON.stringify(file)}); } catch (err) { parsed = String(err); }
    console.log(JSON.stringify({ parserLoaded, parsed }));`;
  const r = await runCommand(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, XDG_CACHE_HOME: tmp.path }, cwd: tmp.path });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as { parserLoaded: boolean; parsed: unknown };
}

describe('the HCL parse cache', () => {
  it('spares the next start the parser, with the same parse', async () => {
    const text = await readFile(SPIRE_SERVER_CONF, 'utf8');
    const first = await loadInFreshProcess(text, 'server.conf');
    expect(first.parserLoaded).toBe(true);
    expect(await readdir(join(tmp.path, 'herald/hcl-parse'))).toHaveLength(1);
    const second = await loadInFreshProcess(text, 'server.conf');
    expect(second.parserLoaded).toBe(false);
    expect(second.parsed).toEqual(first.parsed);
    // Another file name (messages carry it) or another text is another entry.
    expect((await loadInFreshProcess(text, 'other.conf')).parserLoaded).toBe(true);
    expect((await loadInFreshProcess(text + '\n# edited\n', 'server.conf')).parserLoaded).toBe(true);
  }, 60_000);

  it('never keeps a failed parse', async () => {
    const bad = 'server {\n  trust_domain = \n';
    const first = await loadInFreshProcess(bad, 'bad.conf');
    expect((first.parsed as { syntaxError: boolean }).syntaxError).toBe(true);
    const again = await loadInFreshProcess(bad, 'bad.conf');
    expect(again.parserLoaded).toBe(true);
    expect(again.parsed).toEqual(first.parsed);
  }, 60_000);
});
