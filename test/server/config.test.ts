import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseFlags } from '../../src/cli/flags.ts';
import { ConfigError, formatProblem } from '../../src/common/config/index.ts';
import { HeraldError } from '../../src/common/errors.ts';
import { loadServerConfig, serverConfigSchema, serverRunFlags } from '../../src/server/config.ts';
import type { LoadServerConfigOptions, ServerRuntimeConfig } from '../../src/server/config.ts';
import { SpiffeId } from '../../src/spiffe/id.ts';
import { TrustDomain } from '../../src/spiffe/trust-domain.ts';
import { renderConfigDocs } from '../../scripts/gen-config-docs.ts';
import { makeTempDir } from '../helpers/tmp.ts';

const REPO = join(import.meta.dirname, '..', '..');

/** The declared plugins of one type as `{ type: <name>, ...config }`. */
const pluginsOf = (c: ServerRuntimeConfig, type: string): Record<string, unknown>[] =>
  c.plugins.filter((p) => p.type === type).map((p) => ({ type: p.name, ...(p.config as object) }));

let tmp: { path: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  tmp = await makeTempDir('herald-scfg-');
});
afterEach(async () => {
  await tmp.cleanup();
});

const PLUGINS = `plugins:
  DataStore: { sql: { plugin_data: { database_type: sqlite3 } } }
  KeyManager: { memory: {} }
  NodeAttestor: { join_token: { plugin_data: {} } }
`;
/** A config whose server section is the minimum plus `body` (indented two spaces). */
const withServer = (body: string): string => `server:\n  trust_domain: example.org\n${body}${PLUGINS}`;

async function load(text: string, opts: Partial<LoadServerConfigOptions> = {}): Promise<ServerRuntimeConfig> {
  const path = join(tmp.path, 'server.yaml');
  await writeFile(path, text);
  return loadServerConfig({ cwd: tmp.path, configPath: 'server.yaml', ...opts });
}

async function problems(text: string, opts: Partial<LoadServerConfigOptions> = {}): Promise<string[]> {
  const err = await load(text, opts).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  expect(err).toBeInstanceOf(HeraldError);
  expect((err as ConfigError).code).toBe('ERR_CONFIG_INVALID');
  return (err as ConfigError).problems.map(formatProblem);
}

describe('shipped conf/server/server.yaml', () => {
  it('loads, with paths resolved against the working directory', async () => {
    const c = await loadServerConfig({ cwd: tmp.path, configPath: join(REPO, 'conf/server/server.yaml') });
    expect(c.configPath).toBe(join(REPO, 'conf/server/server.yaml'));
    expect(c.trustDomain.equals(TrustDomain.require('example.org'))).toBe(true);
    expect([c.bindAddress, c.bindPort, c.socketPath]).toEqual(['0.0.0.0', 8081, '/tmp/herald-server/private/api.sock']);
    expect(c.dataDir).toBe(join(tmp.path, '.data'));
    expect(pluginsOf(c, 'DataStore')).toEqual([{ type: 'sql', databaseType: 'sqlite3', connectionString: join(tmp.path, '.data/datastore.sqlite3') }]);
    expect(pluginsOf(c, 'KeyManager')).toEqual([{ type: 'disk', keysPath: join(tmp.path, '.data/keys.json') }]);
    expect(pluginsOf(c, 'NodeAttestor')).toEqual([{ type: 'join_token' }]);
    expect(pluginsOf(c, 'UpstreamAuthority')).toEqual([]);
    expect(c.federation).toEqual({ bundleEndpoint: undefined, federatesWith: [] });
    expect(c.warnings).toEqual([]);
  });
});

