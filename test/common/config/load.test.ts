import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, formatProblem } from '../../../src/common/config/config-error.ts';
import { configFromOverrides, loadConfigFile, parseConfig } from '../../../src/common/config/load.ts';
import type { ParseConfigOptions } from '../../../src/common/config/load.ts';
import { flagOverrides } from '../../../src/common/config/merge.ts';
import { s } from '../../../src/common/config/schema.ts';
import { HeraldError } from '../../../src/common/errors.ts';
import { makeTempDir } from '../../helpers/tmp.ts';
import { goodServerYaml, minimalPlugins, serverSchema } from './fixtures/server-schema.ts';

function problemsOf(text: string, options: ParseConfigOptions = {}): string[] {
  const err = errorOf(() => parseConfig(serverSchema, text, { filename: 'server.yaml', ...options }));
  return err.problems.map(formatProblem);
}

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect(err).toBeInstanceOf(HeraldError);
    expect((err as ConfigError).code).toBe('ERR_CONFIG_INVALID');
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

const server = (body: string): string => `server:\n  trust_domain: example.org\n${body}${minimalPlugins}`;

describe('parseConfig: a valid file', () => {
  it('loads typed values, defaults, durations in ms and plugin data', () => {
    const c = parseConfig(serverSchema, goodServerYaml, { filename: 'server.yaml' });
    expect(c).toEqual({
      server: {
        bind_address: '127.0.0.1',
        bind_port: 8081,
        socket_path: '/tmp/herald-server/private/api.sock',
        trust_domain: 'example.org',
        data_dir: './.data',
        log_level: 'DEBUG',
        ca_key_type: 'ec-p256',
        ca_ttl: 12 * 3_600_000,
        default_x509_svid_ttl: 5_400_000,
        audit_log_enabled: false,
        ca_subject: { country: ['US'], organization: ['SPIFFE'], common_name: '' },
        federation: {
          federates_with: {
            'echo.example': {
              bundle_endpoint_url: 'https://127.0.0.1:8444',
              bundle_endpoint_profile: { https_spiffe: { endpoint_spiffe_id: 'spiffe://echo.example/spire/server' } },
            },
          },
        },
      },
      plugins: {
        DataStore: { sql: { database_type: 'sqlite3', connection_string: './.data/datastore.sqlite3' } },
        KeyManager: { disk: { keys_path: './.data/keys.json' } },
        NodeAttestor: { join_token: {} },
      },
    });
    expect(c.server.jwt_issuer).toBeUndefined();
    expect('experimental' in c.server).toBe(false);
  });

  it('returns a deep-frozen object', () => {
    const c = parseConfig(serverSchema, goodServerYaml);
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.server.ca_subject.country)).toBe(true);
    expect(Object.isFrozen(c.server.federation.federates_with['echo.example'])).toBe(true);
    expect(Object.isFrozen(c.plugins.KeyManager)).toBe(true);
    expect(() => {
      (c.server as { bind_port: number }).bind_port = 1;
    }).toThrow(TypeError);
  });

  it('accepts SPIRE JSON (YAML is a superset), including string ports as HCL writes them', () => {
    const json = JSON.stringify({
      server: { bind_port: '9090', trust_domain: 'example.org', ca_ttl: '1h', audit_log_enabled: 'true' },
      plugins: {
        DataStore: { sql: { plugin_data: { database_type: 'postgres', connection_string: 'dbname=x' } } },
        KeyManager: [{ memory: { plugin_data: {} } }],
        NodeAttestor: [{ join_token: { plugin_data: {} } }],
      },
    });
    const c = parseConfig(serverSchema, json, { filename: 'server.json' });
    expect(c.server.bind_port).toBe(9090);
    expect(c.server.ca_ttl).toBe(3_600_000);
    expect(c.server.audit_log_enabled).toBe(true);
    expect(c.plugins).toEqual({
      DataStore: { sql: { database_type: 'postgres', connection_string: 'dbname=x' } },
      KeyManager: { memory: {} },
      NodeAttestor: { join_token: {} },
    });
  });

  it('reports JSON problems with their line too', () => {
    const json = '{\n  "server": {\n    "trust_domain": "example.org",\n    "bind_prot": 1\n  }\n}\n';
    expect(problemsOf(json)).toEqual([
      'server.yaml:4 server.bind_prot: unknown key (did you mean "bind_port"?)',
      'server.yaml: plugins.DataStore: exactly one plugin must be configured, found none',
      'server.yaml: plugins.KeyManager: exactly one plugin must be configured, found none',
      'server.yaml: plugins.NodeAttestor: at least 1 plugin must be configured, found none',
    ]);
  });

  it('treats an empty value as absent (defaults apply)', () => {
    const c = parseConfig(serverSchema, server('  bind_port:\n  ca_subject:\n'));
    expect(c.server.bind_port).toBe(8081);
    expect(c.server.ca_subject.organization).toEqual(['SPIFFE']);
  });

  it('resolves YAML aliases', () => {
    const c = parseConfig(serverSchema, server('  ca_subject: &subj { country: [FR] }\n  federation:\n    federates_with: {}\n'));
    expect(c.server.ca_subject.country).toEqual(['FR']);
  });
});

