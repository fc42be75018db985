import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/common/clock.ts';
import {
  createLogger,
  logfmtLine,
  parseLogLevel,
  REDACT_KEYS,
  REDACTED,
  redactFields,
  subsystemLogger,
} from '../../src/common/log.ts';
import type { CreateLoggerOptions } from '../../src/common/log.ts';
import { LogField } from '../../src/common/log-fields.ts';
import { makeTempDir } from '../helpers/tmp.ts';

const T0 = Date.UTC(2026, 10, 25, 2, 0, 0);

function capture(options: Omit<CreateLoggerOptions, 'destination'> = {}) {
  const chunks: string[] = [];
  const sink = { write: (s: string) => void chunks.push(s) };
  const logger = createLogger({ clock: new ManualClock(T0), ...options, destination: sink });
  return { logger, text: () => chunks.join(''), lines: () => chunks.join('').split('\n').filter((l) => l !== '') };
}

describe('redaction', () => {
  const SECRET = 'S3cr3t-T0ken-value';
  const shapes: [string, (k: string) => Record<string, unknown>][] = [
    ['top level', (k) => ({ [k]: SECRET })],
    ['one level down', (k) => ({ req: { [k]: SECRET } })],
    ['two levels down', (k) => ({ req: { headers: { [k]: SECRET } } })],
    ['inside an array', (k) => ({ items: [{ [k]: SECRET }] })],
  ];
  const cases = REDACT_KEYS.flatMap((key) => shapes.map(([where, make]) => ({ key, where, fields: make(key) })));

  it.each(['json', 'text'] as const)('%s: no secret value reaches the output', (format) => {
    for (const { key, where, fields } of cases) {
      const { logger, text } = capture({ format, isTTY: false });
      logger.info(fields, 'Request handled');
      const out = text();
      expect(out, `${key} ${where}`).not.toContain(SECRET);
      expect(out, `${key} ${where}`).toContain(REDACTED);
    }
  });

  it('also on a TTY (pretty output)', () => {
    const { logger, text } = capture({ format: 'text', isTTY: true });
    logger.warn({ join_token: SECRET, headers: { authorization: `Bearer ${SECRET}` }, svid: SECRET }, 'Agent attested');
    expect(text()).not.toContain(SECRET);
    expect(text()).toContain('Agent attested');
  });

  it('in child logger bindings too', () => {
    const { logger, text } = capture({ format: 'json' });
    logger.child({ token: SECRET }).info('x');
    expect(text()).not.toContain(SECRET);
  });

  it('leaves other fields alone and does not mutate the logged object', () => {
    const { logger, lines } = capture({ format: 'json' });
    const fields = { token: SECRET, spiffe_id: 'spiffe://example.org/w' };
    logger.info(fields, 'x');
    expect(JSON.parse(lines()[0] ?? '')).toMatchObject({ token: REDACTED, spiffe_id: 'spiffe://example.org/w' });
    expect(fields.token).toBe(SECRET);
  });

  it('redacts up to four levels deep and no deeper, without copying clean objects', () => {
    const clean = { a: { b: 1 } };
    expect(redactFields(clean)).toBe(clean);
    expect(redactFields({ a: { b: { c: { token: 'x' } } } })).toEqual({ a: { b: { c: { token: REDACTED } } } });
    expect(redactFields({ a: { b: { c: { d: { token: 'x' } } } } })).toEqual({ a: { b: { c: { d: { token: 'x' } } } } });
  });
});