describe('defaults', () => {
  it('fills every documented default and converts to runtime values', async () => {
    const c = await load(withServer(''));
    expect(c).toEqual({
      configPath: join(tmp.path, 'server.yaml'),
      trustDomain: TrustDomain.require('example.org'),
      bindAddress: '0.0.0.0',
      bindPort: 8081,
      socketPath: '/tmp/herald-server/private/api.sock',
      dataDir: join(tmp.path, '.data'),
      log: { level: 'INFO', format: 'text', file: undefined, sourceLocation: false },
      caKeyType: 'ec-p256',
      jwtKeyType: 'ec-p256',
      caTtlMs: 24 * 3_600_000,
      defaultX509SvidTtlMs: 3_600_000,
      defaultJwtSvidTtlMs: 300_000,
      agentTtlMs: 3_600_000,
      caSubject: { country: ['US'], organization: ['SPIFFE'], commonName: undefined },
      jwtIssuer: undefined,
      rateLimit: { attestation: true, signing: true },
      federation: { bundleEndpoint: undefined, federatesWith: [] },
      plugins: [
        { type: 'DataStore', name: 'sql', config: { databaseType: 'sqlite3', connectionString: join(tmp.path, '.data/datastore.sqlite3') } },
        { type: 'KeyManager', name: 'memory', config: {} },
        { type: 'NodeAttestor', name: 'join_token', config: {} },
        { type: 'CredentialComposer', name: 'uniqueid', config: {} },
      ],
      healthChecks: { listenerEnabled: false, bindAddress: 'localhost', bindPort: 8080, livePath: '/live', readyPath: '/ready' },
      telemetry: { prometheus: undefined, metricPrefix: 'spire_server' },
      auditLogEnabled: false,
      warnings: [],
    });
  });

  it('returns a deep-frozen config', async () => {
    const c = await load(withServer('  ca_subject: { country: [DE] }\n'));
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.caSubject.country)).toBe(true);
    expect(Object.isFrozen(c.plugins[0]!.config)).toBe(true);
    expect(() => {
      (c as { bindPort: number }).bindPort = 1;
    }).toThrow(TypeError);
  });

  it('derives jwt_key_type, agent_ttl, ca_subject and jwt_issuer from other keys', async () => {
    const c = await load(
      withServer('  ca_key_type: RSA-2048\n  default_x509_svid_ttl: 2h\n  ca_ttl: 48h\n  ca_subject: { common_name: Herald CA }\n  jwt_issuer: ""\n'),
    );
    expect(c.caKeyType).toBe('rsa-2048');
    expect(c.jwtKeyType).toBe('rsa-2048');
    expect(c.agentTtlMs).toBe(2 * 3_600_000);
    expect(c.caSubject).toEqual({ country: [], organization: [], commonName: 'Herald CA' });
    expect(c.jwtIssuer).toBeUndefined();
    const d = await load(withServer('  jwt_key_type: ec-p384\n  agent_ttl: 30m\n  jwt_issuer: https://oidc.example.org\n  ca_subject: {}\n'));
    expect([d.caKeyType, d.jwtKeyType, d.agentTtlMs, d.jwtIssuer]).toEqual(['ec-p256', 'ec-p384', 1_800_000, 'https://oidc.example.org']);
    expect(d.caSubject).toEqual({ country: ['US'], organization: ['SPIFFE'], commonName: undefined });
    expect(d.warnings).toEqual(['ca_subject configurable is set but empty; the default will be used']);
  });

  it('warns (as SPIRE) when an SVID TTL exceeds ca_ttl / 6', async () => {
    const c = await load(withServer('  ca_ttl: 6h\n  default_x509_svid_ttl: 2h\n'));
    expect(c.warnings).toEqual([
      'default_x509_svid_ttl is too high for the configured ca_ttl value. SVIDs with shorter lifetimes may be issued. ' +
        'Please set default_x509_svid_ttl to 1h or less, or the ca_ttl to 12h or more, to guarantee the full default_x509_svid_ttl lifetime when CA rotations are scheduled.',
    ]);
  });
});

