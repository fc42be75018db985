import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { agentConfigSchema, agentRunFlags, loadAgentConfig, STORED_BUNDLE_FILE } from '../../src/agent/config.ts';
import type { AgentRuntimeConfig, LoadAgentConfigOptions } from '../../src/agent/config.ts';
import { parseFlags } from '../../src/cli/flags.ts';
import { ConfigError, formatProblem } from '../../src/common/config/index.ts';
import { HeraldError } from '../../src/common/errors.ts';
import { SpiffeId } from '../../src/spiffe/id.ts';
import { TrustDomain } from '../../src/spiffe/trust-domain.ts';
import { renderConfigDocs } from '../../scripts/gen-config-docs.ts';
import { makeTempDir } from '../helpers/tmp.ts';

const REPO = join(import.meta.dirname, '..', '..');

/** The declared plugins of one type as `{ type: <name>, ...config }`. */
const pluginsOf = (c: AgentRuntimeConfig, type: string): Record<string, unknown>[] =>
  c.plugins.filter((p) => p.type === type).map((p) => ({ type: p.name, ...(p.config as object) }));

let tmp: { path: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  tmp = await makeTempDir('herald-acfg-');
});
afterEach(async () => {
  await tmp.cleanup();
});

const PLUGINS = `plugins:
  KeyManager: { memory: {} }
  NodeAttestor: { join_token: {} }
  WorkloadAttestor: { unix: {} }
`;
/** An agent config: trust_domain, insecure_bootstrap, then `body` (indented two spaces). Body starts on line 4. */
const withAgent = (body: string): string => `agent:\n  trust_domain: example.org\n  insecure_bootstrap: true\n${body}${PLUGINS}`;
/** As withAgent, without a bootstrap method. Body starts on line 3. */
const noBootstrap = (body: string): string => `agent:\n  trust_domain: example.org\n${body}${PLUGINS}`;

async function load(text: string, opts: Partial<LoadAgentConfigOptions> = {}): Promise<AgentRuntimeConfig> {
  await writeFile(join(tmp.path, 'agent.yaml'), text);
  return loadAgentConfig({ cwd: tmp.path, configPath: 'agent.yaml', ...opts });
}

async function problems(text: string, opts: Partial<LoadAgentConfigOptions> = {}): Promise<string[]> {
  const err = await load(text, opts).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  expect(err).toBeInstanceOf(HeraldError);
  expect((err as ConfigError).code).toBe('ERR_CONFIG_INVALID');
  return (err as ConfigError).problems.map(formatProblem);
}

describe('shipped conf/agent/agent.yaml', () => {
  it('loads, with insecure bootstrap and paths resolved against the working directory', async () => {
    const c = await loadAgentConfig({ cwd: tmp.path, configPath: join(REPO, 'conf/agent/agent.yaml') });
    expect(c.trustDomain.equals(TrustDomain.require('example.org'))).toBe(true);
    expect([c.serverAddress, c.serverPort, c.socketPath]).toEqual(['127.0.0.1', 8081, '/tmp/herald-agent/public/api.sock']);
    expect(c.dataDir).toBe(join(tmp.path, '.data'));
    expect(c.trustBootstrap).toEqual({ method: 'insecure_bootstrap' });
    expect(pluginsOf(c, 'KeyManager')).toEqual([{ type: 'disk', directory: join(tmp.path, '.data') }]);
    expect(pluginsOf(c, 'NodeAttestor')).toEqual([{ type: 'join_token' }]);
    expect(pluginsOf(c, 'WorkloadAttestor')).toEqual([{ type: 'unix', discoverWorkloadPath: false, workloadSizeLimit: 0 }]);
    expect(c.warnings).toEqual([]);
  });
});

