import { describe, expect, it } from 'vitest';
import { defineFlags, FlagError, flagUsage, parseFlags } from '../../src/cli/flags.ts';
import { HeraldError } from '../../src/common/errors.ts';

// The flags of `herald-server entry create`-like command, SPIRE names.
const specs = defineFlags({
  spiffeID: { type: 'string', usage: 'The SPIFFE ID that this record represents' },
  parentID: { type: 'string', usage: 'The SPIFFE ID of this record\'s parent' },
  selector: { type: 'strings', usage: 'A colon-delimited type:value selector. Can be used more than once' },
  dns: { type: 'strings', usage: 'A DNS name to include in the SVID. Can be used more than once' },
  x509SVIDTTL: { type: 'duration', usage: 'The lifetime of the X509-SVID', default: '1h' },
  serverPort: { type: 'int', usage: 'Port of the server', default: 8081 },
  admin: { type: 'bool', usage: 'If set, the SPIFFE ID in this entry will be granted access to the admin API' },
  downstream: { type: 'bool', usage: 'A boolean value that, when set, indicates that the entry describes a downstream SPIRE server', default: true },
  socketPath: { type: 'string', usage: 'Path to the `path` of the admin socket', default: '/tmp/herald-server/private/api.sock' },
});

type Ok = Extract<ReturnType<typeof parseFlags<typeof specs>>, { help: false }>;

function ok(argv: string[]): Ok {
  const r = parseFlags(specs, argv, { command: 'entry create' });
  if (r.help) throw new Error('unexpected help');
  return r;
}

function failure(argv: string[]): FlagError {
  try {
    parseFlags(specs, argv, { command: 'entry create' });
  } catch (err) {
    expect(err).toBeInstanceOf(FlagError);
    expect(err).toBeInstanceOf(HeraldError);
    expect((err as FlagError).code).toBe('ERR_FLAG_INVALID');
    return err as FlagError;
  }
  throw new Error('expected a FlagError');
}

