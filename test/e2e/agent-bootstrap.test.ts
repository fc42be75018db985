// herald-agent's bootstrap as SPIRE 1.13's (cmd/spire-agent/cli/run/run.go,
// pkg/agent/agent.go): with retry_bootstrap (the default) an agent started
// before its server keeps attesting with backoff and attests once the server
// is up; with -retryBootstrap=false it exits at once with SPIRE's message;
// -joinTokenFile reads the token from a file. Real herald-server and
// herald-agent processes.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AGENT_BIN, generateToken, startServer, type ServerHandle } from '../helpers/herald.ts';
import { runCommand, startProcess, type RunningProcess } from '../helpers/process.ts';
import { makeTempDir } from '../helpers/tmp.ts';

const RETRY_DEPRECATED = "The 'retry_bootstrap' configuration is deprecated. It will be removed in SPIRE 1.14. Please test without the flag before upgrading.";

describe('herald-agent bootstrap', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let server: ServerHandle;
  let agent: RunningProcess | undefined;

  beforeEach(async () => {
    tmp = await makeTempDir('herald-boot-');
    server = await startServer({ dir: tmp.path });
  }, 60_000);

  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
    await server?.stop();
    await tmp?.cleanup();
  });

  /** An agent config (insecure bootstrap, join_token attestor) for this server; returns its path. */
  const agentConfig = async (name: string): Promise<{ config: string; socket: string }> => {
    const config = join(tmp.path, `${name}.yaml`);
    const socket = join(tmp.path, `${name}.sock`);
    await writeFile(
      config,
      `agent:
  data_dir: ${join(tmp.path, `${name}-data`)}
  log_level: DEBUG
  server_address: 127.0.0.1
  server_port: ${server.port}
  socket_path: ${socket}
  trust_domain: ${server.trustDomain}
  insecure_bootstrap: true
  sync_interval: 1s
plugins:
  KeyManager: { disk: { plugin_data: { directory: ${join(tmp.path, `${name}-data`)} } } }
  NodeAttestor: { join_token: { plugin_data: {} } }
  WorkloadAttestor: { unix: { plugin_data: {} } }
`,
    );
    return { config, socket };
  };

  it('an agent started before its server retries with backoff and attests once the server is up (retry_bootstrap, SPIRE\'s default)', async () => {
    const token = await generateToken(server);
    await server.stop();
    const { config, socket } = await agentConfig('early');
    agent = startProcess(AGENT_BIN, ['run', '-config', config, '-joinToken', token], { cwd: tmp.path });
    // SPIRE's warning, with the error and the wait before the next attempt (5 s ± 10 % first).
    const out = await agent.waitForOutput('Failed to retrieve attestation result', 30_000);
    expect(out).toMatch(/could not open attestation stream to Herald server: rpc error: code = Unavailable desc = connection error: .*connect: connection refused/);
    expect(out).toMatch(/retry_interval=(4\.[5-9]\d*|5(\.[0-5]\d*)?)s/);
    expect(out).not.toContain(RETRY_DEPRECATED);
    await server.restart();
    await agent.waitForOutput('Node attestation was successful', 90_000);
    await agent.waitForOutput('Starting Workload and SDS APIs', 30_000);
    const health = await runCommand(AGENT_BIN, ['healthcheck', '-socketPath', socket], { cwd: tmp.path });
    expect(health.code, health.stderr).toBe(0);
    const agents = await server.cli('agent', 'list');
    expect(agents.stdout).toContain(`spiffe://${server.trustDomain}/spire/agent/join_token/${token}`);
  }, 180_000);

  it('with -retryBootstrap=false an agent whose server is down exits at once, with SPIRE\'s message', async () => {
    const token = await generateToken(server);
    await server.stop();
    const { config } = await agentConfig('noretry');
    const started = Date.now();
    const res = await runCommand(AGENT_BIN, ['run', '-config', config, '-joinToken', token, '-retryBootstrap=false'], { cwd: tmp.path, timeoutMs: 30_000 });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(
      `could not open attestation stream to Herald server: rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:${server.port}: connect: connection refused"`,
    );
    expect(res.stderr).toContain(RETRY_DEPRECATED);
    expect(res.stderr).not.toContain('Failed to retrieve attestation result');
    // No 5 s backoff wait: it gave up at the first failure.
    expect(Date.now() - started).toBeLessThan(20_000);
  }, 60_000);

  it('with a stored agent SVID and the server down: -retryBootstrap=false exits (SPIRE\'s failed Initialize), the default keeps retrying the sync', async () => {
    const token = await generateToken(server);
    const { config, socket } = await agentConfig('stored');
    agent = startProcess(AGENT_BIN, ['run', '-config', config, '-joinToken', token], { cwd: tmp.path });
    await agent.waitForOutput('Starting Workload and SDS APIs', 60_000);
    await agent.stop();
    await server.stop();
    const res = await runCommand(AGENT_BIN, ['run', '-config', config, '-retryBootstrap=false'], { cwd: tmp.path, timeoutMs: 30_000 });
    expect(res.code, res.stderr).toBe(1);
    expect(res.stderr).toContain('Using the stored agent SVID');
    expect(res.stderr).toMatch(/Error: agent: initial sync with the server failed \(retry_bootstrap is false\): /);
    agent = startProcess(AGENT_BIN, ['run', '-config', config], { cwd: tmp.path });
    await agent.waitForOutput('Initial sync with the server failed; retrying in the background', 30_000);
    await agent.waitForOutput('Starting Workload and SDS APIs', 30_000);
    await server.restart();
    await agent.waitForOutput('Reconnected to the server; sync succeeded', 60_000);
    const health = await runCommand(AGENT_BIN, ['healthcheck', '-socketPath', socket], { cwd: tmp.path });
    expect(health.code, health.stderr).toBe(0);
  }, 180_000);

  it('-joinTokenFile reads the token from a file (whitespace trimmed) and the agent attests with it', async () => {
    const token = await generateToken(server);
    const tokenFile = join(tmp.path, 'token.txt');
    await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
    const { config, socket } = await agentConfig('fromfile');
    agent = startProcess(AGENT_BIN, ['run', '-config', config, '-joinTokenFile', tokenFile], { cwd: tmp.path });
    await agent.waitForOutput('Node attestation was successful', 60_000);
    await agent.waitForOutput('Starting Workload and SDS APIs', 30_000);
    const health = await runCommand(AGENT_BIN, ['healthcheck', '-socketPath', socket], { cwd: tmp.path });
    expect(health.code, health.stderr).toBe(0);
    const agents = await server.cli('agent', 'list');
    expect(agents.stdout).toContain(`spiffe://${server.trustDomain}/spire/agent/join_token/${token}`);
  }, 120_000);

  it('an insecure bootstrap reads no default root store: it attests even where GRPC_DEFAULT_SSL_ROOTS_FILE_PATH names a missing file', async () => {
    const token = await generateToken(server);
    const { config, socket } = await agentConfig('noroots');
    agent = startProcess(AGENT_BIN, ['run', '-config', config, '-joinToken', token], { cwd: tmp.path, env: { ...process.env, GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: join(tmp.path, 'no-such-roots.pem') } });
    await agent.waitForOutput('Node attestation was successful', 60_000);
    await agent.waitForOutput('Starting Workload and SDS APIs', 30_000);
    const health = await runCommand(AGENT_BIN, ['healthcheck', '-socketPath', socket], { cwd: tmp.path });
    expect(health.code, health.stderr).toBe(0);
  }, 120_000);

  it('a missing or empty token file, or one given with -joinToken, is a clear error before anything starts', async () => {
    const { config, socket } = await agentConfig('badfile');
    const run = (...args: string[]) => runCommand(AGENT_BIN, ['run', '-config', config, ...args], { cwd: tmp.path, timeoutMs: 30_000 });
    const missing = await run('-joinTokenFile', 'no-such-token.txt');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(
      'config: flag -joinTokenFile (agent.join_token_file): unable to read join token file "no-such-token.txt": open no-such-token.txt: no such file or directory\n',
    );
    await writeFile(join(tmp.path, 'empty.txt'), '\n  \n');
    const empty = await run('-joinTokenFile', 'empty.txt');
    expect(empty.code).toBe(1);
    expect(empty.stderr).toBe('config: flag -joinTokenFile (agent.join_token_file): join token file is empty: "empty.txt"\n');
    const both = await run('-joinTokenFile', 'empty.txt', '-joinToken', 'abc');
    expect(both.code).toBe(1);
    expect(both.stderr).toContain('only one of join_token or join_token_file can be specified, not both');
    const validate = await runCommand(AGENT_BIN, ['validate', '-config', config, '-joinTokenFile', 'no-such-token.txt'], { cwd: tmp.path });
    expect(validate.code).toBe(1);
    expect(validate.stderr).toContain('unable to read join token file "no-such-token.txt"');
    // Nothing was started: no socket, no attestation attempt.
    expect(`${missing.stdout}${empty.stdout}${both.stdout}`).toBe('');
    expect(existsSync(socket)).toBe(false);
  }, 90_000);
});