describe('defaults', () => {
  it('fills every documented default and converts to runtime values', async () => {
    const c = await load(withAgent(''));
    expect(c).toEqual({
      configPath: join(tmp.path, 'agent.yaml'),
      trustDomain: TrustDomain.require('example.org'),
      serverAddress: '127.0.0.1',
      serverPort: 8081,
      socketPath: '/tmp/herald-agent/public/api.sock',
      adminSocketPath: undefined,
      dataDir: join(tmp.path, '.data'),
      log: { level: 'INFO', format: 'text', file: undefined, sourceLocation: false },
      trustBootstrap: { method: 'insecure_bootstrap' },
      joinToken: undefined,
      retryBootstrap: true,
      rebootstrapMode: 'never',
      rebootstrapDelayMs: 600_000,
      syncIntervalMs: 5_000,
      workloadX509SvidKeyType: 'ec-p256',
      sds: {
        defaultSvidName: 'default',
        defaultBundleName: 'ROOTCA',
        defaultAllBundlesName: 'ALL',
        disableSpiffeCertValidation: false,
        rootCaIncludesFederated: false,
        validatorByResource: {},
        authorizedPeersByResource: {},
        fileResources: { enabled: false, allowedDir: undefined },
      },
      authz: {
        enabled: false,
        socketPath: '/tmp/herald-agent/public/authz.sock',
        header: 'authorization',
        audiences: [],
        policyFile: undefined,
        injectAudience: undefined,
        stripToken: false,
        spiffeIdHeader: 'x-spiffe-id',
        trustDomainHeader: 'x-spiffe-trust-domain',
      },
      plugins: [
        { type: 'KeyManager', name: 'memory', config: {} },
        { type: 'NodeAttestor', name: 'join_token', config: {} },
        { type: 'WorkloadAttestor', name: 'unix', config: { discoverWorkloadPath: false, workloadSizeLimit: 0 } },
      ],
      endpointLimits: {
        connections: { maxConnections: 4096, maxConnectionsPerUid: 1024, firstRequestTimeoutMs: 10_000 },
        grpcOptions: { 'grpc.max_concurrent_streams': 1000, 'grpc.max_receive_message_length': 1024 * 1024, 'grpc.max_connection_idle_ms': 30 * 60_000 },
      },
      healthChecks: { listenerEnabled: false, bindAddress: 'localhost', bindPort: 8080, livePath: '/live', readyPath: '/ready' },
      telemetry: { prometheus: undefined, metricPrefix: 'spire_agent' },
      warnings: [],
    });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.sds.validatorByResource)).toBe(true);
    expect(Object.isFrozen(c.authz.audiences)).toBe(true);
  });
});

describe('trust bootstrap', () => {
  it('requires one method when data_dir holds no bundle (SPIRE wording)', async () => {
    expect(await problems(noBootstrap(''))).toEqual([
      'agent.yaml: agent: one of trust_bundle_path, trust_bundle_url or insecure_bootstrap must be set (data_dir holds no trust bundle yet)',
    ]);
  });

  it('needs none when data_dir already holds a bundle', async () => {
    await mkdir(join(tmp.path, 'state'));
    await writeFile(join(tmp.path, 'state', STORED_BUNDLE_FILE), Buffer.from([0x30, 0x00]));
    const c = await load(noBootstrap('  data_dir: state\n'));
    expect(c.trustBootstrap).toEqual({ method: 'stored_bundle' });
    const injected = await load(noBootstrap(''), { hasStoredBundle: async (dir) => dir === join(tmp.path, '.data') });
    expect(injected.trustBootstrap).toEqual({ method: 'stored_bundle' });
  });

  it('takes a bundle path (made absolute) or an https URL, with their format', async () => {
    expect((await load(noBootstrap('  trust_bundle_path: conf/bundle.pem\n'))).trustBootstrap).toEqual({
      method: 'trust_bundle_path',
      path: join(tmp.path, 'conf/bundle.pem'),
      format: 'pem',
    });
    expect((await load(noBootstrap('  trust_bundle_url: https://b.example/bundle\n  trust_bundle_format: spiffe\n'))).trustBootstrap).toEqual({
      method: 'trust_bundle_url',
      url: 'https://b.example/bundle',
      format: 'spiffe',
    });
  });

  it.each([
    ['insecure + path', '  insecure_bootstrap: true\n  trust_bundle_path: b.pem\n', 'agent.yaml:4 agent.trust_bundle_path: only one of insecure_bootstrap or trust_bundle_path can be specified, not both'],
    ['insecure + url', '  insecure_bootstrap: true\n  trust_bundle_url: https://b/\n', 'agent.yaml:4 agent.trust_bundle_url: only one of insecure_bootstrap or trust_bundle_url can be specified, not both'],
    ['path + url', '  trust_bundle_path: b.pem\n  trust_bundle_url: https://b/\n', 'agent.yaml:4 agent.trust_bundle_url: only one of trust_bundle_url or trust_bundle_path can be specified, not both'],
    ['all three', '  insecure_bootstrap: true\n  trust_bundle_path: b.pem\n  trust_bundle_url: https://b/\n', 'agent.yaml:1 agent: only one of insecure_bootstrap, trust_bundle_url, or trust_bundle_path can be specified, not the three options'],
    ['an http URL', '  trust_bundle_url: http://b/\n', 'agent.yaml:3 agent.trust_bundle_url: trust bundle URL must start with https://'],
    ['an unknown format', '  trust_bundle_path: b.pem\n  trust_bundle_format: der\n', 'agent.yaml:4 agent.trust_bundle_format: must be one of pem, spiffe, got "der"'],
  ])('rejects %s', async (_name, body, expected) => {
    expect(await problems(noBootstrap(body))).toEqual([expected]);
  });
});

