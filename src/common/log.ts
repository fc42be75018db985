// The root logger factory (pino). One root logger per process, a child per
// subsystem (`subsystem_name`, SPIRE's field), a child per request.
//   format json → pino JSON lines ({"level":"info","time":"…","msg":"…",…})
//   format text → pino-pretty with colours on a TTY; otherwise one
//                 logrus/SPIRE-style line per record:
//                 time="2026-11-25T02:00:00Z" level=info msg="X509 CA activated" slot=B
// Secrets are redacted by field name wherever they appear (see REDACT_KEYS).
// Only field values are redacted: never put a secret in the message.
import { createRequire } from 'node:module';
import { isatty } from 'node:tty';
import { pino } from 'pino';
import type { DestinationStream, Logger, LoggerOptions as PinoOptions } from 'pino';
import type { Clock } from './clock.ts';
import { LogField } from './log-fields.ts';

export type { Logger } from 'pino';

/** SPIRE's level names; input is case-insensitive. */
export const LOG_LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export const REDACTED = '[redacted]';

/** Field names whose values never reach a log, at any of the first four levels of nesting. */
export const REDACT_KEYS = [
  'private_key',
  'privateKey',
  'key',
  'key_pem',
  'token',
  'join_token',
  'joinToken',
  'jwt',
  'jwt_svid',
  'svid',
  'authorization',
  'csr',
  'password',
  'secret',
  'client_secret',
  'bearer',
] as const;

/** Anything with a synchronous-enough write (a stream, a SonicBoom, a test buffer). */
export interface LogSink {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
}

export interface CreateLoggerOptions {
  /** DEBUG | INFO | WARN | ERROR, any case. Default INFO. */
  readonly level?: string;
  /** text | json, any case. Default text. */
  readonly format?: string;
  /** A file descriptor, a file path (appended, SPIRE's log_file), or a sink. Default fd 2 (stderr, as logrus). */
  readonly destination?: number | string | LogSink;
  /** Overrides TTY detection of the destination (pretty output only on a TTY). */
  readonly isTTY?: boolean;
  /** Timestamps come from this clock when given (tests); otherwise pino's own. */
  readonly clock?: Clock;
  /** Fields bound to every record of the root logger. */
  readonly base?: Readonly<Record<string, unknown>>;
  /** SPIRE's log_source_location: every record carries `file` (path:line) and `func` of its caller. */
  readonly sourceLocation?: boolean;
}

export function parseLogLevel(text: string): LogLevel {
  const up = String(text).toUpperCase();
  const hit = LOG_LEVELS.find((l) => l === up);
  if (hit === undefined) throw new TypeError(`log: unknown log level ${JSON.stringify(text)} (expected one of ${LOG_LEVELS.join(', ')})`);
  return hit;
}

export function parseLogFormat(text: string): LogFormat {
  const low = String(text).toLowerCase();
  const hit = LOG_FORMATS.find((f) => f === low);
  if (hit === undefined) throw new TypeError(`log: unknown log format ${JSON.stringify(text)} (expected one of ${LOG_FORMATS.join(', ')})`);
  return hit;
}

const REDACT_SET: ReadonlySet<string> = new Set(REDACT_KEYS);
const REDACT_DEPTH = 4;

/**
 * A copy of `value` with every REDACT_KEYS field, at any of the first four
 * levels of nesting (arrays included), replaced by REDACTED. Objects without
 * such a field are returned as they are: one cheap walk per log call, where
 * pino's wildcard redaction paths cost more than the rest of the call.
 */
export function redactFields<T>(value: T, depth = REDACT_DEPTH): T {
  if (depth === 0 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    value.forEach((v, i) => {
      const r = redactFields(v, depth - 1);
      if (r !== v) (out ??= [...value])[i] = r;
    });
    return (out ?? value) as T;
  }
  if (value instanceof Error || Buffer.isBuffer(value)) return value;
  let out: Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(value)) {
    const r = REDACT_SET.has(k) ? REDACTED : redactFields(v, depth - 1);
    if (r !== v) (out ??= { ...(value as Record<string, unknown>) })[k] = r;
  }
  return (out ?? value) as T;
}

export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const level = parseLogLevel(options.level ?? 'INFO');
  const format = parseLogFormat(options.format ?? 'text');
  const { sink, tty } = resolveDestination(options.destination ?? 2);
  const isTTY = options.isTTY ?? tty;
  const clock = options.clock;
  const pinoOptions: PinoOptions = {
    level: level.toLowerCase(),
    base: options.base ? { ...options.base } : null,
    messageKey: 'msg',
    errorKey: LogField.Error,
    serializers: { [LogField.Error]: pino.stdSerializers.err, err: pino.stdSerializers.err },
    formatters: { level: (label) => ({ level: label }), log: (obj) => redactFields(obj) },
    // Top-level paths only (cheap): they also cover child-logger bindings,
    // which formatters.log does not see.
    redact: { paths: [...REDACT_KEYS], censor: REDACTED },
    timestamp: clock ? () => `,"time":"${new Date(clock.now()).toISOString()}"` : pino.stdTimeFunctions.isoTime,
    ...(options.sourceLocation ? { mixin: callerFields } : {}),
  };
  let stream: DestinationStream;
  if (format === 'json') {
    stream = sink;
  } else if (isTTY) {
    const pretty = prettyFactory()({ colorize: true, translateTime: 'SYS:standard', ignore: 'pid,hostname', errorLikeObjectKeys: ['err', 'error'] });
    stream = lineTransform(sink, (line) => pretty(line));
  } else {
    stream = lineTransform(sink, (line) => `${logfmtLine(line)}\n`);
  }
  return pino(pinoOptions, stream);
}

