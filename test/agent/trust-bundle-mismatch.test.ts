// An agent whose bootstrap bundle (trust_bundle_path) is not the server's
// says so, naming the file, instead of TLS's "self-signed certificate in
// certificate chain". Real herald-server and herald-agent.
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_BIN, generateToken, startServer, type ServerHandle } from '../helpers/herald.ts';
import { runCommand } from '../helpers/process.ts';
import { makeTempDir } from '../helpers/tmp.ts';

describe('agent bootstrap bundle that is not the server\'s', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let server: ServerHandle;

  beforeAll(async () => {
    tmp = await makeTempDir('herald-tbm-');
    server = await startServer({ dir: tmp.path });
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await tmp?.cleanup();
  });

  it('names the trust bundle file and says the server does not chain to it', async () => {
    // Some other CA: a valid bundle, just not this server's.
    const bundle = join(tmp.path, 'other-ca.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(tmp.path, 'other-ca.key'), '-out', bundle, '-days', '1', '-subj', '/O=Other CA'], { stdio: 'ignore' });
    const cfg = join(tmp.path, 'agent-tb.yaml');
    await writeFile(
      cfg,
      `agent:
  data_dir: ${join(tmp.path, 'agent-tb-data')}
  server_address: 127.0.0.1
  server_port: ${server.port}
  socket_path: ${join(tmp.path, 'agent-tb.sock')}
  trust_domain: example.org
  trust_bundle_path: ${bundle}
plugins:
  KeyManager: { disk: { plugin_data: { directory: ${join(tmp.path, 'agent-tb-data')} } } }
  NodeAttestor: { join_token: { plugin_data: {} } }
  WorkloadAttestor: { unix: { plugin_data: {} } }
`,
    );
    const token = await generateToken(server);
    // -retryBootstrap=false: as SPIRE's, the agent would otherwise fetch the bundle again and retry for a minute.
    const res = await runCommand(AGENT_BIN, ['run', '-config', cfg, '-joinToken', token, '-retryBootstrap=false'], { cwd: tmp.path, timeoutMs: 30_000 });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`the server's certificate does not chain to the trust bundle in ${bundle} (trust_bundle_path)`);
    expect(res.stderr).not.toContain('self-signed certificate in certificate chain');
  }, 40_000);
});