describe('flags override the file', () => {
  it('applies only the flags given', async () => {
    await writeFile(join(tmp.path, 'agent.yaml'), withAgent('  server_address: 10.1.1.1\n  log_format: json\n'));
    const parsed = parseFlags(agentRunFlags, [
      '-config', 'agent.yaml', '-joinToken', 'tok-123', '-serverPort', '9001', '-socketPath', 'run/api.sock', '-trustDomain', 'other.org',
      '-dataDir', 'd', '-logLevel', 'warn', '-logSourceLocation', '-insecureBootstrap=false', '-trustBundle', 'b.pem', '-trustBundleFormat', 'spiffe',
    ]);
    if (parsed.help) throw new Error('unexpected help');
    const c = await loadAgentConfig({ cwd: tmp.path, flags: parsed });
    expect(c.joinToken).toBe('tok-123');
    expect([c.serverAddress, c.serverPort, c.socketPath, c.dataDir]).toEqual(['10.1.1.1', 9001, join(tmp.path, 'run/api.sock'), join(tmp.path, 'd')]);
    expect(c.trustDomain.name).toBe('other.org');
    expect(c.log).toEqual({ level: 'WARN', format: 'json', file: undefined, sourceLocation: true });
    expect(c.trustBootstrap).toEqual({ method: 'trust_bundle_path', path: join(tmp.path, 'b.pem'), format: 'spiffe' });
    expect(c.authz.socketPath).toBe(join(tmp.path, 'run/authz.sock'));
  });

  it('reports conflicts between a flag and the file', async () => {
    await writeFile(join(tmp.path, 'agent.yaml'), withAgent(''));
    const parsed = parseFlags(agentRunFlags, ['-config', 'agent.yaml', '-trustBundleUrl', 'https://b/']);
    if (parsed.help) throw new Error('unexpected help');
    const err = (await loadAgentConfig({ cwd: tmp.path, flags: parsed }).catch((e: unknown) => e)) as ConfigError;
    expect(err.problems.map(formatProblem)).toEqual([
      'flag -trustBundleUrl (agent.trust_bundle_url): only one of insecure_bootstrap or trust_bundle_url can be specified, not both',
    ]);
  });
});