/**
 * The first stack frame outside the logging machinery (this module, pino,
 * node internals) as logrus's ReportCaller fields: file ("path:line") and func.
 */
function callerFields(): { file: string; func: string } | Record<string, never> {
  const stack = new Error().stack?.split('\n').slice(1) ?? [];
  for (const line of stack) {
    const m = /^\s*at (?:(.+?) \()?(?:file:\/\/)?(.+?):(\d+):\d+\)?$/.exec(line);
    if (!m) continue;
    const file = m[2]!;
    if (file.startsWith('node:') || file.includes('/node_modules/') || file.endsWith('/src/common/log.ts')) continue;
    return { file: `${file}:${m[3]}`, func: m[1] ?? '(anonymous)' };
  }
  return {};
}

// pino-pretty only for a terminal: daemons (no TTY) never load it (~10 MB RSS).
const require = createRequire(import.meta.url);
function prettyFactory(): typeof import('pino-pretty').prettyFactory {
  return (require('pino-pretty') as typeof import('pino-pretty')).prettyFactory;
}

/** `logger.child({ subsystem_name })`, SPIRE's per-component field. */
export function subsystemLogger(parent: Logger, name: string): Logger {
  return parent.child({ [LogField.SubsystemName]: name });
}

function resolveDestination(dest: number | string | LogSink): { sink: LogSink; tty: boolean } {
  if (typeof dest === 'number') return { sink: pino.destination({ dest, sync: true }), tty: isatty(dest) };
  if (typeof dest === 'string') return { sink: pino.destination({ dest, sync: true, mkdir: true, append: true }), tty: false };
  if (typeof dest?.write !== 'function') throw new TypeError('log: destination must be an fd, a path or have write()');
  return { sink: dest, tty: dest.isTTY === true };
}

/** A synchronous destination that reformats each JSON line pino writes. */
function lineTransform(sink: LogSink, format: (jsonLine: string) => string): DestinationStream {
  return {
    write(chunk: string): void {
      for (const line of chunk.split('\n')) {
        if (line !== '') sink.write(format(line));
      }
    },
  };
}

// ---- logrus-style text ------------------------------------------------------

const TEXT_LEVEL: Readonly<Record<string, string>> = { warn: 'warning' };

/**
 * One pino JSON record as a logrus TextFormatter line: time, level, msg, then
 * the other fields sorted by name; values quoted when they hold anything but
 * [A-Za-z0-9-._/@^+]. Unparseable input is kept, with a log_format_error field.
 */
export function logfmtLine(jsonLine: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(jsonLine) as Record<string, unknown>;
  } catch (err) {
    return `${jsonLine.trimEnd()} log_format_error=${quote(err instanceof Error ? err.message : String(err))}`;
  }
  if (typeof rec !== 'object' || rec === null) return jsonLine.trimEnd();
  const { time, level, msg, ...fields } = rec;
  const parts: string[] = [];
  if (time !== undefined) parts.push(`time=${quote(typeof time === 'string' ? time.replace(/\.\d+Z$/, 'Z') : String(time))}`);
  if (level !== undefined) parts.push(`level=${textValue(TEXT_LEVEL[String(level)] ?? level)}`);
  if (msg !== undefined && msg !== '') parts.push(`msg=${textValue(String(msg))}`);
  for (const key of Object.keys(fields).sort()) {
    const v = fields[key];
    const shown = (key === 'error' || key === 'err') && isErrorLike(v) ? v.message : v;
    parts.push(`${key}=${textValue(shown)}`);
  }
  return parts.join(' ');
}

function isErrorLike(v: unknown): v is { message: string } {
  return typeof v === 'object' && v !== null && typeof (v as { message?: unknown }).message === 'string';
}

function textValue(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'string') return needsQuoting(v) ? quote(v) : v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v) && v.every((x) => x === null || typeof x !== 'object')) {
    return textValue(`[${v.map((x) => String(x)).join(' ')}]`);
  }
  return quote(JSON.stringify(v));
}

function needsQuoting(s: string): boolean {
  return s === '' || !/^[A-Za-z0-9\-._/@^+]+$/.test(s);
}

function quote(s: string): string {
  return JSON.stringify(s);
}