describe('parseConfig: every problem, with file, line and key path', () => {
  const rows: { name: string; text: string; problems: string[] }[] = [
    {
      name: 'unknown top-level key',
      text: `${server('')}telemetry: {}\n`,
      problems: ['server.yaml:7 telemetry: unknown key'],
    },
    {
      name: 'unknown key with a near-miss suggestion',
      text: server('  bindPort: 1\n'),
      problems: ['server.yaml:3 server.bindPort: unknown key (did you mean "bind_port"?)'],
    },
    {
      name: 'nested unknown key',
      text: server('  ca_subject:\n    country: [US]\n    locality: [Paris]\n'),
      problems: ['server.yaml:5 server.ca_subject.locality: unknown key'],
    },
    {
      name: 'unknown key inside a map value (trust domain with a dot)',
      text: server('  federation:\n    federates_with:\n      a.org:\n        bundle_endpoint_url: https://a\n        refresh: 5m\n'),
      problems: ['server.yaml:7 server.federation.federates_with["a.org"].refresh: unknown key'],
    },
    {
      name: 'bad duration unit',
      text: server('  ca_ttl: 5x\n'),
      problems: ['server.yaml:3 server.ca_ttl: unknown unit "x" in duration "5x"'],
    },
    {
      name: 'duration without unit',
      text: server('  ca_ttl: "90"\n'),
      problems: ['server.yaml:3 server.ca_ttl: missing unit in duration "90"'],
    },
    {
      name: 'duration given as a number',
      text: server('  ca_ttl: 3600\n'),
      problems: ['server.yaml:3 server.ca_ttl: expected a duration such as "1h30m", got 3600'],
    },
    {
      name: 'negative duration',
      text: server('  ca_ttl: -1h\n'),
      problems: ['server.yaml:3 server.ca_ttl: must not be negative'],
    },
    {
      name: 'duration below its minimum',
      text: server('  default_x509_svid_ttl: 500ms\n'),
      problems: ['server.yaml:3 server.default_x509_svid_ttl: must be at least 1s'],
    },
    {
      name: 'int of the wrong type',
      text: server('  bind_port: eighty\n'),
      problems: ['server.yaml:3 server.bind_port: expected an integer, got "eighty"'],
    },
    {
      name: 'int out of range',
      text: server('  bind_port: 70000\n'),
      problems: ['server.yaml:3 server.bind_port: must be between 1 and 65535, got 70000'],
    },
    {
      name: 'float for an int',
      text: server('  bind_port: 80.5\n'),
      problems: ['server.yaml:3 server.bind_port: expected an integer, got 80.5'],
    },
    {
      name: 'string of the wrong type',
      text: server('  bind_address: [a]\n'),
      problems: ['server.yaml:3 server.bind_address: expected a string, got a list'],
    },
    {
      name: 'bool of the wrong type (YAML 1.2: yes is a string)',
      text: server('  audit_log_enabled: yes\n'),
      problems: ['server.yaml:3 server.audit_log_enabled: expected a boolean (true or false), got "yes"'],
    },
    {
      name: 'enum value not listed',
      text: server('  ca_key_type: ec-p521\n'),
      problems: ['server.yaml:3 server.ca_key_type: must be one of ec-p256, ec-p384, rsa-2048, rsa-4096, got "ec-p521"'],
    },
    {
      name: 'enum is case-sensitive unless declared otherwise',
      text: server('  ca_key_type: EC-P256\n'),
      problems: ['server.yaml:3 server.ca_key_type: must be one of ec-p256, ec-p384, rsa-2048, rsa-4096, got "EC-P256"'],
    },
    {
      name: 'list item of the wrong type',
      text: server('  ca_subject:\n    country:\n      - US\n      - 7\n'),
      problems: ['server.yaml:6 server.ca_subject.country[1]: expected a string, got 7'],
    },
    {
      name: 'section given a scalar',
      text: server('  ca_subject: US\n'),
      problems: ['server.yaml:3 server.ca_subject: expected a mapping, got "US"'],
    },
    {
      name: 'empty path',
      text: server('  data_dir: ""\n'),
      problems: ['server.yaml:3 server.data_dir: must not be empty'],
    },
    {
      name: 'required key missing points at its section',
      text: `server:\n  bind_port: 1\n${minimalPlugins}`,
      problems: ['server.yaml:1 server.trust_domain: must be specified'],
    },
    {
      name: 'required key missing with the section missing too',
      text: minimalPlugins,
      problems: ['server.yaml: server.trust_domain: must be specified'],
    },
    {
      name: 'key validator',
      text: server('  federation:\n    federates_with:\n      a/b: { bundle_endpoint_url: https://x }\n'),
      problems: ['server.yaml:5 server.federation.federates_with["a/b"]: not a trust domain name'],
    },
    {
      name: 'value validator',
      text: server('  federation:\n    federates_with:\n      b.org: { bundle_endpoint_url: http://x }\n'),
      problems: ['server.yaml:5 server.federation.federates_with["b.org"].bundle_endpoint_url: must be an https URL'],
    },
    {
      name: 'section validator issue located at its key',
      text: server('  bind_port: 8081\n  jwt_issuer: example\n'),
      problems: ['server.yaml:4 server.jwt_issuer: must be an https URL'],
    },
    {
      name: 'optional section present but empty (key with no value) counts as present',
      text: server('  federation:\n    federates_with:\n      b.org:\n        bundle_endpoint_url: https://x\n        bundle_endpoint_profile:\n          https_spiffe:\n'),
      problems: ['server.yaml:8 server.federation.federates_with["b.org"].bundle_endpoint_profile.https_spiffe.endpoint_spiffe_id: must be specified'],
    },
    {
      name: 'section validator (one-of)',
      text: server('  federation:\n    federates_with:\n      b.org:\n        bundle_endpoint_url: https://x\n        bundle_endpoint_profile: { https_web: {}, https_spiffe: { endpoint_spiffe_id: x } }\n'),
      problems: ['server.yaml:7 server.federation.federates_with["b.org"].bundle_endpoint_profile: exactly one of https_spiffe, https_web must be set'],
    },
    {
      name: 'SPIRE key Herald does not support',
      text: server('  experimental:\n    cache_reload_interval: 5s\n'),
      problems: ['server.yaml:3 server.experimental: not supported by Herald: experimental SPIRE features are not implemented'],
    },
    {
      name: 'non-string mapping key',
      text: server('  ca_subject:\n    [a]: 1\n'),
      problems: ['server.yaml:4 server.ca_subject: mapping keys must be strings'],
    },
    {
      name: 'several problems at once, in line order',
      text: `server:\n  bind_port: 0\n  ca_ttl: 1d\n  nope: 1\n${minimalPlugins}`,
      problems: [
        'server.yaml:1 server.trust_domain: must be specified',
        'server.yaml:2 server.bind_port: must be between 1 and 65535, got 0',
        'server.yaml:3 server.ca_ttl: unknown unit "d" in duration "1d"',
        'server.yaml:4 server.nope: unknown key',
      ],
    },
    {
      name: 'YAML syntax error',
      text: 'server:\n  trust_domain: "example.org\n',
      // yaml detects the unterminated scalar at the end of the input
      problems: ['server.yaml:3: yaml: Missing closing "quote'],
    },
    {
      name: 'duplicate key',
      text: 'server:\n  trust_domain: a\n  trust_domain: b\n',
      problems: ['server.yaml:3 server.trust_domain: yaml: duplicate key (first at line 2)'],
    },
    {
      name: 'more than one document',
      text: 'server: {}\n---\nserver: {}\n',
      problems: ['server.yaml:2: yaml: Source contains multiple documents; please use YAML.parseAllDocuments()'],
    },
    {
      name: 'document that is not a mapping',
      text: '- a\n- b\n',
      problems: ['server.yaml: expected a mapping, got a list'],
    },
  ];

  it.each(rows)('$name', ({ text, problems }) => {
    expect(problemsOf(text)).toEqual(problems);
  });

  it('puts every problem in the message, one per line', () => {
    const err = errorOf(() => parseConfig(serverSchema, `server:\n  bind_port: 0\n  nope: 1\n${minimalPlugins}`, { filename: 'server.yaml' }));
    expect(err.message).toBe(
      [
        'config: 3 problems:',
        '  server.yaml:1 server.trust_domain: must be specified',
        '  server.yaml:2 server.bind_port: must be between 1 and 65535, got 0',
        '  server.yaml:3 server.nope: unknown key',
      ].join('\n'),
    );
  });

  it('uses a one-line message for a single problem', () => {
    const err = errorOf(() => parseConfig(serverSchema, server('  nope: 1\n'), { filename: 'server.yaml' }));
    expect(err.message).toBe('config: server.yaml:3 server.nope: unknown key');
    expect(err.problems).toEqual([{ file: 'server.yaml', line: 3, path: 'server.nope', message: 'unknown key' }]);
  });
});

