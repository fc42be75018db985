import { describe, expect, it } from 'vitest';
import { ConfigError, formatProblem } from '../../../src/common/config/config-error.ts';
import { parseConfig } from '../../../src/common/config/load.ts';
import { serverSchema } from './fixtures/server-schema.ts';

const head = 'server:\n  trust_domain: example.org\n';
const ds = '  DataStore: { sql: { plugin_data: { database_type: sqlite3, connection_string: x } } }\n';
const km = '  KeyManager: { memory: {} }\n';
const na = '  NodeAttestor: { join_token: {} }\n';

function problems(text: string): string[] {
  try {
    parseConfig(serverSchema, text, { filename: 'server.yaml' });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems.map(formatProblem);
  }
  throw new Error('expected a ConfigError');
}

describe('plugins section', () => {
  const rows: { name: string; plugins: string; problems: string[] }[] = [
    {
      name: 'plugin Herald lacks',
      plugins: `${ds}${km}  NodeAttestor:\n    aws_iid:\n      plugin_data: { account_ids: ["1"] }\n`,
      problems: ['server.yaml:7 plugins.NodeAttestor.aws_iid: plugin not supported by Herald (supported: join_token)'],
    },
    {
      name: 'plugin type Herald lacks',
      plugins: `${ds}${km}${na}  Notifier:\n    k8sbundle: {}\n`,
      problems: ['server.yaml:7 plugins.Notifier: plugin type not supported by Herald (supported: DataStore, KeyManager, NodeAttestor)'],
    },
    {
      name: 'external plugin via plugin_cmd',
      plugins: `${ds}${km}  NodeAttestor:\n    join_token:\n      plugin_cmd: /opt/plugins/jt\n      plugin_checksum: abc\n`,
      problems: [
        'server.yaml:8 plugins.NodeAttestor.join_token.plugin_cmd: external plugins are not supported by Herald; remove plugin_cmd to use the built-in plugin',
        'server.yaml:9 plugins.NodeAttestor.join_token.plugin_checksum: applies to external plugins, which Herald does not support',
      ],
    },
    {
      name: 'plugin_data_file',
      plugins: `${ds}${km}  NodeAttestor:\n    join_token:\n      plugin_data_file: /etc/jt.hcl\n`,
      problems: ['server.yaml:8 plugins.NodeAttestor.join_token.plugin_data_file: not supported by Herald; put the settings in plugin_data'],
    },
    {
      name: 'unknown key in a declaration',
      plugins: `${ds}${km}  NodeAttestor:\n    join_token:\n      plugin_dat: {}\n`,
      problems: ['server.yaml:8 plugins.NodeAttestor.join_token.plugin_dat: unknown key (did you mean "plugin_data"?)'],
    },
    {
      name: 'unknown key in plugin_data',
      plugins: `  DataStore:\n    sql:\n      plugin_data:\n        database_type: sqlite3\n        connection_string: x\n        max_open_conns: 5\n${km}${na}`,
      problems: ['server.yaml:9 plugins.DataStore.sql.plugin_data.max_open_conns: unknown key'],
    },
    {
      name: 'wrong value in plugin_data',
      plugins: `  DataStore:\n    sql:\n      plugin_data:\n        database_type: mysql\n        connection_string: x\n${km}${na}`,
      problems: ['server.yaml:7 plugins.DataStore.sql.plugin_data.database_type: must be one of sqlite3, postgres, got "mysql"'],
    },
    {
      name: 'required plugin_data key missing',
      plugins: `  DataStore:\n    sql:\n      plugin_data: { database_type: sqlite3 }\n${km}${na}`,
      problems: ['server.yaml:6 plugins.DataStore.sql.plugin_data.connection_string: must be specified'],
    },
    {
      name: 'required plugin_data missing entirely points at the plugin',
      plugins: `${ds}  KeyManager:\n    disk: {}\n${na}`,
      problems: ['server.yaml:6 plugins.KeyManager.disk.plugin_data.keys_path: must be specified'],
    },
    {
      name: 'two plugins where exactly one is allowed',
      plugins: `${ds}  KeyManager:\n    memory: {}\n    disk: { plugin_data: { keys_path: k } }\n${na}`,
      problems: ['server.yaml:5 plugins.KeyManager: exactly one plugin may be configured, found 2 (memory, disk)'],
    },
    {
      name: 'required plugin type missing',
      plugins: `${ds}${na}`,
      problems: ['server.yaml:3 plugins.KeyManager: exactly one plugin must be configured, found none'],
    },
    {
      name: 'the only plugin of a required type disabled',
      plugins: `${ds}${km}  NodeAttestor:\n    join_token: { enabled: false }\n`,
      problems: ['server.yaml:6 plugins.NodeAttestor: at least 1 plugin must be configured, found none'],
    },
    {
      name: 'enabled not a boolean',
      plugins: `${ds}${km}  NodeAttestor:\n    join_token: { enabled: maybe }\n`,
      problems: ['server.yaml:7 plugins.NodeAttestor.join_token.enabled: expected a boolean (true or false), got "maybe"'],
    },
    {
      name: 'declaration that is not a mapping',
      plugins: `${ds}${km}  NodeAttestor:\n    join_token: yes\n`,
      problems: ['server.yaml:7 plugins.NodeAttestor.join_token: expected a mapping with plugin_data, got "yes"'],
    },
    {
      name: 'plugin type that is not a mapping',
      plugins: `${ds}${km}  NodeAttestor: join_token\n`,
      problems: ['server.yaml:6 plugins.NodeAttestor: expected a mapping of plugin names, got "join_token"'],
    },
    {
      name: 'list form declaring a plugin twice',
      plugins: `${ds}${km}  NodeAttestor:\n    - join_token: {}\n    - join_token: {}\n`,
      problems: ['server.yaml:8 plugins.NodeAttestor.join_token: plugin declared more than once'],
    },
  ];

  it.each(rows)('$name', ({ plugins, problems: want }) => {
    expect(problems(`${head}plugins:\n${plugins}`)).toEqual(want);
  });

  it('accepts enabled: false, even for a plugin Herald lacks or an external one, and leaves it out', () => {
    const text =
      `${head}plugins:\n${ds}${km}  NodeAttestor:\n    join_token: { enabled: true }\n` +
      '    aws_iid: { enabled: false, plugin_data: { account_ids: [x] } }\n    custom: { enabled: false, plugin_cmd: /x }\n';
    const c = parseConfig(serverSchema, text);
    expect(c.plugins.NodeAttestor).toEqual({ join_token: {} });
    expect(Object.keys(c.plugins.NodeAttestor)).toEqual(['join_token']);
  });

  it('accepts a declaration with no body (join_token:)', () => {
    const c = parseConfig(serverSchema, `${head}plugins:\n${ds}${km}  NodeAttestor:\n    join_token:\n`);
    expect(c.plugins.NodeAttestor).toEqual({ join_token: {} });
  });
});
