// herald-agent's rebootstrap_mode and rebootstrap_delay as SPIRE 1.13's
// (cmd/spire-agent/cli/run/run.go, pkg/agent/agent.go, pkg/agent/manager,
// pkg/agent/trustbundlesources): the server's data_dir is replaced, so its
// new CA no longer chains to the bundle the agent stored. With "auto" and an
// x509pop agent, once that has lasted rebootstrap_delay the agent removes its
// stored SVID and bundle and exits; restarted (as a supervisor would), it
// bootstraps from trust_bundle_path (now the new server's bundle), attests
// again and serves SVIDs of the new CA; attesting against a stored bundle
// that no longer chains, it drops the bundle after the delay and attests with
// trust_bundle_path's without exiting. With "never" it keeps failing and
// keeps its SVID and bundle, as SPIRE's does. A join token cannot attest
// again: "always" refuses to start, "auto" falls back to "never". Real
// herald-server and herald-agent processes.
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AGENT_BIN, generateToken, startServer, type ServerHandle } from '../helpers/herald.ts';
import { runCommand, startProcess, type RunningProcess } from '../helpers/process.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { makePopCert } from '../helpers/x509pop.ts';
import { waitFor } from '../helpers/wait.ts';

const NOT_ALLOWED = 'you have requested rebootstrap support but the NodeAttestor plugin or the spire server configuration is not allowing it';

