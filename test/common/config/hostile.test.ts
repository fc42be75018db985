// Hostile config files (issue 15 item 5): each is refused with a short, clear
// error, fast and without memory blow-up — YAML and HCL alike.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/common/config/config-error.ts';
import { MAX_CONFIG_BYTES } from '../../../src/common/config/limits.ts';
import { loadConfigFile, parseConfig } from '../../../src/common/config/load.ts';
import { serverConfigSchema } from '../../../src/server/config.ts';
import { AGENT_BIN, SERVER_BIN } from '../../helpers/herald.ts';
import { runCommand } from '../../helpers/process.ts';
import { makeTempDir } from '../../helpers/tmp.ts';

/** A clear message, at most this long, whatever the input. */
const MAX_MESSAGE = 16 * 1024;

interface Outcome {
  readonly message: string;
  readonly ms: number;
  readonly heapGrowth: number;
}

function refused(fn: () => unknown): Outcome {
  const heap0 = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  const ms = performance.now() - t0;
  expect(err).toBeInstanceOf(ConfigError);
  const message = (err as ConfigError).message;
  expect(message.length).toBeLessThan(MAX_MESSAGE);
  return { message, ms, heapGrowth: process.memoryUsage().heapUsed - heap0 };
}

async function refusedAsync(fn: () => Promise<unknown>): Promise<Outcome> {
  const t0 = performance.now();
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  const ms = performance.now() - t0;
  expect(err).toBeInstanceOf(ConfigError);
  const message = (err as ConfigError).message;
  expect(message.length).toBeLessThan(MAX_MESSAGE);
  return { message, ms, heapGrowth: 0 };
}

const parse = (text: string, filename: string) => () => parseConfig(serverConfigSchema, text, { filename });

/** The classic "billion laughs": 9 levels of 9 aliases each, 9^9 values when expanded. */
function aliasBomb(): string {
  const names = 'abcdefghi';
  let text = `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n`;
  for (let i = 1; i < names.length; i++) {
    const prev = `*${names[i - 1]}`;
    text += `${names[i]}: &${names[i]} [${Array(9).fill(prev).join(',')}]\n`;
  }
  return text;
}

/** A valid server config but for `count` unknown keys in its server section. */
function manyKeys(format: 'yaml' | 'hcl', count: number): string {
  const lines: string[] = [format === 'yaml' ? 'server:\n  trust_domain: example.org' : 'server {\n  trust_domain = "example.org"'];
  for (let i = 0; i < count; i++) lines.push(format === 'yaml' ? `  k${i}: 1` : `  k${i} = 1`);
  lines.push(
    format === 'yaml'
      ? 'plugins:\n  DataStore: { sql: {} }\n  KeyManager: { memory: {} }'
      : '}\nplugins {\n  DataStore "sql" {}\n  KeyManager "memory" {}\n}',
  );
  return `${lines.join('\n')}\n`;
}

/** As many unknown keys as fit in the size limit. */
function keysUpToLimit(format: 'yaml' | 'hcl'): string {
  let n = Math.floor(MAX_CONFIG_BYTES / 12);
  let text = manyKeys(format, n);
  while (Buffer.byteLength(text) > MAX_CONFIG_BYTES) text = manyKeys(format, (n -= 1000));
  return text;
}