describe('bootstrap keys (SPIRE 1.13 run.go)', () => {
  const flags = (args: string[]) => {
    const parsed = parseFlags(agentRunFlags, ['-config', 'agent.yaml', ...args]);
    if (parsed.help) throw new Error('unexpected help');
    return parsed;
  };
  const RETRY_DEPRECATED = "The 'retry_bootstrap' configuration is deprecated. It will be removed in SPIRE 1.14. Please test without the flag before upgrading.";

  it('join_token_file / -joinTokenFile: the token is read from the file, whitespace trimmed, relative to the working directory', async () => {
    await writeFile(join(tmp.path, 'token.txt'), '  tok-from-file\n');
    expect((await load(withAgent('  join_token_file: token.txt\n'))).joinToken).toBe('tok-from-file');
    await writeFile(join(tmp.path, 'agent.yaml'), withAgent(''));
    expect((await loadAgentConfig({ cwd: tmp.path, flags: flags(['-joinTokenFile', 'token.txt']) })).joinToken).toBe('tok-from-file');
  });

  it('a missing, unreadable or empty token file, or one given with a join token, is an error naming it', async () => {
    expect(await problems(withAgent('  join_token_file: nope.txt\n'))).toEqual([
      'agent.yaml: agent.join_token_file: unable to read join token file "nope.txt": open nope.txt: no such file or directory',
    ]);
    await mkdir(join(tmp.path, 'adir'));
    expect(await problems(withAgent('  join_token_file: adir\n'))).toEqual([
      'agent.yaml: agent.join_token_file: unable to read join token file "adir": read adir: illegal operation on a directory',
    ]);
    await writeFile(join(tmp.path, 'empty.txt'), ' \n\t\n');
    expect(await problems(withAgent('  join_token_file: empty.txt\n'))).toEqual(['agent.yaml: agent.join_token_file: join token file is empty: "empty.txt"']);
    await writeFile(join(tmp.path, 'agent.yaml'), withAgent(''));
    const err = (await loadAgentConfig({ cwd: tmp.path, flags: flags(['-joinTokenFile', 'nope.txt']) }).catch((e: unknown) => e)) as ConfigError;
    expect(err.problems.map(formatProblem)).toEqual(['flag -joinTokenFile (agent.join_token_file): unable to read join token file "nope.txt": open nope.txt: no such file or directory']);
    await writeFile(join(tmp.path, 'token.txt'), 'tok');
    expect(await problems(withAgent('  join_token: abc\n  join_token_file: token.txt\n'))).toEqual([
      'agent.yaml:5 agent.join_token_file: only one of join_token or join_token_file can be specified, not both',
    ]);
  });

  it('retry_bootstrap defaults to true; setting it (file or -retryBootstrap) logs SPIRE\'s deprecation warning', async () => {
    const plain = await load(withAgent(''));
    expect([plain.retryBootstrap, plain.warnings]).toEqual([true, []]);
    const off = await load(withAgent('  retry_bootstrap: false\n'));
    expect([off.retryBootstrap, off.warnings]).toEqual([false, [RETRY_DEPRECATED]]);
    await writeFile(join(tmp.path, 'agent.yaml'), withAgent('  retry_bootstrap: true\n'));
    const flagOff = await loadAgentConfig({ cwd: tmp.path, flags: flags(['-retryBootstrap=false']) });
    expect([flagOff.retryBootstrap, flagOff.warnings]).toEqual([false, [RETRY_DEPRECATED]]);
    await writeFile(join(tmp.path, 'agent.yaml'), withAgent(''));
    expect((await loadAgentConfig({ cwd: tmp.path, flags: flags([]) })).warnings).toEqual([]);
  });

  it('rebootstrap_mode: never (default), auto or always; rebootstrap_delay defaults to 10m; SPIRE\'s refusals with insecure_bootstrap and retry_bootstrap', async () => {
    const plain = await load(withAgent(''));
    expect([plain.rebootstrapMode, plain.rebootstrapDelayMs]).toEqual(['never', 600_000]);
    const bundle = join(tmp.path, 'root.pem');
    await writeFile(bundle, 'unused');
    const withBundle = (body: string): string => `agent:\n  trust_domain: example.org\n  trust_bundle_path: ${bundle}\n${body}${PLUGINS}`;
    for (const mode of ['never', 'auto', 'always'] as const) {
      const c = await load(withBundle(`  rebootstrap_mode: ${mode}\n  rebootstrap_delay: 30s\n`));
      expect([c.rebootstrapMode, c.rebootstrapDelayMs, c.warnings]).toEqual([mode, 30_000, []]);
    }
    await writeFile(join(tmp.path, 'agent.yaml'), withBundle(''));
    const flagged = await loadAgentConfig({ cwd: tmp.path, flags: flags(['-rebootstrapMode', 'always', '-rebootstrapDelay', '2m']) });
    expect([flagged.rebootstrapMode, flagged.rebootstrapDelayMs, flagged.warnings]).toEqual(['always', 120_000, []]);
    // SPIRE run.go's words.
    expect(await problems(withAgent('  rebootstrap_mode: auto\n'))).toEqual(['agent.yaml:4 agent.rebootstrap_mode: insecure_bootstrap option can not be used with rebootstrapping']);
    expect(await problems(withBundle('  rebootstrap_mode: always\n  retry_bootstrap: true\n'))).toEqual([
      'agent.yaml:5 agent.retry_bootstrap: you can not set retry_bootstrap when using reboostrap_mode',
    ]);
    // Re-bootstrapping removes the stored bundle: a bootstrap source is needed even when data_dir holds one.
    expect(await problems(noBootstrap('  rebootstrap_mode: auto\n'), { hasStoredBundle: async () => true })).toEqual([
      'agent.yaml:3 agent.rebootstrap_mode: trust_bundle_path or trust_bundle_url must be configured unless insecure_bootstrap is set',
    ]);
    expect((await problems(withAgent('  rebootstrap_mode: sometimes\n')))[0]).toMatch(/^agent\.yaml:4 agent\.rebootstrap_mode: .*never, auto, always/);
    expect((await problems(withAgent('  rebootstrap_delay: soon\n')))[0]).toMatch(/^agent\.yaml:4 agent\.rebootstrap_delay: /);
  });
});