describe('text format (not a TTY): logrus/SPIRE line shape', () => {
  it('writes time, level, msg, then fields sorted by name', () => {
    const { logger, lines } = capture({ format: 'text', isTTY: false });
    subsystemLogger(logger, 'ca_manager').info(
      { [LogField.Slot]: 'B', [LogField.TrustDomainId]: 'spiffe://example.org', [LogField.Expiration]: '2026-11-26T02:00:00Z' },
      'X509 CA activated',
    );
    expect(lines()).toEqual([
      'time="2026-11-25T02:00:00Z" level=info msg="X509 CA activated" expiration="2026-11-26T02:00:00Z" slot=B subsystem_name=ca_manager trust_domain_id="spiffe://example.org"',
    ]);
  });

  it.each([
    ['warn is "warning" as in logrus', { level: 'warn', msg: 'x' }, 'level=warning msg=x'],
    ['plain message unquoted', { level: 'info', msg: 'Starting' }, 'level=info msg=Starting'],
    ['numbers and booleans bare', { level: 'info', msg: 'x', caller_pid: 42, ok: true }, 'level=info msg=x caller_pid=42 ok=true'],
    ['empty string quoted', { level: 'info', msg: 'x', a: '' }, 'level=info msg=x a=""'],
    ['quotes escaped', { level: 'info', msg: 'say "hi"' }, 'level=info msg="say \\"hi\\""'],
    ['list of scalars Go-style', { level: 'info', msg: 'x', selectors: ['unix:uid:0', 'unix:gid:0'] }, 'level=info msg=x selectors="[unix:uid:0 unix:gid:0]"'],
    ['object as JSON', { level: 'info', msg: 'x', o: { a: 1 } }, 'level=info msg=x o="{\\"a\\":1}"'],
    ['null', { level: 'info', msg: 'x', n: null }, 'level=info msg=x n=<nil>'],
    ['error object → its message', { level: 'error', msg: 'x', error: { type: 'Error', message: 'boom', stack: 'Error: boom\n at' } }, 'level=error msg=x error=boom'],
    ['safe characters unquoted', { level: 'info', msg: 'x', p: 'a-b._/@^+9' }, 'level=info msg=x p=a-b._/@^+9'],
  ])('%s', (_name, rec, want) => {
    expect(logfmtLine(JSON.stringify(rec))).toBe(want);
  });

  it('keeps a line it cannot parse, flagged', () => {
    expect(logfmtLine('not json')).toMatch(/^not json log_format_error="/);
  });

  it('logs errors by message (SPIRE\'s error field)', () => {
    const { logger, lines } = capture({ format: 'text', isTTY: false });
    logger.error({ error: new Error('disk full') }, 'Failed to write journal');
    expect(lines()).toEqual(['time="2026-11-25T02:00:00Z" level=error msg="Failed to write journal" error="disk full"']);
  });
});

describe('json format', () => {
  it('writes one JSON object per line with level label, ISO time and msg', () => {
    const { logger, lines } = capture({ format: 'JSON' });
    logger.info({ spiffe_id: 'spiffe://example.org/w' }, 'Fetched X509-SVID');
    expect(lines().map((l) => JSON.parse(l))).toEqual([
      { level: 'info', time: '2026-11-25T02:00:00.000Z', spiffe_id: 'spiffe://example.org/w', msg: 'Fetched X509-SVID' },
    ]);
  });

  it('serializes errors under error with type, message and stack', () => {
    const { logger, lines } = capture({ format: 'json' });
    logger.error(new Error('boom'), 'Failed');
    const rec = JSON.parse(lines()[0] ?? '') as { error: { type: string; message: string; stack: string } };
    expect(rec.error.type).toBe('Error');
    expect(rec.error.message).toBe('boom');
    expect(rec.error.stack).toContain('Error: boom');
  });
});

describe('levels', () => {
  it.each([
    ['DEBUG', ['debug', 'info', 'warn', 'error']],
    ['info', ['info', 'warn', 'error']],
    ['Warn', ['warn', 'error']],
    ['ERROR', ['error']],
  ])('%s (case-insensitive) filters lower levels', (level, want) => {
    const { logger, lines } = capture({ format: 'json', level });
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    expect(lines().map((l) => (JSON.parse(l) as { level: string }).level)).toEqual(want);
  });

  it('defaults to INFO and text', () => {
    const { logger, lines } = capture({ isTTY: false });
    logger.debug('hidden');
    logger.info('shown');
    expect(lines()).toEqual(['time="2026-11-25T02:00:00Z" level=info msg=shown']);
  });

  it('rejects unknown level and format names', () => {
    expect(() => parseLogLevel('VERBOSE')).toThrow(new TypeError('log: unknown log level "VERBOSE" (expected one of DEBUG, INFO, WARN, ERROR)'));
    expect(() => createLogger({ format: 'xml', destination: { write: () => undefined } })).toThrow(
      new TypeError('log: unknown log format "xml" (expected one of text, json)'),
    );
  });
});

describe('destinations', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    tmp = await makeTempDir('herald-log-');
  });
  afterEach(async () => {
    await tmp.cleanup();
  });

  it('appends to a file path (SPIRE log_file), synchronously, as plain text', async () => {
    const path = join(tmp.path, 'logs', 'server.log');
    const logger = createLogger({ destination: path, clock: new ManualClock(T0) });
    logger.info({ token: 'abc' }, 'one');
    logger.info('two');
    expect(await readFile(path, 'utf8')).toBe(
      'time="2026-11-25T02:00:00Z" level=info msg=one token="[redacted]"\ntime="2026-11-25T02:00:00Z" level=info msg=two\n',
    );
  });

  it('uses pretty output on a sink that reports a TTY', () => {
    const chunks: string[] = [];
    const logger = createLogger({ destination: { isTTY: true, write: (s: string) => void chunks.push(s) } });
    logger.info('hello');
    expect(chunks.join('')).toMatch(/INFO.*hello/);
    expect(chunks.join('')).toContain('\u001b['); // colours
  });

  it('rejects a destination without write()', () => {
    expect(() => createLogger({ destination: {} as never })).toThrow(TypeError);
  });
});

describe('source location (log_source_location, SPIRE\'s ReportCaller)', () => {
  it('adds the caller\'s file:line and function to every record', () => {
    const { logger, lines } = capture({ format: 'json', sourceLocation: true });
    function reportsHere(): void {
      logger.info('hello');
    }
    reportsHere();
    const rec = JSON.parse(lines()[0]!) as { file: string; func: string };
    expect(rec.file).toMatch(/\/test\/common\/log\.test\.ts:\d+$/);
    expect(rec.func).toBe('reportsHere');
  });

  it('is off by default', () => {
    const { logger, lines } = capture({ format: 'json' });
    logger.info('hello');
    expect(JSON.parse(lines()[0]!)).not.toHaveProperty('file');
  });
});