describe('hostile config input', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    tmp = await makeTempDir('herald-hostile-');
  });
  afterAll(async () => {
    await tmp?.cleanup();
  });

  it('an unknown YAML tag is refused at its line, not read as a string with a warning on stderr', () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const r = refused(parse('server:\n  trust_domain: !td example.org\n', 'tag.yaml'));
      expect(r.message).toMatch(/^config: tag\.yaml:2: yaml: Unresolved tag: !td/);
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).toEqual([]);
  });

  it('a YAML alias bomb (9 levels of 9 aliases) is refused at the alias limit, fast and in bounded memory', () => {
    const r = refused(parse(aliasBomb(), 'bomb.yaml'));
    expect(r.message).toMatch(/^config: bomb\.yaml:\d+ .*yaml: aliases expand to more than 10000 values/);
    expect(r.ms).toBeLessThan(5_000);
    expect(r.heapGrowth).toBeLessThan(256 * 1024 * 1024);
  });

  it('a YAML alias bomb is refused by herald-server validate within 64 MB of heap', async () => {
    const file = join(tmp.path, 'bomb.yaml');
    await writeFile(file, aliasBomb());
    const t0 = performance.now();
    const r = await runCommand(SERVER_BIN, ['validate', '-config', file], {
      env: { ...process.env, NODE_OPTIONS: '--max-old-space-size=64' },
      timeoutMs: 60_000,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('yaml: aliases expand to more than 10000 values');
    expect(r.stderr.length).toBeLessThan(MAX_MESSAGE);
    expect(performance.now() - t0).toBeLessThan(20_000);
  }, 70_000);

  for (const format of ['yaml', 'hcl'] as const) {
    it(`${format}: 16k unknown keys are reported in linear time, the message listing the first 100`, () => {
      const r = refused(parse(manyKeys(format, 16_000), `many.${format === 'yaml' ? 'yaml' : 'conf'}`));
      expect(r.ms).toBeLessThan(5_000);
      expect(r.message).toMatch(/^config: 16000 problems:\n/);
      expect(r.message).toContain(`many.${format === 'yaml' ? 'yaml' : 'conf'}:3 server.k0: unknown key`);
      expect(r.message).toMatch(/\n {2}… and 15900 more$/);
    });

    it(`${format}: a file of unknown keys up to the size limit is reported in bounded time`, () => {
      const text = keysUpToLimit(format);
      const r = refused(parse(text, `many.${format === 'yaml' ? 'yaml' : 'conf'}`));
      // ~80k keys: the quadratic walk took hours; linear is about a second on an idle machine.
      expect(r.ms).toBeLessThan(20_000);
      expect(r.message).toMatch(/^config: \d{5} problems:\n/);
    }, 40_000);

    it(`${format}: deep nesting is refused at the depth limit`, () => {
      const open = format === 'yaml' ? 'a: ' : 'a = ';
      const r = refused(parse(`${open}${'['.repeat(200)}${']'.repeat(200)}\n`, `deep.${format === 'yaml' ? 'yaml' : 'conf'}`));
      expect(r.message).toMatch(/^config: deep\.(yaml|conf):1 a(\[0\]){60}.*: nested more than 64 levels deep \(the limit\)$/);
      if (format === 'hcl') {
        const blocks = refused(parse(`${'a {\n'.repeat(100)}${'}\n'.repeat(100)}`, 'deep.conf'));
        expect(blocks.message).toContain('nested more than 64 levels deep (the limit)');
      }
    });

    it(`${format}: a 20 MB one-line config is refused at the size limit without echoing it`, () => {
      const r = refused(parse(`server: ${'x'.repeat(20_000_000)}`, `big.${format === 'yaml' ? 'yaml' : 'conf'}`));
      expect(r.message).toBe(`config: big.${format === 'yaml' ? 'yaml' : 'conf'}: config file is 20000008 bytes; the limit is 1 MiB (1048576 bytes)`);
      expect(r.ms).toBeLessThan(5_000);
    });

    it(`${format}: a long value under the limit is quoted as a short excerpt`, () => {
      const text = format === 'yaml' ? `server: ${'x'.repeat(1_000_000)}\n` : `server = "${'x'.repeat(1_000_000)}"\n`;
      const r = refused(parse(text, 'long'));
      expect(r.message).toContain(`long:1 server: expected a mapping, got "${'x'.repeat(60)}"… (1000000 characters)`);
      expect(r.message.length).toBeLessThan(1_000);
    });
  }

  it('hcl: what never ends (strings, ${…}, heredocs, comments, brackets, labels) is refused at its start, in linear time', () => {
    const near = (unit: string): string => unit.repeat(Math.floor((MAX_CONFIG_BYTES - 100) / unit.length));
    const cases: [string, RegExp][] = [
      [`a = "${near('x')}`, /^config: never\.conf:1: hcl: syntax error at column 5: unterminated string "\\"x{19}…"/],
      [`a = "\${${near('{\n')}`, /^config: never\.conf:1: hcl: syntax error at column 5: unterminated string /],
      [`a = <<EOF\n${near('EOFx\n')}`, /^config: never\.conf:1: hcl: syntax error at column 5: unterminated heredoc <<EOF/],
      [`a = 1\n/*${near('*\n')}`, /^config: never\.conf:2: hcl: syntax error at column 1: unterminated \/\* comment/],
      [`a = ${near('[1,')}`, /^config: never\.conf:1 a(\[\d+\]){60}.*: nested more than 64 levels deep \(the limit\)$/],
      [`a = f(${near('(x')}`, /^config: never\.conf:1: hcl: syntax error at column 5: unclosed bracket in "f\(\(x/],
      [`${near('a ')}= 1`, /^config: never\.conf:1: hcl: syntax error at column \d+: unexpected "=" \(after \d+ keys/],
      [`${near('a ')}{}`, /^config: never\.conf:1 a(\.a){60}.*: nested more than 64 levels deep \(the limit\)$/],
    ];
    for (const [text, message] of cases) {
      const r = refused(parse(text, 'never.conf'));
      expect(r.message).toMatch(message);
      expect(r.message.length).toBeLessThan(1_000);
      expect(r.ms).toBeLessThan(5_000);
    }
  });

  it('-expandEnv cannot grow a config past the size limit', () => {
    const r = refused(() =>
      parseConfig(serverConfigSchema, 'server:\n  trust_domain: $BIG\n', { filename: 'env.yaml', expandEnv: true, env: { BIG: 'x'.repeat(2_000_000) } }),
    );
    expect(r.message).toBe('config: env.yaml: after -expandEnv: config file is 2000025 bytes; the limit is 1 MiB (1048576 bytes)');
  });

  it('a long unknown key is shortened in the key path', () => {
    // YAML caps implicit keys at 1024 characters itself; HCL has no such cap.
    const y = refused(parse(`server:\n  trust_domain: example.org\n  ${'k'.repeat(1000)}: 1\n`, 'key.yaml'));
    expect(y.message).toContain(`key.yaml:3 server.${'k'.repeat(60)}…: unknown key`);
    const h = refused(parse(`server {\n  trust_domain = "example.org"\n  ${'k'.repeat(500_000)} = 1\n}\n`, 'key.conf'));
    expect(h.message).toContain(`key.conf:3 server.${'k'.repeat(60)}…: unknown key`);
    expect(h.message.length).toBeLessThan(1_000);
  });

  it('binary text is refused as not text, naming where', () => {
    const png = '\x89PNG\r\n\x1a\n\0\0\0\rIHDR';
    expect(refused(parse(png, 'image.yaml')).message).toBe('config: image.yaml:2: not a text file: control character 0x1a at line 2, column 1');
    expect(refused(parse(`server {\n  a = "\0"\n}\n`, 'nul.conf')).message).toBe(
      'config: nul.conf:2: not a text file: control character 0x00 at line 2, column 8',
    );
  });

  it('files: a 20 MB file is refused from its size, a binary file as not UTF-8, /dev/zero at the limit', async () => {
    const big = join(tmp.path, 'big.yaml');
    await writeFile(big, `server: ${'x'.repeat(20_000_000)}`);
    const r = await refusedAsync(() => loadConfigFile(serverConfigSchema, big, { filename: 'big.yaml' }));
    expect(r.message).toBe('config: big.yaml: config file is 20000008 bytes; the limit is 1 MiB (1048576 bytes)');
    expect(r.ms).toBeLessThan(5_000);

    const bin = join(tmp.path, 'random.conf');
    await writeFile(bin, Buffer.from([0x73, 0x65, 0x72, 0x0a, 0xff, 0xfe, 0x00, 0x80, 0xc3]));
    const b = await refusedAsync(() => loadConfigFile(serverConfigSchema, bin, { filename: 'random.conf' }));
    expect(b.message).toBe('config: random.conf:2: not a text file: bytes that are not UTF-8 at line 2 (byte 4)');

    const zero = await refusedAsync(() => loadConfigFile(serverConfigSchema, '/dev/zero', { filename: '/dev/zero' }));
    expect(zero.message).toBe('config: /dev/zero: config file is more than 1 MiB; the limit is 1 MiB (1048576 bytes)');
  });

  it('herald-agent validate on a 20 MB one-line file prints one short line', async () => {
    const file = join(tmp.path, 'agent-big.conf');
    await writeFile(file, `agent = "${'x'.repeat(20_000_000)}"\n`);
    const r = await runCommand(AGENT_BIN, ['validate', '-config', file], { timeoutMs: 60_000 });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`Herald agent configuration file is invalid: ${file}: config file is 20000011 bytes; the limit is 1 MiB (1048576 bytes)`);
  }, 70_000);
});