describe('a SPIRE-style JSON config', () => {
  it('loads every key Herald supports', async () => {
    const spire = {
      agent: {
        data_dir: './.data',
        log_level: 'DEBUG',
        server_address: '127.0.0.1',
        server_port: '8081',
        socket_path: '/tmp/spire-agent/public/api.sock',
        trust_bundle_path: './conf/agent/dummy_root_ca.crt',
        trust_domain: 'example.org',
        workload_x509_svid_key_type: 'ec-p384',
        x509_svid_cache_max_size: 1000,
        allow_unauthenticated_verifiers: false,
        sds: { default_svid_name: 'default', default_bundle_name: 'ROOTCA', default_all_bundles_name: 'ALL', disable_spiffe_cert_validation: true },
        experimental: { sync_interval: '1s' },
      },
      plugins: {
        NodeAttestor: { join_token: { plugin_data: {} } },
        KeyManager: { disk: { plugin_data: { directory: './.data' } } },
        WorkloadAttestor: [{ unix: { plugin_data: { discover_workload_path: true, workload_size_limit: 1048576 } } }],
      },
      health_checks: { listener_enabled: true, bind_address: '0.0.0.0', bind_port: '8088', live_path: '/live', ready_path: '/ready' },
    };
    const c = await load(JSON.stringify(spire, null, 2));
    expect([c.log.level, c.serverPort, c.socketPath, c.workloadX509SvidKeyType, c.syncIntervalMs]).toEqual(['DEBUG', 8081, '/tmp/spire-agent/public/api.sock', 'ec-p384', 1_000]);
    expect(c.trustBootstrap).toEqual({ method: 'trust_bundle_path', path: join(tmp.path, 'conf/agent/dummy_root_ca.crt'), format: 'pem' });
    expect(c.sds.disableSpiffeCertValidation).toBe(true);
    expect(pluginsOf(c, 'KeyManager')).toEqual([{ type: 'disk', directory: join(tmp.path, '.data') }]);
    expect(pluginsOf(c, 'WorkloadAttestor')).toEqual([{ type: 'unix', discoverWorkloadPath: true, workloadSizeLimit: 1_048_576 }]);
    expect(c.healthChecks.bindPort).toBe(8088);
    expect(c.warnings).toEqual(['x509_svid_cache_max_size is accepted for SPIRE compatibility and ignored: Herald does not bound its SVID cache']);
  });
});