describe('parseFlags (Go flag package semantics)', () => {
  const rows: { name: string; argv: string[]; values: Partial<Ok['values']>; set: string[]; positionals?: string[] }[] = [
    { name: '-name value', argv: ['-spiffeID', 'spiffe://a/b'], values: { spiffeID: 'spiffe://a/b' }, set: ['spiffeID'] },
    { name: '-name=value', argv: ['-spiffeID=spiffe://a/b'], values: { spiffeID: 'spiffe://a/b' }, set: ['spiffeID'] },
    { name: '--name value', argv: ['--spiffeID', 'spiffe://a/b'], values: { spiffeID: 'spiffe://a/b' }, set: ['spiffeID'] },
    { name: '--name=value', argv: ['--spiffeID=spiffe://a/b'], values: { spiffeID: 'spiffe://a/b' }, set: ['spiffeID'] },
    { name: 'value containing =', argv: ['-selector=k8s:label:a=b'], values: { selector: ['k8s:label:a=b'] }, set: ['selector'] },
    { name: 'empty value with =', argv: ['-parentID='], values: { parentID: '' }, set: ['parentID'] },
    { name: 'value that starts with a dash', argv: ['-parentID', '-x'], values: { parentID: '-x' }, set: ['parentID'] },
    {
      name: 'repeatable flag',
      argv: ['-selector', 'unix:uid:0', '-dns', 'a.example', '-selector=unix:gid:0', '--dns', 'b.example'],
      values: { selector: ['unix:uid:0', 'unix:gid:0'], dns: ['a.example', 'b.example'] },
      set: ['selector', 'dns'],
    },
    { name: 'non-repeatable flag given twice: last wins', argv: ['-spiffeID', 'a', '-spiffeID', 'b'], values: { spiffeID: 'b' }, set: ['spiffeID'] },
    { name: 'bool alone is true', argv: ['-admin'], values: { admin: true, downstream: true }, set: ['admin'] },
    { name: 'bool =false', argv: ['-downstream=false'], values: { downstream: false }, set: ['downstream'] },
    { name: 'bool =0 / =T (strconv.ParseBool)', argv: ['-downstream=0', '-admin=T'], values: { downstream: false, admin: true }, set: ['downstream', 'admin'] },
    {
      name: 'bool does not consume the next argument',
      argv: ['-admin', 'false'],
      values: { admin: true },
      set: ['admin'],
      positionals: ['false'],
    },
    { name: 'int', argv: ['-serverPort', '9090'], values: { serverPort: 9090 }, set: ['serverPort'] },
    { name: 'negative int', argv: ['-serverPort=-1'], values: { serverPort: -1 }, set: ['serverPort'] },
    { name: 'duration in ms', argv: ['-x509SVIDTTL', '1h30m'], values: { x509SVIDTTL: 5_400_000 }, set: ['x509SVIDTTL'] },
    {
      name: 'defaults when absent',
      argv: [],
      values: {
        spiffeID: undefined,
        selector: [],
        x509SVIDTTL: 3_600_000,
        serverPort: 8081,
        admin: false,
        downstream: true,
        socketPath: '/tmp/herald-server/private/api.sock',
      },
      set: [],
    },
    {
      name: 'stops at the first positional',
      argv: ['-admin', 'show', '-spiffeID', 'x'],
      values: { admin: true, spiffeID: undefined },
      set: ['admin'],
      positionals: ['show', '-spiffeID', 'x'],
    },
    { name: '-- ends flags and is consumed', argv: ['-admin', '--', '-spiffeID'], values: { admin: true }, set: ['admin'], positionals: ['-spiffeID'] },
    { name: 'a lone - is positional', argv: ['-', '-admin'], values: { admin: false }, set: [], positionals: ['-', '-admin'] },
  ];

  it.each(rows)('$name', ({ argv, values, set, positionals = [] }) => {
    const r = ok(argv);
    expect(r.values).toMatchObject(values);
    expect([...r.set].sort()).toEqual([...set].sort());
    expect(r.positionals).toEqual(positionals);
  });

  it('types values from the specs', () => {
    const r = ok(['-spiffeID', 'a']);
    const sel: readonly string[] = r.values.selector;
    const ttl: number = r.values.x509SVIDTTL;
    const admin: boolean = r.values.admin;
    const id: string | undefined = r.values.spiffeID;
    // @ts-expect-error no default, so possibly undefined
    const strict: string = r.values.parentID;
    expect([sel, ttl, admin, id, strict]).toEqual([[], 3_600_000, false, 'a', undefined]);
  });

  it('returns frozen values', () => {
    const r = ok(['-selector', 'a']);
    expect(Object.isFrozen(r.values)).toBe(true);
    expect(Object.isFrozen(r.values.selector)).toBe(true);
    expect(Object.isFrozen(r.positionals)).toBe(true);
  });

  const known = '-admin, -dns, -downstream, -parentID, -selector, -serverPort, -socketPath, -spiffeID, -x509SVIDTTL';
  it.each([
    { argv: ['-spifeID', 'x'], message: `flags: flag provided but not defined: -spifeID (known flags: ${known})`, flag: 'spifeID' },
    { argv: ['--nope=1'], message: `flags: flag provided but not defined: -nope (known flags: ${known})`, flag: 'nope' },
    { argv: ['-spiffeID'], message: 'flags: flag needs an argument: -spiffeID', flag: 'spiffeID' },
    { argv: ['-serverPort', 'eighty'], message: 'flags: invalid value "eighty" for flag -serverPort: parse error', flag: 'serverPort' },
    { argv: ['-serverPort', '1.5'], message: 'flags: invalid value "1.5" for flag -serverPort: parse error', flag: 'serverPort' },
    {
      argv: ['-serverPort', '99999999999999999999'],
      message: 'flags: invalid value "99999999999999999999" for flag -serverPort: value out of range',
      flag: 'serverPort',
    },
    { argv: ['-x509SVIDTTL', '1d'], message: 'flags: invalid value "1d" for flag -x509SVIDTTL: unknown unit "d" in duration "1d"', flag: 'x509SVIDTTL' },
    { argv: ['-admin=yes'], message: 'flags: invalid boolean value "yes" for -admin: parse error', flag: 'admin' },
    { argv: ['---admin'], message: 'flags: bad flag syntax: ---admin', flag: undefined },
    { argv: ['-=x'], message: 'flags: bad flag syntax: -=x', flag: undefined },
  ])('rejects $argv: $message', ({ argv, message, flag }) => {
    const err = failure(argv);
    expect(err.message).toBe(message);
    expect(err.flag).toBe(flag);
    expect(err.usage).toBe(flagUsage(specs, { command: 'entry create' }));
  });

  it.each([['-h'], ['-help'], ['--help'], ['-admin', '-h', '-nope']])('%j asks for help', (...argv) => {
    const r = parseFlags(specs, argv, { command: 'entry create' });
    expect(r).toEqual({ help: true, usage: flagUsage(specs, { command: 'entry create' }) });
  });

  it('a command without flags says so', () => {
    expect(() => parseFlags({}, ['-x'])).toThrow('flags: flag provided but not defined: -x (this command takes no flags)');
  });

  it('rejects bad specs as misuse', () => {
    expect(() => defineFlags({ '-x': { type: 'bool', usage: 'x' } })).toThrow(TypeError);
    expect(() => parseFlags({ t: { type: 'duration', usage: 't', default: '5x' } }, [])).toThrow(TypeError);
  });
});

describe('flagUsage (Go PrintDefaults layout, from the specs)', () => {
  it('renders every flag sorted, with type names and non-zero defaults', () => {
    expect(flagUsage(specs, { command: 'entry create' })).toBe(
      [
        'Usage of entry create:',
        '  -admin',
        '    \tIf set, the SPIFFE ID in this entry will be granted access to the admin API',
        '  -dns value',
        '    \tA DNS name to include in the SVID. Can be used more than once',
        '  -downstream',
        '    \tA boolean value that, when set, indicates that the entry describes a downstream SPIRE server (default true)',
        '  -parentID string',
        "    \tThe SPIFFE ID of this record's parent",
        '  -selector value',
        '    \tA colon-delimited type:value selector. Can be used more than once',
        '  -serverPort int',
        '    \tPort of the server (default 8081)',
        '  -socketPath path',
        '    \tPath to the path of the admin socket (default "/tmp/herald-server/private/api.sock")',
        '  -spiffeID string',
        '    \tThe SPIFFE ID that this record represents',
        '  -x509SVIDTTL duration',
        '    \tThe lifetime of the X509-SVID (default 1h0m0s)',
        '',
      ].join('\n'),
    );
  });

  it('puts a one-letter boolean on one line, as Go does', () => {
    expect(flagUsage({ v: { type: 'bool', usage: 'Verbose' } })).toBe('Usage:\n  -v\tVerbose\n');
  });
});
