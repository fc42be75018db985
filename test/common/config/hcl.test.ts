// HCL config files (issue 16): SPIRE's own server.conf and agent.conf load as
// they are, mapped onto the same schema as YAML, with problems at file:line.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentConfigSchema } from '../../../src/agent/config.ts';
import { ConfigError, formatProblem } from '../../../src/common/config/config-error.ts';
import { detectFormat } from '../../../src/common/config/hcl.ts';
import { loadConfigFile, parseConfig } from '../../../src/common/config/load.ts';
import { serverConfigSchema } from '../../../src/server/config.ts';
import { AGENT_BIN, ROOT, SERVER_BIN } from '../../helpers/herald.ts';
import { runCommand } from '../../helpers/process.ts';
import { spireBinaries } from '../../helpers/spire.ts';

const FIXTURES = join(ROOT, 'test/fixtures/spire-conf');
const SPIRE_SERVER_CONF = join(FIXTURES, 'server/server.conf');
const SPIRE_AGENT_CONF = join(FIXTURES, 'agent/agent.conf');

function problems(schema: typeof serverConfigSchema | typeof agentConfigSchema, text: string, filename = 'server.conf'): string[] {
  try {
    parseConfig(schema, text, { filename });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems.map(formatProblem);
  }
  throw new Error('expected a ConfigError');
}

const PLUGINS = `
plugins {
    DataStore "sql" {
        plugin_data {
            database_type = "sqlite3"
        }
    }
    KeyManager "memory" {
        plugin_data = {}
    }
}
`;

describe("SPIRE's shipped configs (v1.13.3)", () => {
  it('server.conf loads with every value in place', async () => {
    const c = await loadConfigFile(serverConfigSchema, SPIRE_SERVER_CONF);
    expect(c.server).toMatchObject({
      bind_address: '127.0.0.1',
      bind_port: 8081,
      socket_path: '/tmp/spire-server/private/api.sock',
      trust_domain: 'example.org',
      data_dir: './.data',
      log_level: 'DEBUG',
    });
    expect(c.plugins).toEqual({
      DataStore: { sql: { database_type: 'sqlite3', connection_string: './.data/datastore.sqlite3' } },
      KeyManager: { memory: {} },
      NodeAttestor: { join_token: {} },
      UpstreamAuthority: { disk: { key_file_path: './conf/server/dummy_upstream_ca.key', cert_file_path: './conf/server/dummy_upstream_ca.crt' } },
      Notifier: {},
      BundlePublisher: {},
      CredentialComposer: {},
    });
  });

  it('agent.conf loads with every value in place', async () => {
    const c = await loadConfigFile(agentConfigSchema, SPIRE_AGENT_CONF);
    expect(c.agent).toMatchObject({
      data_dir: './.data',
      log_level: 'DEBUG',
      server_address: '127.0.0.1',
      server_port: 8081,
      socket_path: '/tmp/spire-agent/public/api.sock',
      trust_bundle_path: './conf/agent/dummy_root_ca.crt',
      trust_domain: 'example.org',
    });
    expect(c.plugins).toEqual({ KeyManager: { disk: { directory: './.data' } }, NodeAttestor: { join_token: {} }, WorkloadAttestor: { unix: { discover_workload_path: false, workload_size_limit: 0 } }, SVIDStore: {} });
  });

  it('herald-server and herald-agent validate accept them and say what spire-server and spire-agent validate say', async () => {
    const spire = spireBinaries();
    for (const [herald, spireBin, conf] of [
      [SERVER_BIN, spire.server, SPIRE_SERVER_CONF],
      [AGENT_BIN, spire.agent, SPIRE_AGENT_CONF],
    ] as const) {
      const [h, s] = await Promise.all([
        runCommand(herald, ['validate', '-config', conf], { timeoutMs: 60_000 }),
        runCommand(spireBin, ['validate', '-config', conf], { timeoutMs: 60_000 }),
      ]);
      expect({ code: s.code, stdout: s.stdout }).toEqual({ code: 0, stdout: expect.stringMatching(/^SPIRE (server|agent) configuration file is valid\.\n$/) });
      expect({ code: h.code, stderr: h.stderr }).toEqual({ code: 0, stderr: '' });
      expect(h.stdout).toBe(s.stdout.replace('SPIRE', 'Herald'));
    }
  }, 120_000);
});