describe('problems', () => {
  it('an unknown key names the key and its line', async () => {
    expect(await problems(withAgent('  sds:\n    default_svid_nme: x\n'))).toEqual(['agent.yaml:5 agent.sds.default_svid_nme: unknown key (did you mean "default_svid_name"?)']);
  });

  it.each([
    ['a workload attestor Herald lacks', 'WorkloadAttestor: { docker: { plugin_data: { docker_socket_path: /run/docker.sock } } }', 'agent.yaml:7 plugins.WorkloadAttestor.docker: plugin not supported by Herald (supported: unix, k8s)'],
    ['k8s with both kubelet ports', 'WorkloadAttestor: { k8s: { plugin_data: { kubelet_read_only_port: 10255, kubelet_secure_port: 10250 } } }', 'agent.yaml:7 plugins.WorkloadAttestor.k8s.plugin_data: cannot use both the read-only and secure port'],
    ['k8s with a certificate but no key', 'WorkloadAttestor: { k8s: { plugin_data: { certificate_path: /c.pem } } }', 'agent.yaml:7 plugins.WorkloadAttestor.k8s.plugin_data: the private key path is required with the certificate path'],
    ['k8s sigstore', 'WorkloadAttestor: { k8s: { plugin_data: { experimental: { sigstore: {} } } } }', 'agent.yaml:7 plugins.WorkloadAttestor.k8s.plugin_data.experimental: not supported by Herald: sigstore image signature verification is not implemented'],
    ['x509pop without its certificate', 'NodeAttestor: { x509pop: { plugin_data: { private_key_path: k } } }', 'agent.yaml:6 plugins.NodeAttestor.x509pop.plugin_data.certificate_path: must be specified'],
    ['x509pop in "spiffe" mode', 'NodeAttestor: { x509pop: { plugin_data: { private_key_path: k, certificate_path: c, mode: spiffe } } }', 'agent.yaml:6 plugins.NodeAttestor.x509pop.plugin_data.mode: not supported by Herald: only the default "private" mode is implemented'],
    ['a workload attestor Herald lacks beside unix', 'WorkloadAttestor: { unix: {}, docker: {} }', 'agent.yaml:7 plugins.WorkloadAttestor.docker: plugin not supported by Herald (supported: unix, k8s)'],
    ['k8s_psat without its cluster', 'NodeAttestor: { k8s_psat: { plugin_data: { token_path: /t } } }', 'agent.yaml:6 plugins.NodeAttestor.k8s_psat.plugin_data.cluster: must be specified'],
  ])('rejects %s, naming the plugin', async (_name, line, expected) => {
    const type = line.slice(0, line.indexOf(':'));
    const text = withAgent('').replace(new RegExp(`^  ${type}:.*$`, 'm'), `  ${line}`);
    expect(await problems(text)).toEqual([expected]);
  });

  it('rejects an SVIDStore (a type with no built-in plugin yet), naming it', async () => {
    expect(await problems(`${withAgent('')}  SVIDStore: { aws_secretsmanager: { plugin_data: { region: us-east-1 } } }
`)).toEqual([
      'agent.yaml:8 plugins.SVIDStore.aws_secretsmanager: plugin not supported by Herald (supported: none)',
    ]);
  });

  it.each([
    ['authorized_delegates', '  authorized_delegates: ["spiffe://example.org/d"]\n', 'agent.yaml:4 agent.authorized_delegates: not supported by Herald: the Delegated Identity API is not implemented'],
    ['allow_unauthenticated_verifiers: true', '  allow_unauthenticated_verifiers: true\n', 'agent.yaml:4 agent.allow_unauthenticated_verifiers: not supported by Herald: unregistered callers never receive bundles'],
    ['a key type Herald lacks for workloads', '  workload_x509_svid_key_type: rsa-4096\n', 'agent.yaml:4 agent.workload_x509_svid_key_type: must be one of ec-p256, ec-p384, rsa-2048, got "rsa-4096"'],
    ['both sync intervals', '  sync_interval: 1s\n  experimental: { sync_interval: 2s }\n', 'agent.yaml:5 agent.experimental.sync_interval: set only one of sync_interval and experimental.sync_interval'],
    ['an empty join token', '  join_token: ""\n', 'agent.yaml:4 agent.join_token: must not be empty'],
    ['experimental feature flags', '  experimental: { feature_flags: [x] }\n', 'agent.yaml:4 agent.experimental.feature_flags: not supported by Herald: SPIRE feature flags do not apply to Herald'],
  ])('rejects %s', async (_name, body, expected) => {
    expect(await problems(withAgent(body))).toEqual([expected]);
  });

  it('rejects an admin socket beside the Workload API socket (as SPIRE)', async () => {
    expect(await problems(withAgent('  socket_path: /tmp/h/public/api.sock\n  admin_socket_path: /tmp/h/public/admin/admin.sock\n'))).toEqual([
      'agent.yaml: agent.admin_socket_path: admin socket cannot be in the same directory or a subdirectory as that containing the Workload API socket',
    ]);
    const c = await load(withAgent('  socket_path: /tmp/h/public/api.sock\n  admin_socket_path: /tmp/h/private/admin.sock\n'));
    expect(c.adminSocketPath).toBe('/tmp/h/private/admin.sock');
  });
});