describe('a SPIRE-style JSON config', () => {
  it('loads every key Herald supports, with HCL quirks (string ports, list-form plugins)', async () => {
    const spire = {
      server: {
        bind_address: '127.0.0.1',
        bind_port: '8081',
        socket_path: '/tmp/spire-server/private/api.sock',
        trust_domain: 'example.org',
        data_dir: './.data',
        log_level: 'DEBUG',
        log_format: 'json',
        ca_key_type: 'rsa-2048',
        ca_subject: { country: ['US'], organization: ['SPIFFE'], common_name: '' },
        ca_ttl: '168h',
        default_x509_svid_ttl: '48h',
        default_jwt_svid_ttl: '10m',
        audit_log_enabled: false,
        federation: {
          bundle_endpoint: { address: '0.0.0.0', port: 8443, refresh_hint: '10m', profile: { https_spiffe: {} } },
          federates_with: {
            'domain1.test': {
              bundle_endpoint_url: 'https://127.0.0.1:8444',
              bundle_endpoint_profile: { https_spiffe: { endpoint_spiffe_id: 'spiffe://domain1.test/spire/server' } },
            },
            'domain2.test': { bundle_endpoint_url: 'https://domain2.test/bundle', bundle_endpoint_profile: { https_web: {} } },
          },
        },
      },
      plugins: {
        DataStore: [{ sql: { plugin_data: { database_type: 'sqlite3', connection_string: './.data/datastore.sqlite3' } } }],
        NodeAttestor: { join_token: { plugin_data: {} } },
        KeyManager: { disk: { plugin_data: { keys_path: './.data/keys.json' } } },
        UpstreamAuthority: {
          disk: { plugin_data: { key_file_path: './conf/server/dummy_upstream_ca.key', cert_file_path: './conf/server/dummy_upstream_ca.crt' } },
        },
      },
      health_checks: { listener_enabled: true, bind_address: '0.0.0.0', bind_port: '8080', live_path: '/live', ready_path: '/ready' },
    };
    const c = await load(JSON.stringify(spire, null, 2));
    expect([c.bindAddress, c.bindPort, c.socketPath, c.log.level, c.log.format]).toEqual(['127.0.0.1', 8081, '/tmp/spire-server/private/api.sock', 'DEBUG', 'json']);
    expect([c.caKeyType, c.caTtlMs, c.defaultX509SvidTtlMs, c.defaultJwtSvidTtlMs]).toEqual(['rsa-2048', 168 * 3_600_000, 48 * 3_600_000, 600_000]);
    expect(c.caSubject).toEqual({ country: ['US'], organization: ['SPIFFE'], commonName: undefined });
    expect(c.federation.bundleEndpoint).toEqual({ address: '0.0.0.0', port: 8443, refreshHintMs: 600_000, profile: { type: 'https_spiffe' } });
    expect(c.federation.federatesWith).toEqual([
      {
        trustDomain: TrustDomain.require('domain1.test'),
        bundleEndpointUrl: 'https://127.0.0.1:8444',
        profile: { type: 'https_spiffe', endpointSpiffeId: SpiffeId.require('spiffe://domain1.test/spire/server') },
      },
      { trustDomain: TrustDomain.require('domain2.test'), bundleEndpointUrl: 'https://domain2.test/bundle', profile: { type: 'https_web' } },
    ]);
    expect(pluginsOf(c, 'DataStore')[0]!['connectionString']).toBe(join(tmp.path, '.data/datastore.sqlite3'));
    expect(pluginsOf(c, 'KeyManager')).toEqual([{ type: 'disk', keysPath: join(tmp.path, '.data/keys.json') }]);
    expect(pluginsOf(c, 'UpstreamAuthority')[0]).toEqual({
      type: 'disk',
      certFilePath: join(tmp.path, 'conf/server/dummy_upstream_ca.crt'),
      keyFilePath: join(tmp.path, 'conf/server/dummy_upstream_ca.key'),
      bundleFilePath: undefined,
    });
    expect(c.healthChecks).toEqual({ listenerEnabled: true, bindAddress: '0.0.0.0', bindPort: 8080, livePath: '/live', readyPath: '/ready' });
    // 48h > 168h / 6 = 28h
    expect(c.warnings).toHaveLength(1);
  });

  it('serves https_web from serving_cert_file and keeps postgres connection strings as given', async () => {
    const c = await load(
      withServer(
        '  federation:\n    bundle_endpoint:\n      profile:\n        https_web: { serving_cert_file: { cert_file_path: web.crt, key_file_path: /k/web.key } }\n',
      ).replace('database_type: sqlite3', 'database_type: postgres, connection_string: "dbname=herald host=db"'),
    );
    expect(c.federation.bundleEndpoint).toEqual({
      address: '0.0.0.0',
      port: 8443,
      refreshHintMs: 300_000,
      profile: { type: 'https_web', servingCertFile: { certFilePath: join(tmp.path, 'web.crt'), keyFilePath: '/k/web.key', fileSyncIntervalMs: 3_600_000 } },
    });
    expect(pluginsOf(c, 'DataStore')).toEqual([{ type: 'sql', databaseType: 'postgres', connectionString: 'dbname=herald host=db' }]);
  });
});