describe('parseConfig: -expandEnv', () => {
  const text = `server:\n  trust_domain: $TD\n  data_dir: \${DATA}/herald\n  jwt_issuer: https://\${MISSING}x\n${minimalPlugins}`;
  const env = { TD: 'env.example', DATA: '/var/lib' };

  it('expands $VAR and ${VAR} from the given env when asked; unset → empty', () => {
    const c = parseConfig(serverSchema, text, { expandEnv: true, env });
    expect(c.server.trust_domain).toBe('env.example');
    expect(c.server.data_dir).toBe('/var/lib/herald');
    expect(c.server.jwt_issuer).toBe('https://x');
  });

  it('leaves the text alone when not asked', () => {
    const c = parseConfig(serverSchema, text, { env });
    expect(c.server.trust_domain).toBe('$TD');
    expect(c.server.data_dir).toBe('${DATA}/herald');
  });

  it('needs an explicit env (never reads process.env)', () => {
    expect(() => parseConfig(serverSchema, text, { expandEnv: true })).toThrow(
      new TypeError('parseConfig: expandEnv needs options.env'),
    );
  });
});

describe('precedence: flags > file > defaults', () => {
  const mapping = { trustDomain: 'server.trust_domain', serverPort: 'server.bind_port', logLevel: 'server.log_level', ttl: 'server.ca_ttl' };

  const rows: {
    name: string;
    file: string;
    values: Record<string, unknown>;
    set: string[];
    want: { trust_domain: string; bind_port: number; log_level: string; ca_ttl: number };
  }[] = [
    {
      name: 'defaults only',
      file: server(''),
      values: {},
      set: [],
      want: { trust_domain: 'example.org', bind_port: 8081, log_level: 'INFO', ca_ttl: 86_400_000 },
    },
    {
      name: 'file over defaults',
      file: server('  bind_port: 9000\n  log_level: warn\n'),
      values: {},
      set: [],
      want: { trust_domain: 'example.org', bind_port: 9000, log_level: 'WARN', ca_ttl: 86_400_000 },
    },
    {
      name: 'flags over file',
      file: server('  bind_port: 9000\n  log_level: warn\n'),
      values: { serverPort: 7000, logLevel: 'error', trustDomain: 'flag.example', ttl: 60_000 },
      set: ['serverPort', 'logLevel', 'trustDomain', 'ttl'],
      want: { trust_domain: 'flag.example', bind_port: 7000, log_level: 'ERROR', ca_ttl: 60_000 },
    },
    {
      name: 'flags not given explicitly do not override the file',
      file: server('  bind_port: 9000\n'),
      values: { serverPort: 1234, logLevel: 'DEBUG' },
      set: [],
      want: { trust_domain: 'example.org', bind_port: 9000, log_level: 'INFO', ca_ttl: 86_400_000 },
    },
    {
      name: 'a flag supplies a required key the file lacks',
      file: `server:\n  bind_port: 9000\n${minimalPlugins}`,
      values: { trustDomain: 'flag.example', ttl: '2h' },
      set: ['trustDomain', 'ttl'],
      want: { trust_domain: 'flag.example', bind_port: 9000, log_level: 'INFO', ca_ttl: 7_200_000 },
    },
    {
      name: 'a flag creates a section the file lacks',
      file: minimalPlugins,
      values: { trustDomain: 'flag.example' },
      set: ['trustDomain'],
      want: { trust_domain: 'flag.example', bind_port: 8081, log_level: 'INFO', ca_ttl: 86_400_000 },
    },
  ];

  it.each(rows)('$name', ({ file, values, set, want }) => {
    const overrides = flagOverrides(values, new Set(set), mapping);
    const c = parseConfig(serverSchema, file, { overrides });
    expect({
      trust_domain: c.server.trust_domain,
      bind_port: c.server.bind_port,
      log_level: c.server.log_level,
      ca_ttl: c.server.ca_ttl,
    }).toEqual(want);
  });

  it('checks flag values with the schema and names the flag', () => {
    const overrides = flagOverrides({ serverPort: 0, logLevel: 'LOUD' }, new Set(['serverPort', 'logLevel']), mapping);
    expect(problemsOf(server(''), { overrides })).toEqual([
      'flag -serverPort (server.bind_port): must be between 1 and 65535, got 0',
      'flag -logLevel (server.log_level): must be one of DEBUG, INFO, WARN, ERROR, got "LOUD"',
    ]);
  });

  it('rejects an override path that is not in the schema (programmer error)', () => {
    expect(() => parseConfig(serverSchema, server(''), { overrides: [{ path: 'server.nope', value: 1 }] })).toThrow(
      new TypeError('config: override path "server.nope" is not in the schema'),
    );
  });

  it('configFromOverrides validates defaults plus overrides without a file', () => {
    const schema = s.section({
      agent: s.section({
        trust_domain: s.string({ description: 'td', required: true }),
        server_port: s.int({ description: 'port', default: 8081 }),
      }),
    });
    expect(configFromOverrides(schema, [{ path: ['agent', 'trust_domain'], value: 'x.org', flag: 'trustDomain' }])).toEqual({
      agent: { trust_domain: 'x.org', server_port: 8081 },
    });
    expect(errorOf(() => configFromOverrides(schema, [])).message).toBe('config: <defaults>: agent.trust_domain: must be specified');
  });
});

