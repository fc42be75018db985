import { describe, expect, it } from 'vitest';
import { describeSchema, renderSchemaMarkdown, renderSchemaText } from '../../../src/common/config/describe.ts';
import { s } from '../../../src/common/config/schema.ts';
import { serverSchema } from './fixtures/server-schema.ts';

describe('describeSchema: the schema drives the docs and --help', () => {
  it('lists every key with type, default and description', () => {
    const rows = describeSchema(serverSchema);
    const byPath = new Map(rows.map((r) => [r.path, r]));
    expect(byPath.get('server.bind_port')).toEqual({
      path: 'server.bind_port',
      type: 'int (1..65535)',
      default: '8081',
      required: false,
      description: 'Port the agent API listens on',
    });
    expect(byPath.get('server.trust_domain')).toMatchObject({ type: 'string', default: undefined, required: true });
    expect(byPath.get('server.ca_ttl')).toMatchObject({ type: 'duration', default: '24h' });
    expect(byPath.get('server.ca_key_type')).toMatchObject({ type: 'ec-p256 | ec-p384 | rsa-2048 | rsa-4096', default: '"ec-p256"' });
    expect(byPath.get('server.ca_subject.organization')).toMatchObject({ type: 'list of string', default: '["SPIFFE"]' });
    expect(byPath.get('server.federation.federates_with')).toMatchObject({ type: 'map of section' });
    expect(byPath.get('server.federation.federates_with.<name>.bundle_endpoint_url')).toMatchObject({ required: true });
    expect(byPath.get('server.experimental')).toMatchObject({
      type: 'unsupported',
      description: 'Not supported by Herald: experimental SPIRE features are not implemented',
    });
    expect(byPath.get('plugins.KeyManager')).toMatchObject({ type: 'plugin type', description: 'Key storage (exactly one)' });
    expect(byPath.get('plugins.KeyManager.disk')).toMatchObject({ type: 'plugin', description: 'Keys on disk' });
    expect(byPath.get('plugins.KeyManager.disk.plugin_data.keys_path')).toMatchObject({ type: 'path', required: true });
    expect(byPath.get('plugins.NodeAttestor')).toMatchObject({ description: 'Node attestation (at least 1)' });
  });

  it('renders a Markdown table', () => {
    const md = renderSchemaMarkdown(s.section({ a: s.section({ port: s.int({ description: 'A port', default: 1 }), mode: s.enum(['x', 'y'], { description: 'Mode', required: true }) }, { description: 'Section A' }) }));
    expect(md).toBe(
      [
        '| Key | Type | Default | Description |',
        '|---|---|---|---|',
        '| `a` | section |  | Section A |',
        '| `a.port` | int | `1` | A port |',
        '| `a.mode` | x \\| y | (required) | Mode |',
        '',
      ].join('\n'),
    );
  });

  it('renders aligned help text', () => {
    const text = renderSchemaText(s.section({ agent: s.section({ server_port: s.int({ description: 'Server port', default: 8081 }), ttl: s.duration({ description: 'TTL', default: '5m' }) }, { description: 'Agent' }) }));
    expect(text).toBe(
      ['  agent              section   Agent', '  agent.server_port  int       Server port (default 8081)', '  agent.ttl          duration  TTL (default 5m)', ''].join('\n'),
    );
  });
});

describe('schema constructors reject misuse with TypeError', () => {
  it.each([
    ['missing description', () => s.string({ description: '' })],
    ['bad duration default', () => s.duration({ description: 'd', default: '5x' })],
    ['enum default not listed', () => s.enum(['a', 'b'], { description: 'e', default: 'c' as 'a' })],
    ['empty enum', () => s.enum([], { description: 'e' })],
    ['int default not an integer', () => s.int({ description: 'i', default: 1.5 })],
    ['field that is not a spec', () => s.section({ a: 1 as never })],
    ['plugin type that requires a plugin but has none', () => s.pluginType({ description: 't', min: 1, plugins: {} })],
  ])('%s', (_name, fn) => {
    expect(fn).toThrow(TypeError);
  });
});