describe('HCL mapped onto the schema', () => {
  it('blocks, attributes, object values, lists, numbers, booleans, heredocs and all three comment styles', () => {
    const c = parseConfig(
      serverConfigSchema,
      `# hash comment
// slash comment
/* block
   comment */
server {
    trust_domain = "example.org"   # trailing
    bind_port = 9090               // trailing
    ca_ttl = "48h"
    jwt_issuer = <<EOT
https://issuer.example
EOT
    ca_subject = {
        country = ["US", "FR"]
        organization = ["SPIRE"]
        common_name = "ca \\"one\\""
    }
    federation {
        bundle_endpoint {
            address = "0.0.0.0"
            port = 8443
            refresh_hint = "10m"
            profile "https_spiffe" {}
        }
        federates_with "domain1.test" {
            bundle_endpoint_url = "https://1.2.3.4:8443"
            bundle_endpoint_profile "https_web" {}
        }
        federates_with "domain2.test" {
            bundle_endpoint_url = "https://5.6.7.8:8443"
            bundle_endpoint_profile "https_spiffe" {
                endpoint_spiffe_id = "spiffe://domain2.test/beserver"
            }
        }
    }
}
health_checks {
    listener_enabled = true
}
${PLUGINS}
plugins {
    NodeAttestor "join_token" {
        plugin_data {}
    }
    NodeAttestor "x509pop" {
        enabled = false
        plugin_data {
            ca_bundle_path = "/opt/ca.pem"
        }
    }
}
`,
      { filename: 'server.conf' },
    );
    expect(c.server).toMatchObject({
      trust_domain: 'example.org',
      bind_port: 9090,
      ca_ttl: 48 * 3_600_000,
      jwt_issuer: 'https://issuer.example\n',
      ca_subject: { country: ['US', 'FR'], organization: ['SPIRE'], common_name: 'ca "one"' },
      federation: {
        bundle_endpoint: { address: '0.0.0.0', port: 8443, refresh_hint: 600_000, profile: { https_spiffe: {} } },
        federates_with: {
          'domain1.test': { bundle_endpoint_url: 'https://1.2.3.4:8443', bundle_endpoint_profile: { https_web: {} } },
          'domain2.test': {
            bundle_endpoint_url: 'https://5.6.7.8:8443',
            bundle_endpoint_profile: { https_spiffe: { endpoint_spiffe_id: 'spiffe://domain2.test/beserver' } },
          },
        },
      },
    });
    expect(c.health_checks.listener_enabled).toBe(true);
    expect(c.plugins.NodeAttestor).toEqual({ join_token: {} });
    expect(c.plugins.KeyManager).toEqual({ memory: {} });
  });

  it('indented heredocs (<<-) drop the common indentation; escapes decode; ${…} stays as written', () => {
    const c = parseConfig(
      serverConfigSchema,
      `server {
    trust_domain = "example.org"
    jwt_issuer = <<-EOT
        line one
          line two
        EOT
    ca_subject {
        common_name = "tab\\there \\u00e9 \${NOT_EXPANDED}"
    }
}
${PLUGINS}`,
      { filename: 'server.conf' },
    );
    expect(c.server.jwt_issuer).toBe('line one\n  line two\n');
    expect(c.server.ca_subject?.common_name).toBe('tab\there é ${NOT_EXPANDED}');
  });

  it('-expandEnv expands $VAR in HCL before parsing, as SPIRE does', () => {
    const c = parseConfig(serverConfigSchema, `server {\n  trust_domain = "\${TD}"\n}\n${PLUGINS}`, {
      filename: 'server.conf',
      expandEnv: true,
      env: { TD: 'expanded.example' },
    });
    expect(c.server.trust_domain).toBe('expanded.example');
  });

  it('agent: retry_bootstrap (still documented by SPIRE 1.13) is accepted', () => {
    const c = parseConfig(
      agentConfigSchema,
      `agent {
    trust_domain = "example.org"
    insecure_bootstrap = true
    retry_bootstrap = true
}
plugins {
    KeyManager "memory" { plugin_data {} }
    NodeAttestor "join_token" { plugin_data {} }
    WorkloadAttestor "unix" { plugin_data {} }
}
`,
      { filename: 'agent.conf' },
    );
    expect(c.agent.retry_bootstrap).toBe(true);
  });

  it('is detected by content when the name does not tell', () => {
    expect(detectFormat('herald.cfg', '# comment\nserver {\n')).toBe('hcl');
    expect(detectFormat(undefined, '// c\nplugins {\n')).toBe('hcl');
    expect(detectFormat(undefined, 'NodeAttestor "join_token" {\n')).toBe('hcl');
    expect(detectFormat(undefined, 'trust_domain = "x"\n')).toBe('hcl');
    expect(detectFormat(undefined, '# comment\nserver:\n  a: 1\n')).toBe('yaml');
    expect(detectFormat(undefined, '{"server": {}}')).toBe('yaml');
    expect(detectFormat('server.conf', 'server:\n')).toBe('hcl');
    expect(detectFormat('server.yaml', 'server {\n')).toBe('yaml');
    const c = parseConfig(serverConfigSchema, `server {\n  trust_domain = "example.org"\n}\n${PLUGINS}`, { filename: 'herald.cfg' });
    expect(c.server.trust_domain).toBe('example.org');
  });
});