describe('loadConfigFile', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    tmp = await makeTempDir('herald-config-');
  });
  afterEach(async () => {
    await tmp.cleanup();
  });

  it('reads the file and names it in problems', async () => {
    const path = join(tmp.path, 'server.yaml');
    await writeFile(path, server('  bind_port: x\n'));
    const err = await loadConfigFile(serverSchema, path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toBe(`config: ${path}:3 server.bind_port: expected an integer, got "x"`);
    await writeFile(path, goodServerYaml);
    expect((await loadConfigFile(serverSchema, path)).server.trust_domain).toBe('example.org');
  });

  it('reports a missing file as a config error with its cause', async () => {
    const path = join(tmp.path, 'absent.yaml');
    const err = (await loadConfigFile(serverSchema, path).catch((e: unknown) => e)) as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.code).toBe('ERR_CONFIG_INVALID');
    expect(err.message).toBe(`config: ${path}: cannot read config file: ENOENT: no such file or directory, open '${path}'`);
    expect((err.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });

  it('reports a directory as unreadable', async () => {
    const dir = join(tmp.path, 'conf');
    await mkdir(dir);
    await chmod(dir, 0o755);
    const err = (await loadConfigFile(serverSchema, dir).catch((e: unknown) => e)) as ConfigError;
    expect(err.message).toMatch(/^config: .*conf: cannot read config file: EISDIR/);
  });
});