describe('node attestor', () => {
  it('x509pop: key, certificate and intermediates paths, made absolute', async () => {
    const text = withAgent('').replace(/^  NodeAttestor:.*$/m, '  NodeAttestor: { x509pop: { plugin_data: { private_key_path: pop/node.key, certificate_path: pop/node.pem, intermediates_path: /etc/pop/inter.pem } } }');
    expect(pluginsOf(await load(text), 'NodeAttestor')[0]).toEqual({ type: 'x509pop', privateKeyPath: join(tmp.path, 'pop/node.key'), certificatePath: join(tmp.path, 'pop/node.pem'), intermediatesPath: '/etc/pop/inter.pem' });
  });
});

describe('sds and authz', () => {
  it('loads Herald\'s SDS extras as typed values', async () => {
    const c = await load(
      withAgent(
        [
          '  sds:',
          '    root_ca_includes_federated: true',
          '    validators: { ROOTCA: trusted_ca, ALL: spiffe }',
          '    authorized_peers:',
          '      ROOTCA: { ids: ["spiffe://example.org/front"], trust_domains: [partner.test], path_prefixes: [/ns/prod/] }',
          '    file_resources: { enabled: true, allowed_dir: ./certs }',
          '',
        ].join('\n'),
      ),
    );
    expect(c.sds.rootCaIncludesFederated).toBe(true);
    expect(c.sds.validatorByResource).toEqual({ ROOTCA: 'trusted_ca', ALL: 'spiffe' });
    expect(c.sds.authorizedPeersByResource).toEqual({
      ROOTCA: { ids: [SpiffeId.require('spiffe://example.org/front')], trustDomains: [TrustDomain.require('partner.test')], pathPrefixes: ['/ns/prod/'] },
    });
    expect(c.sds.fileResources).toEqual({ enabled: true, allowedDir: join(tmp.path, 'certs') });
  });

  it.each([
    ['an unknown validator', '  sds: { validators: { ROOTCA: pinned } }\n', 'agent.yaml:4 agent.sds.validators.ROOTCA: must be one of spiffe, trusted_ca, got "pinned"'],
    ['a bad peer ID', '  sds: { authorized_peers: { ROOTCA: { ids: ["spiffe://example.org/a", "http://x"] } } }\n', 'agent.yaml:4 agent.sds.authorized_peers.ROOTCA.ids: item 1: invalid SPIFFE ID "http://x": spiffeid: scheme is missing or invalid'],
    ['an empty peer list', '  sds: { authorized_peers: { ROOTCA: {} } }\n', 'agent.yaml:4 agent.sds.authorized_peers.ROOTCA: list at least one of ids, trust_domains, path_prefixes'],
    ['a relative path prefix', '  sds: { authorized_peers: { ROOTCA: { path_prefixes: [ns] } } }\n', 'agent.yaml:4 agent.sds.authorized_peers.ROOTCA.path_prefixes: item 0: must start with "/"'],
    ['file resources without allowed_dir', '  sds:\n    file_resources:\n      enabled: true\n', 'agent.yaml:5 agent.sds.file_resources.allowed_dir: must be specified when enabled is true'],
    ['authz without audiences', '  authz: { enabled: true }\n', 'agent.yaml:4 agent.authz.audiences: list at least one audience when enabled is true'],
  ])('rejects %s', async (_name, body, expected) => {
    expect(await problems(withAgent(body))).toEqual([expected]);
  });

  it('warns when the bundle and all-bundles resources share a name', async () => {
    const c = await load(withAgent('  sds: { default_all_bundles_name: ROOTCA }\n'));
    expect(c.warnings).toEqual([
      'The "default_bundle_name" and "default_all_bundles_name" configurables have the same value. "default_all_bundles_name" will be ignored. Please configure distinct values or use the defaults.',
    ]);
  });

  it('configures ext_authz with its own socket', async () => {
    const c = await load(withAgent('  authz: { enabled: true, audiences: [spiffe://example.org/api], header: X-JWT, socket_path: authz/ext.sock }\n'));
    expect(c.authz).toEqual({
      enabled: true,
      socketPath: join(tmp.path, 'authz/ext.sock'),
      header: 'x-jwt',
      audiences: ['spiffe://example.org/api'],
      policyFile: undefined,
      injectAudience: undefined,
      stripToken: false,
      spiffeIdHeader: 'x-spiffe-id',
      trustDomainHeader: 'x-spiffe-trust-domain',
    });
  });
});