describe('HCL problems at file:line', () => {
  it('unknown keys, unsupported SPIRE keys and plugins, and type errors, each at its line', () => {
    expect(
      problems(
        serverConfigSchema,
        `server {
    trust_domain = "example.org"
    bind_prot = 8081
    profiling_enabled = true
    ca_ttl = 3600
    federation {
        bundle_endpoint {
            profile "https_web" {
                acme {
                    domain_name = "example.org"
                }
            }
        }
    }
}
plugins {
    DataStore "sql" { plugin_data { database_type = "sqlite3" } }
    KeyManager "aws_kms" {
        plugin_data { region = "us-east-2" }
    }
    Notifier "gcs_bundle" { plugin_data {} }
    NodeAttestor "join_token" {
        plugin_cmd = "/opt/plugin"
    }
}
telemetry {
    Statsd = [{ address = "localhost:8125" }]
}
`,
      ),
    ).toEqual([
      'server.conf:3 server.bind_prot: unknown key (did you mean "bind_port"?)',
      'server.conf:4 server.profiling_enabled: not supported by Herald: profiling is not implemented',
      'server.conf:5 server.ca_ttl: expected a duration such as "1h30m", got 3600',
      'server.conf:9 server.federation.bundle_endpoint.profile.https_web.acme: not supported by Herald: ACME is not implemented; use serving_cert_file',
      'server.conf:18 plugins.KeyManager.aws_kms: plugin not supported by Herald (supported: disk, memory)',
      'server.conf:21 plugins.Notifier.gcs_bundle: plugin not supported by Herald (supported: k8sbundle)',
      'server.conf:23 plugins.NodeAttestor.join_token.plugin_cmd: external plugins are not supported by Herald; remove plugin_cmd to use the built-in plugin',
      'server.conf:27 telemetry.Statsd: not supported by Herald: the Statsd sink is not implemented; use Prometheus',
    ]);
  });

  it('syntax errors name their line and column', () => {
    expect(problems(serverConfigSchema, 'server {\n  trust_domain = "example.org"\n  bind_port = \n}\n')).toEqual([
      'server.conf:3: hcl: syntax error at column 3: no value after "bind_port =" (found "}")',
    ]);
    expect(problems(serverConfigSchema, 'server {\n  trust_domain = "example.org"\n')).toEqual(['server.conf:3: hcl: syntax error at column 1: missing "}"']);
  });

  it('a key given twice, or the same plugin declared twice, is an error at the second', () => {
    expect(problems(serverConfigSchema, `server {\n  trust_domain = "a.org"\n  trust_domain = "b.org"\n}\n${PLUGINS}`)).toEqual([
      'server.conf:3 server.trust_domain: duplicate key (first at line 2)',
    ]);
    expect(
      problems(serverConfigSchema, `server {\n  trust_domain = "a.org"\n}\n${PLUGINS}plugins {\n  DataStore "sql" {\n    plugin_data {}\n  }\n}\n`),
    ).toEqual(['server.conf:16 plugins.DataStore.sql: DataStore "sql" declared more than once (first at line 6)']);
  });

  it('a YAML file named .conf, or SPIRE\'s HCL named .yaml, is refused with what to rename it to', () => {
    expect(problems(serverConfigSchema, 'server:\n  trust_domain: example.org\n', 'server.conf')).toEqual([
      'server.conf:1: hcl: syntax error at column 1: unexpected "server:"',
      'server.conf: the file is read as HCL for its .conf name, and it is YAML: name it .yaml',
    ]);
    expect(problems(serverConfigSchema, 'server {\n  trust_domain = "example.org"\n}\n', 'server.yaml')).toEqual([
      'server.yaml: the file is read as YAML for its .yaml name, and it is HCL: name it .conf or .hcl',
    ]);
  });

  it('expressions beyond literal values are refused with their line', () => {
    expect(problems(serverConfigSchema, `server {\n  trust_domain = "example.org"\n  data_dir = upper("x")\n}\n${PLUGINS}`)).toEqual([
      `server.conf:3 server.data_dir: unsupported HCL expression "upper(\\"x\\")": values are strings, numbers, booleans, lists and objects, as in SPIRE's HCL`,
    ]);
  });
});