describe('problems are reported with file, line and key path', () => {
  it('an unknown key names the key and its line', async () => {
    expect(await problems(withServer('  bind_adress: 127.0.0.1\n  colour: blue\n'))).toEqual([
      'server.yaml:3 server.bind_adress: unknown key (did you mean "bind_address"?)',
      'server.yaml:4 server.colour: unknown key',
    ]);
    expect(await problems(`${withServer('')}extra: 1\n`)).toEqual(['server.yaml:7 extra: unknown key']);
  });

  it('lists every problem at once', async () => {
    expect(await problems('server:\n  bind_port: 70000\n  ca_ttl: 1d\nplugins: {}\n')).toEqual([
      'server.yaml:2 server.bind_port: must be between 1 and 65535, got 70000',
      'server.yaml:3 server.ca_ttl: unknown unit "d" in duration "1d"',
      'server.yaml:4 plugins.DataStore: exactly one plugin must be configured, found none',
      'server.yaml:4 plugins.KeyManager: exactly one plugin must be configured, found none',
      'server.yaml:1 server.trust_domain: must be specified',
    ].sort(byLine));
  });

  it.each([
    ['an invalid trust domain', '  trust_domain: Example.org\n', 'server.yaml:2 server.trust_domain: invalid trust domain "Example.org": spiffeid: trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores'],
    ['a key type SPIRE has but Herald lacks', '  ca_key_type: ec-p521\n', 'server.yaml:3 server.ca_key_type: must be one of ec-p256, ec-p384, rsa-2048, rsa-4096, got "ec-p521"'],
    ['admin_ids', '  admin_ids: ["spiffe://example.org/admin"]\n', 'server.yaml:3 server.admin_ids: not supported by Herald: admin SPIFFE IDs need the admin API over TLS; Herald serves it only on the admin socket'],
    ['ratelimit with an unknown key', '  ratelimit: { attestations: false }\n', 'server.yaml:3 server.ratelimit.attestations: unknown key (did you mean "attestation"?)'],
    ['experimental', '  experimental: { events_based_cache: true }\n', 'server.yaml:3 server.experimental: not supported by Herald: SPIRE experimental features are not implemented'],
    ['a too-short ca_ttl', '  ca_ttl: 5s\n', 'server.yaml:3 server.ca_ttl: must be at least 10s'],
  ])('rejects %s', async (_name, body, expected) => {
    const text = body.startsWith('  trust_domain') ? `server:\n${body}${PLUGINS}` : withServer(body);
    expect(await problems(text)).toEqual([expected]);
  });

  it('serves telemetry.Prometheus and rejects the push sinks by name', async () => {
    const c = await load(`${withServer('  audit_log_enabled: true\n')}telemetry:\n  Prometheus: { port: 9988 }\n  MetricPrefix: herald_server\n`);
    expect(c.telemetry).toEqual({ prometheus: { host: 'localhost', port: 9988 }, metricPrefix: 'herald_server' });
    expect(c.auditLogEnabled).toBe(true);
    expect(await problems(`${withServer('')}telemetry:\n  Prometheus: { host: localhost }\n  DogStatsd: [{ address: "localhost:8125" }]\n`)).toEqual([
      'server.yaml:8 telemetry.Prometheus.port: must be specified',
      'server.yaml:9 telemetry.DogStatsd: not supported by Herald: the DogStatsd sink is not implemented; use Prometheus',
    ]);
  });

  it('reports a missing config file as SPIRE does', async () => {
    const err = await loadServerConfig({ cwd: tmp.path, configPath: 'nope.yaml' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toBe(`config: nope.yaml: could not find config file ${join(tmp.path, 'nope.yaml')}: please use the -config flag`);
  });

  it('rejects a socket path too long for a Unix socket', async () => {
    const long = `/tmp/${'x'.repeat(120)}.sock`;
    expect(await problems(withServer(`  socket_path: ${long}\n`))).toEqual([
      `server.yaml: server.socket_path: socket path ${long} is too long (130 bytes; at most 107)`,
    ]);
  });
});

describe('plugins', () => {
  it.each([
    ['a plugin Herald lacks', 'KeyManager: { aws_kms: { plugin_data: { region: us-east-1 } } }', 'server.yaml:5 plugins.KeyManager.aws_kms: plugin not supported by Herald (supported: disk, memory)'],
    ['a plugin type Herald lacks', 'Authorizer: { opa: {} }', 'server.yaml:7 plugins.Authorizer: plugin type not supported by Herald (supported: DataStore, KeyManager, NodeAttestor, UpstreamAuthority, Notifier, BundlePublisher, CredentialComposer)'],
    ['a Notifier Herald lacks', 'Notifier: { gcs_bundle: {} }', 'server.yaml:7 plugins.Notifier.gcs_bundle: plugin not supported by Herald (supported: k8sbundle)'],
    ['k8sbundle with SPIRE\'s clusters list', 'Notifier: { k8sbundle: { plugin_data: { clusters: [] } } }', 'server.yaml:7 plugins.Notifier.k8sbundle.plugin_data.clusters: not supported by Herald: one cluster per k8sbundle notifier'],
    ['a CredentialComposer Herald lacks', 'CredentialComposer: { custom: {} }', 'server.yaml:7 plugins.CredentialComposer.custom: plugin not supported by Herald (supported: uniqueid, template, module)'],
    ['x509pop without a CA bundle', 'NodeAttestor: { x509pop: { plugin_data: {} } }', 'server.yaml:6 plugins.NodeAttestor.x509pop.plugin_data: one of ca_bundle_path or ca_bundle_paths is required'],
    ['x509pop with SPIRE\'s spiffe mode', 'NodeAttestor: { x509pop: { plugin_data: { ca_bundle_path: ca.pem, mode: spiffe } } }', 'server.yaml:6 plugins.NodeAttestor.x509pop.plugin_data.mode: not supported by Herald: only the default "private" mode (ca_bundle_path) is implemented'],
    ['a k8s_psat cluster without service accounts', 'NodeAttestor: { k8s_psat: { plugin_data: { clusters: { c1: { audience: [a] } } } } }', 'server.yaml:6 plugins.NodeAttestor.k8s_psat.plugin_data.clusters.c1.service_account_allow_list: the cluster configuration must have at least one service account allowed'],
    ['an external plugin', 'UpstreamAuthority: { disk: { plugin_cmd: /bin/x, plugin_data: { cert_file_path: a, key_file_path: b } } }', 'server.yaml:7 plugins.UpstreamAuthority.disk.plugin_cmd: external plugins are not supported by Herald; remove plugin_cmd to use the built-in plugin'],
    ['mysql', 'DataStore: { sql: { plugin_data: { database_type: mysql } } }', 'server.yaml:4 plugins.DataStore.sql.plugin_data.database_type: must be one of sqlite3, postgres, got "mysql"'],
    ['postgres without a connection string', 'DataStore: { sql: { plugin_data: { database_type: postgres } } }', 'server.yaml:4 plugins.DataStore.sql.plugin_data.connection_string: must be specified when database_type is postgres'],
  ])('rejects %s, naming it', async (_name, line, expected) => {
    const base = `server:\n  trust_domain: example.org\nplugins:\n  DataStore: { sql: {} }\n  KeyManager: { memory: {} }\n  NodeAttestor: { join_token: {} }\n`;
    // The plugin type's line is replaced in place (DataStore 4, KeyManager 5, NodeAttestor 6), other types go on line 7.
    const type = line.slice(0, line.indexOf(':'));
    const lines = base.split('\n');
    const at = lines.findIndex((l) => l.startsWith(`  ${type}:`));
    if (at === -1) lines.splice(lines.length - 1, 0, `  ${line}`);
    else lines[at] = `  ${line}`;
    const text = lines.join('\n');
    expect(await problems(text)).toEqual([expected]);
  });
});

describe('flags override the file', () => {
  it('applies only the flags given, and validates them as file values', async () => {
    await writeFile(join(tmp.path, 'server.yaml'), withServer('  bind_address: 10.0.0.1\n  log_level: WARN\n'));
    const parsed = parseFlags(serverRunFlags, [
      '-config', 'server.yaml', '-trustDomain', 'other.org', '-serverPort', '9000', '-dataDir', 'd', '-socketPath', 's/api.sock', '-logLevel', 'debug', '-logFormat', 'JSON', '-logSourceLocation',
    ]);
    if (parsed.help) throw new Error('unexpected help');
    const c = await loadServerConfig({ cwd: tmp.path, flags: parsed });
    expect(c.trustDomain.name).toBe('other.org');
    expect([c.bindAddress, c.bindPort, c.dataDir, c.socketPath]).toEqual(['10.0.0.1', 9000, join(tmp.path, 'd'), join(tmp.path, 's/api.sock')]);
    expect(c.log).toEqual({ level: 'DEBUG', format: 'json', file: undefined, sourceLocation: true });
  });

  it('names the flag when a flag value is invalid', async () => {
    await writeFile(join(tmp.path, 'server.yaml'), withServer(''));
    const parsed = parseFlags(serverRunFlags, ['-config', 'server.yaml', '-logLevel', 'loud', '-trustDomain', 'a/b']);
    if (parsed.help) throw new Error('unexpected help');
    const err = (await loadServerConfig({ cwd: tmp.path, flags: parsed }).catch((e: unknown) => e)) as ConfigError;
    expect(err.problems.map(formatProblem)).toEqual([
      'flag -trustDomain (server.trust_domain): invalid trust domain "a/b": spiffeid: trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores',
      'flag -logLevel (server.log_level): must be one of DEBUG, INFO, WARN, ERROR, got "loud"',
    ]);
  });

  it('expands environment variables only with -expandEnv', async () => {
    const text = 'server:\n  trust_domain: ${TD}\n' + PLUGINS;
    const env = { TD: 'env.example' };
    expect((await load(text, { expandEnv: true, env })).trustDomain.name).toBe('env.example');
    const parsed = parseFlags(serverRunFlags, ['-config', 'server.yaml', '-expandEnv']);
    if (parsed.help) throw new Error('unexpected help');
    expect((await loadServerConfig({ cwd: tmp.path, flags: parsed, env })).trustDomain.name).toBe('env.example');
    expect(await problems(text, { env })).toEqual([
      'server.yaml:2 server.trust_domain: invalid trust domain "${TD}": spiffeid: trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores',
    ]);
  });
});

describe('federates_with validation', () => {
  const rel = (td: string, url: string, profile: string): string =>
    `  federation:\n    federates_with:\n      "${td}":\n        bundle_endpoint_url: ${url}\n        bundle_endpoint_profile: ${profile}\n`;
  const spiffe = (id: string): string => `{ https_spiffe: { endpoint_spiffe_id: "${id}" } }`;
  const P = 'server.federation.federates_with';

  it.each([
    ['an http URL', rel('a.test', 'http://a.test/bundle', spiffe('spiffe://a.test/spire/server')), `server.yaml:6 ${P}["a.test"].bundle_endpoint_url: must use the HTTPS protocol; URL found: "http://a.test/bundle"`],
    ['a URL with userinfo', rel('a.test', 'https://u:p@a.test/', spiffe('spiffe://a.test/spire/server')), `server.yaml:6 ${P}["a.test"].bundle_endpoint_url: must not contain userinfo (user:password@)`],
    ['a URL that does not parse', rel('a.test', 'not a url', spiffe('spiffe://a.test/spire/server')), `server.yaml:6 ${P}["a.test"].bundle_endpoint_url: not a valid URL: "not a url"`],
    ['the own trust domain', rel('example.org', 'https://x/', spiffe('spiffe://example.org/spire/server')), `server.yaml:4 ${P}: "example.org" is this server's own trust domain; a server cannot federate with itself`],
    ['the own trust domain as a SPIFFE ID', rel('spiffe://example.org', 'https://x/', '{ https_web: {} }'), `server.yaml:4 ${P}: "spiffe://example.org" is this server's own trust domain; a server cannot federate with itself`],
    ['an invalid trust domain name', rel('A.test', 'https://x/', '{ https_web: {} }'), `server.yaml:5 ${P}["A.test"]: invalid trust domain "A.test": spiffeid: trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores`],
    ['a bad endpoint SPIFFE ID', rel('a.test', 'https://x/', spiffe('spiffe://a.test/../x')), `server.yaml:7 ${P}["a.test"].bundle_endpoint_profile.https_spiffe.endpoint_spiffe_id: invalid SPIFFE ID "spiffe://a.test/../x": spiffeid: path cannot contain dot segments`],
    ['an unknown profile', rel('a.test', 'https://x/', '{ https_spiffy: {} }'), `server.yaml:7 ${P}["a.test"].bundle_endpoint_profile.https_spiffy: unknown bundle endpoint profile "https_spiffy"; supported profiles are "https_spiffe" and "https_web"`],
    ['two profiles', rel('a.test', 'https://x/', `{ https_web: {}, https_spiffe: { endpoint_spiffe_id: "spiffe://a.test/s" } }`), `server.yaml:7 ${P}["a.test"].bundle_endpoint_profile: exactly one bundle endpoint profile is expected, found 2 (https_web, https_spiffe)`],
    ['no profile', '  federation:\n    federates_with:\n      a.test: { bundle_endpoint_url: "https://x/" }\n', `server.yaml:5 ${P}["a.test"].bundle_endpoint_profile: must be specified: one of https_spiffe { endpoint_spiffe_id } or https_web {}`],
    ['https_spiffe without endpoint_spiffe_id', rel('a.test', 'https://x/', '{ https_spiffe: {} }'), `server.yaml:7 ${P}["a.test"].bundle_endpoint_profile.https_spiffe.endpoint_spiffe_id: must be specified`],
    ['https_web with endpoint_spiffe_id', rel('a.test', 'https://x/', '{ https_web: { endpoint_spiffe_id: "spiffe://a.test/s" } }'), `server.yaml:7 ${P}["a.test"].bundle_endpoint_profile.https_web.endpoint_spiffe_id: only applies to the https_spiffe profile`],
    ['no bundle_endpoint_url', '  federation:\n    federates_with:\n      a.test: { bundle_endpoint_profile: { https_web: {} } }\n', `server.yaml:5 ${P}["a.test"].bundle_endpoint_url: must be specified`],
    ['a trust domain named twice', `${rel('a.test', 'https://x/', '{ https_web: {} }')}      "spiffe://a.test":\n        bundle_endpoint_url: https://y/\n        bundle_endpoint_profile: { https_web: {} }\n`, `server.yaml:4 ${P}: "spiffe://a.test" and "a.test" name the same trust domain`],
  ])('rejects %s', async (_name, body, expected) => {
    expect(await problems(withServer(body))).toEqual([expected]);
  });

  it.each([
    ['two profiles', '{ https_spiffe: {}, https_web: { serving_cert_file: { cert_file_path: a, key_file_path: b } } }', 'server.yaml:6 server.federation.bundle_endpoint.profile: exactly one bundle endpoint profile is expected ("https_spiffe" or "https_web"), found 2'],
    ['https_web without serving_cert_file', '{ https_web: {} }', "server.yaml:6 server.federation.bundle_endpoint.profile.https_web: malformed https_web profile configuration: 'serving_cert_file' is required"],
    ['ACME', '{ https_web: { acme: { domain_name: x } } }', 'server.yaml:6 server.federation.bundle_endpoint.profile.https_web.acme: not supported by Herald: ACME is not implemented; use serving_cert_file'],
    ['an unknown serving profile', '{ https_spiffy: {} }', 'server.yaml:6 server.federation.bundle_endpoint.profile.https_spiffy: unknown key (did you mean "https_spiffe"?)'],
  ])('rejects a bundle endpoint with %s', async (_name, profile, expected) => {
    expect(await problems(withServer(`  federation:\n    bundle_endpoint:\n      port: 8443\n      profile: ${profile}\n`))).toEqual([expected]);
  });

  it('warns about refresh hints SPIRE warns about', async () => {
    const c = await load(withServer('  federation:\n    bundle_endpoint: { refresh_hint: 30s }\n'));
    expect(c.federation.bundleEndpoint?.refreshHintMs).toBe(30_000);
    expect(c.warnings).toEqual(['Bundle endpoint refresh hint set below 1 minute: SPIRE consumers will not refresh more often than that (Herald consumers refresh down to 1 second)']);
  });
});

describe('docs/config/server.md', () => {
  it('is generated from the schema and up to date (npx node scripts/gen-config-docs.ts)', async () => {
    const expected = renderConfigDocs()['docs/config/server.md'];
    expect(await readFile(join(REPO, 'docs/config/server.md'), 'utf8')).toBe(expected);
    expect(expected).toContain('| `server.trust_domain` | string | (required) | The trust domain this server is the authority for |');
    expect(serverConfigSchema.fields.server.fields.bind_port.default).toBe(8081);
  });
});

function byLine(a: string, b: string): number {
  const n = (s: string): number => Number(/^server\.yaml:(\d+)/.exec(s)?.[1] ?? Infinity);
  return n(a) - n(b);
}

describe('controller_manager', () => {
  it('is off without the section; on with defaults as spire-controller-manager\'s', async () => {
    expect((await load(withServer(''))).controllerManager).toBeUndefined();
    const c = await load(`${withServer('')}controller_manager:\n  cluster_name: mycluster\n  kube_config_file: kube/config\n`);
    expect(c.controllerManager).toEqual({
      clusterName: 'mycluster',
      clusterDomain: '',
      kubeConfigFile: join(tmp.path, 'kube/config'),
      parentIdTemplate: 'spiffe://{{ .TrustDomain }}/spire/agent/k8s_psat/{{ .ClusterName }}/{{ .NodeMeta.UID }}',
      entryIdPrefix: 'mycluster',
      className: '',
      watchClassless: false,
      ignoreNamespaces: ['kube-system', 'kube-public', 'spire-system'],
      gcIntervalMs: 10_000,
    });
  });

  it.each([
    ['no cluster name', '  cluster_domain: cluster.local\n', 'server.yaml:7 controller_manager.cluster_name: must be specified'],
    ['a template that does not parse', '  cluster_name: c\n  parent_id_template: "spiffe://x/{{ .NodeMeta.Name"\n', 'server.yaml:9 controller_manager.parent_id_template: template: parent_id_template: unclosed action'],
    ['an entry ID prefix with a dot', '  cluster_name: c\n  entry_id_prefix: a.b\n', 'server.yaml:9 controller_manager.entry_id_prefix: only letters, digits, `-` and `_`'],
    ['an ignored namespace that is no regular expression', '  cluster_name: c\n  ignore_namespaces: ["kube-(system"]\n', 'server.yaml:9 controller_manager.ignore_namespaces: unable to compile ignore namespaces regex: Invalid regular expression: /kube-(system/: Unterminated group'],
  ])('rejects %s', async (_name, body, expected) => {
    expect(await problems(`${withServer('')}controller_manager:\n${body}`)).toEqual([expected]);
  });
});