describe('docs/config/agent.md', () => {
  it('is generated from the schema and up to date (npx node scripts/gen-config-docs.ts)', async () => {
    const expected = renderConfigDocs()['docs/config/agent.md'];
    expect(await readFile(join(REPO, 'docs/config/agent.md'), 'utf8')).toBe(expected);
    expect(expected).toContain('| `agent.sds.default_bundle_name` | string | `"ROOTCA"` |');
    expect(agentConfigSchema.fields.agent.fields.server_port.default).toBe(8081);
  });
});

describe('WorkloadAttestor "k8s"', () => {
  it('loads SPIRE\'s HCL as SPIRE users write it, with SPIRE\'s defaults', async () => {
    await writeFile(join(tmp.path, 'agent.conf'), `agent {
  trust_domain = "example.org"
  insecure_bootstrap = true
}
plugins {
  KeyManager "memory" { plugin_data {} }
  NodeAttestor "join_token" { plugin_data {} }
  WorkloadAttestor "k8s" {
    plugin_data {
      skip_kubelet_verification = true
      node_name_env = "MY_NODE_NAME"
      poll_retry_interval = "200ms"
    }
  }
}
`);
    const c = await loadAgentConfig({ cwd: tmp.path, configPath: 'agent.conf' });
    expect(pluginsOf(c, 'WorkloadAttestor')).toEqual([
      expect.objectContaining({ type: 'k8s', podSource: 'kubelet', secure: true, port: 10250, maxPollAttempts: 60, pollRetryIntervalMs: 200, skipKubeletVerification: true, nodeNameEnv: 'MY_NODE_NAME', reloadIntervalMs: 60_000, useNewContainerLocator: true }),
    ]);
  });

  it('the read-only port means plain HTTP; api_server takes a kubeconfig path relative to the working directory', async () => {
    const ro = await load(withAgent('').replace('WorkloadAttestor: { unix: {} }', 'WorkloadAttestor: { k8s: { plugin_data: { kubelet_read_only_port: 10255 } } }'));
    expect(pluginsOf(ro, 'WorkloadAttestor')[0]).toMatchObject({ secure: false, port: 10255 });
    const api = await load(withAgent('').replace('WorkloadAttestor: { unix: {} }', 'WorkloadAttestor: { k8s: { plugin_data: { pod_source: api_server, kube_config_file: kube/config, node_name: n1 } } }'));
    expect(pluginsOf(api, 'WorkloadAttestor')[0]).toMatchObject({ podSource: 'api_server', kubeConfigFile: join(tmp.path, 'kube/config'), nodeName: 'n1' });
  });
});