describe('herald-agent rebootstrap_mode', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let server: ServerHandle;
  let agent: RunningProcess | undefined;
  let node: { cert: string; key: string };
  const f = (n: string) => join(tmp.path, n);

  /** The server's bundle, written where the agent's trust_bundle_path points. */
  const writeBundle = async (): Promise<string> => {
    const res = await server.cli('bundle', 'show');
    expect(res.code, res.stderr).toBe(0);
    await writeFile(f('bootstrap.pem'), res.stdout);
    return res.stdout;
  };
  const createEntries = async (): Promise<void> => {
    expect((await server.cli('entry', 'create', '-node', '-spiffeID', 'spiffe://example.org/node-1', '-selector', 'x509pop:subject:cn:node-1')).code).toBe(0);
    expect((await server.cli('entry', 'create', '-parentID', 'spiffe://example.org/node-1', '-spiffeID', 'spiffe://example.org/workload', '-selector', `unix:uid:${process.getuid!()}`)).code).toBe(0);
  };
  /** The server starts again on an empty data_dir: a new CA, a new datastore. */
  const replaceServerDataDir = async (): Promise<void> => {
    await server.stop();
    await rm(f('server-data'), { recursive: true, force: true });
    await server.restart();
    await writeBundle();
    await createEntries();
  };
  const agentConfig = async (name: string, extra: string, nodeAttestor = `{ x509pop: { plugin_data: { private_key_path: ${node.key}, certificate_path: ${node.cert} } } }`) => {
    const config = f(`${name}.yaml`);
    const socket = f(`${name}.sock`);
    const dataDir = f(`${name}-data`);
    await writeFile(
      config,
      `agent:
  data_dir: ${dataDir}
  log_level: DEBUG
  server_address: 127.0.0.1
  server_port: ${server.port}
  socket_path: ${socket}
  trust_domain: ${server.trustDomain}
  trust_bundle_path: ${f('bootstrap.pem')}
  sync_interval: 500ms
${extra}
plugins:
  KeyManager: { disk: { plugin_data: { directory: ${dataDir} } } }
  NodeAttestor: ${nodeAttestor}
  WorkloadAttestor: { unix: { plugin_data: {} } }
`,
    );
    return { config, socket, dataDir };
  };
  /** The workload's X509-SVID bundle, PEM, from the agent's socket. */
  const fetchBundle = async (socket: string): Promise<string> => {
    const dir = f(`fetched-${Date.now()}`);
    const res = await runCommand(AGENT_BIN, ['api', 'fetch', 'x509', '-socketPath', socket, '-write', dir], { cwd: tmp.path, timeoutMs: 30_000 });
    expect(res.code, res.stderr).toBe(0);
    return readFile(join(dir, 'bundle.0.pem'), 'utf8');
  };
  const pemBodies = (pem: string): string[] => [...pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)].map((m) => m[0].replace(/\s/g, ''));

  beforeEach(async () => {
    tmp = await makeTempDir('herald-rebootstrap-');
    makePopCert(tmp.path, 'ca', { ca: true });
    node = makePopCert(tmp.path, 'node-1', { issuer: 'ca' });
    server = await startServer({ dir: tmp.path, x509popCaBundle: f('ca.pem') });
    await writeBundle();
    await createEntries();
  }, 60_000);

  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
    await server?.stop();
    await tmp?.cleanup();
  });

  it('auto: after rebootstrap_delay of a server that no longer chains, it drops its SVID and bundle and exits; restarted, it bootstraps from trust_bundle_path and serves the new CA', async () => {
    const { config, socket, dataDir } = await agentConfig('auto', '  rebootstrap_mode: auto\n  rebootstrap_delay: 4s');
    agent = startProcess(AGENT_BIN, ['run', '-config', config], { cwd: tmp.path });
    await agent.waitForOutput('Starting Workload and SDS APIs', 60_000);
    const oldBundle = await fetchBundle(socket);
    expect(agent.output()).not.toContain(NOT_ALLOWED);

    await replaceServerDataDir();
    const newBundle = (await server.cli('bundle', 'show')).stdout;
    expect(pemBodies(newBundle)).not.toEqual(pemBodies(oldBundle));
    // SPIRE's log lines (its typos included), the time left as Go prints a duration.
    await agent.waitForOutput(/Trust Bandle and Server dont agree\.\.\.\. Ignoring for now\..*time left="?\d/, 30_000);
    await agent.waitForOutput('Trust Bandle and Server dont agree.... rebootstrapping', 30_000);
    expect(await agent.exited()).toBe(1);
    expect(agent.output()).toContain('Error: agent: shutting down for rebootstrapping');
    expect(existsSync(join(dataDir, 'agent_svid.der'))).toBe(false);
    expect(existsSync(join(dataDir, 'bundle.der'))).toBe(false);

    agent = startProcess(AGENT_BIN, ['run', '-config', config], { cwd: tmp.path });
    await agent.waitForOutput('Node attestation was successful', 60_000);
    await agent.waitForOutput('Starting Workload and SDS APIs', 30_000);
    const health = await runCommand(AGENT_BIN, ['healthcheck', '-socketPath', socket], { cwd: tmp.path });
    expect(health.code, health.stderr).toBe(0);
    expect(pemBodies(await fetchBundle(socket))).toEqual(pemBodies(newBundle));
    expect(existsSync(join(dataDir, 'bundle.der'))).toBe(true);
  }, 180_000);

  it('auto, started with a stored SVID the new server does not verify: it waits rebootstrap_delay, then exits with SPIRE\'s "Agent needs to rebootstrap"', async () => {
    const { config, dataDir } = await agentConfig('initial', '  rebootstrap_mode: auto\n  rebootstrap_delay: 2s');
    agent = startProcess(AGENT_BIN, ['run', '-config', config], { cwd: tmp.path });
    await agent.waitForOutput('Starting Workload and SDS APIs', 60_000);
    await agent.stop();
    await replaceServerDataDir();
    const res = await runCommand(AGENT_BIN, ['run', '-config', config], { cwd: tmp.path, timeoutMs: 60_000 });
    expect(res.code, res.stderr).toBe(1);
    expect(res.stderr).toContain('Using the stored agent SVID');
    expect(res.stderr).toContain('Trust Bandle and Server dont agree.... rebootstrapping');
    expect(res.stderr).toContain('Error: agent: Agent needs to rebootstrap. shutting down');
    expect(existsSync(join(dataDir, 'agent_svid.der'))).toBe(false);
    expect(existsSync(join(dataDir, 'bundle.der'))).toBe(false);
  }, 180_000);

  it('auto, attesting again against a stored bundle that no longer chains (no stored SVID): after rebootstrap_delay it drops the bundle and attests with trust_bundle_path\'s', async () => {
    const { config, socket, dataDir } = await agentConfig('attest', '  rebootstrap_mode: auto\n  rebootstrap_delay: 2s');
    agent = startProcess(AGENT_BIN, ['run', '-config', config], { cwd: tmp.path });
    await agent.waitForOutput('Starting Workload and SDS APIs', 60_000);
    await agent.stop();
    await rm(join(dataDir, 'agent_svid.der'));
    await rm(join(dataDir, 'agent_svid.key'));
    await replaceServerDataDir();
    const newBundle = (await server.cli('bundle', 'show')).stdout;
    agent = startProcess(AGENT_BIN, ['run', '-config', config], { cwd: tmp.path });
    await agent.waitForOutput(/Trust Bandle and Server dont agree\.\.\.\. Ignoring for now\./, 30_000);
    await agent.waitForOutput(/level=warn.*Trust Bandle and Server dont agree\.\.\.\. rebootstrapping/, 60_000);
    await agent.waitForOutput('Node attestation was successful', 60_000);
    await agent.waitForOutput('Starting Workload and SDS APIs', 30_000);
    expect(pemBodies(await fetchBundle(socket))).toEqual(pemBodies(newBundle));
  }, 180_000);

  it('never (SPIRE\'s default): the agent keeps failing against the new CA, keeps its SVID and bundle, and a restart fails the same way', async () => {
    const { config, socket, dataDir } = await agentConfig('never', '  rebootstrap_delay: 1s');
    const proc = startProcess(AGENT_BIN, ['run', '-config', config], { cwd: tmp.path });
    agent = proc;
    await proc.waitForOutput('Starting Workload and SDS APIs', 60_000);
    const mark = proc.output().length;
    await replaceServerDataDir();
    await agent.waitForOutput(/Sync with the server failed; serving cached SVIDs.*certificate does not chain to the stored bundle in/, 30_000);
    // Well past rebootstrap_delay: three syncs refused by the new CA, the third at least 1.8 s after
    // the first (each retry waits ≥ 0.9 × 1 s after a failure): an "auto" agent would have
    // rebootstrapped and exited by then (rebootstrap_delay 1 s from the first).
    const untrusted = () => proc.output().slice(mark).match(/Sync with the server failed; serving cached SVIDs.*certificate does not chain to the stored bundle in/g)?.length ?? 0;
    await waitFor('three syncs refused by the new CA', () => untrusted() >= 3 || proc.child.exitCode !== null, { timeoutMs: 40_000 });
    expect(agent.child.exitCode).toBe(null);
    expect(agent.output()).not.toContain('Trust Bandle and Server dont agree');
    // rebootstrap_delay is read, as SPIRE reads it, whatever the mode: no warning about it.
    expect(agent.output()).not.toContain('rebootstrap_delay');
    expect(existsSync(join(dataDir, 'agent_svid.der'))).toBe(true);
    expect(existsSync(join(dataDir, 'bundle.der'))).toBe(true);
    await agent.stop();
    agent = startProcess(AGENT_BIN, ['run', '-config', config], { cwd: tmp.path });
    await agent.waitForOutput('Initial sync with the server failed; retrying in the background', 30_000);
    const health = await runCommand(AGENT_BIN, ['healthcheck', '-socketPath', socket], { cwd: tmp.path });
    expect(health.code).not.toBe(0);
    expect(agent.output()).not.toContain('Node attestation was successful');
  }, 180_000);

  it('a join token cannot attest again: "always" refuses to start, "auto" warns and goes on as "never"', async () => {
    const token = await generateToken(server);
    const always = await agentConfig('always', '  rebootstrap_mode: always', '{ join_token: { plugin_data: {} } }');
    const res = await runCommand(AGENT_BIN, ['run', '-config', always.config, '-joinToken', token], { cwd: tmp.path, timeoutMs: 30_000 });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`Error: ${NOT_ALLOWED}`);
    expect(res.stderr).not.toContain('Node attestation was successful');
    const auto = await agentConfig('jtauto', '', '{ join_token: { plugin_data: {} } }');
    agent = startProcess(AGENT_BIN, ['run', '-config', auto.config, '-joinToken', token, '-rebootstrapMode', 'auto'], { cwd: tmp.path });
    await agent.waitForOutput(`${NOT_ALLOWED}. Disabling`, 30_000);
    await agent.waitForOutput('Starting Workload and SDS APIs', 60_000);
    // SPIRE run.go's refusals.
    const retry = await runCommand(AGENT_BIN, ['run', '-config', auto.config, '-rebootstrapMode', 'always', '-retryBootstrap'], { cwd: tmp.path, timeoutMs: 30_000 });
    expect(retry.code).toBe(1);
    expect(retry.stderr).toContain('you can not set retry_bootstrap when using reboostrap_mode');
  }, 120_000);
});
