// Config files (YAML, JSON, HCL) through the whole load pipeline of both
// binaries (parse → validate → runtime config): only ConfigError escapes,
// whatever the text, and no load hangs. Seeds: Herald's shipped configs and
// SPIRE v1.13.3's own agent.conf/server.conf.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadAgentConfig } from '../../src/agent/config.ts';
import { ConfigError } from '../../src/common/config/index.ts';
import { loadServerConfig } from '../../src/server/config.ts';
import { ROOT } from '../helpers/herald.ts';
import { fuzzParams, mutatedText, typedOutcomeAsync } from './fuzz-params.ts';

const read = (p: string): string => readFileSync(join(ROOT, p), 'utf8');
const YAML_SPECIALS = [':', ': ', '- ', '{', '}', '[', ']', '&a ', '*a', '<<: *a', '!!str ', '!!binary ', '"', "'", '\n', '\n  ', '\t', '#', '|', '>', '~', '---\n', '...', '%YAML 1.1\n', '1e999', '0x', '-0', '.inf', '${HOME}', '\u0000', '\ufeff'];
const HCL_SPECIALS = ['{', '}', '=', '"', '\n', '#', '//', '/*', '*/', '${', '<<EOF\n', '\nEOF\n', '[', ']', ',', '\\', '\\u', 'plugin_data', 'plugins', '"a" "b"', '\u0000', '1e999'];

describe('fuzz: config files (YAML, JSON, HCL)', () => {
  let yamlSeeds: string[] = [];
  let hclSeeds: string[] = [];

  beforeAll(async () => {
    const yamls = [read('conf/agent/agent.yaml'), read('conf/server/server.yaml'), read('demo/compose/web-agent.yaml'), read('demo/compose/echo-server.yaml')];
    yamlSeeds = [...yamls, ...yamls.map((y) => JSON.stringify(parseYaml(y), null, 1))];
    hclSeeds = [read('test/fixtures/spire-conf/agent/agent.conf'), read('test/fixtures/spire-conf/server/server.conf')];
  });

  const load = async (text: string, name: string): Promise<void> => {
    const common = { cwd: '/nonexistent-fuzz', text, configPath: name, env: {} };
    const loads: [string, () => Promise<unknown>][] = [
      ['agent', () => loadAgentConfig({ ...common, hasStoredBundle: async () => true })],
      ['server', () => loadServerConfig(common)],
    ];
    for (const [what, run] of loads) {
      const out = await typedOutcomeAsync(`${what} config load`, run);
      if (!out.ok) expect(out.error).toBeInstanceOf(ConfigError);
    }
  };

  it('YAML and JSON: only ConfigError escapes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutatedText(yamlSeeds, YAML_SPECIALS), fc.string({ maxLength: 80 })), fc.constantFrom('c.yaml', 'c.json'), async (text, name) => load(text, name)),
      fuzzParams(400),
    );
  });

  it('HCL: only ConfigError escapes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutatedText(hclSeeds, HCL_SPECIALS), fc.string({ maxLength: 80 })), async (text) => load(text, 'c.conf')),
      fuzzParams(400),
    );
  });
});
