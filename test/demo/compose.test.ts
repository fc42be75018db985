// demo/docker-compose.yml without an engine: it is what demo/compose.ts
// generates from the topology, its structure holds together, and every
// config it mounts is valid for Herald and for a real Envoy. (It runs for
// real in test/e2e/docker-compose-demo.test.ts.)
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { generate } from '../../demo/compose.ts';
import { DOMAINS } from '../../demo/topology.ts';
import { loadAgentConfig } from '../../src/agent/config.ts';
import { loadServerConfig } from '../../src/server/config.ts';
import { envoyPath } from '../helpers/envoy.ts';
import { ROOT } from '../helpers/herald.ts';

const DEMO = join(ROOT, 'demo');

interface Service {
  build?: unknown;
  image?: string;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, unknown> | string[];
  pid?: string;
  user?: string;
}

describe('demo/docker-compose.yml', () => {
  const compose = parse(readFileSync(join(DEMO, 'docker-compose.yml'), 'utf8')) as { services: Record<string, Service>; volumes: Record<string, unknown> };

  it('is exactly what demo/compose.ts generates from the topology (committed files in step)', () => {
    for (const [rel, text] of Object.entries(generate())) expect(readFileSync(join(DEMO, rel), 'utf8'), rel).toBe(text);
  });

  it('has both trust domains\' server, agent and Envoy, the apps, echo\'s PostgreSQL and the bootstrap', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['bootstrap', 'echo', 'echo-agent', 'echo-envoy', 'echo-postgres', 'echo-server', 'web', 'web-agent', 'web-envoy', 'web-server'].sort());
    // echo is echo's workload (its Envoy's uid), PostgreSQL another one, both attested by echo's agent.
    expect(compose.services.echo!.user).toBe(compose.services['echo-envoy']!.user);
    expect(compose.services['echo-postgres']!.user).toMatch(/^\d+:\d+$/);
    expect(compose.services['echo-postgres']!.user).not.toBe(compose.services.echo!.user);
    expect(compose.services['echo-postgres']!.volumes).toEqual(['echo-agent-socket:/run/herald/echo-agent:ro']);
    for (const d of DOMAINS) {
      expect(compose.services[`${d.name}-agent`]!.pid, 'agents see other containers\' pids').toBe('host');
      expect(compose.services[`${d.name}-envoy`]!.user).toMatch(/^\d+:\d+$/);
    }
    expect(compose.services.web!.ports).toEqual(['127.0.0.1:${HERALD_DEMO_PORT:-8080}:8080']);
  });

  it('shares each socket volume between the processes that need it', () => {
    const mounts = (svc: string) => (compose.services[svc]!.volumes ?? []).map((v) => v.split(':')[0]);
    for (const d of DOMAINS) {
      // The agent's socket directory: read-write for the agent, read-only for its workloads.
      const dir = `${d.name}-agent-socket:/run/herald/${d.name}-agent`;
      expect(compose.services[`${d.name}-agent`]!.volumes).toContain(dir);
      expect(compose.services[`${d.name}-envoy`]!.volumes).toContain(`${dir}:ro`);
      expect(compose.services[d.name]!.volumes).toContain(`${dir}:ro`);
      expect(mounts(`${d.name}-server`)).toContain(`${d.name}-server-socket`);
      expect(mounts('bootstrap')).toContain(`${d.name}-server-socket`);
      expect(mounts('web')).toContain(`${d.name}-server-socket`);
    }
    const named = new Set(Object.keys(compose.volumes));
    for (const svc of Object.values(compose.services)) {
      for (const v of svc.volumes ?? []) {
        const src = v.split(':')[0]!;
        if (src.startsWith('./')) expect(existsSync(join(DEMO, src)), src).toBe(true);
        else expect(named.has(src), src).toBe(true);
      }
      const deps = Array.isArray(svc.depends_on) ? svc.depends_on : Object.keys(svc.depends_on ?? {});
      for (const dep of deps) expect(compose.services[dep], dep).toBeDefined();
    }
    expect(existsSync(join(ROOT, 'Dockerfile'))).toBe(true);
    expect(existsSync(join(DEMO, 'compose-bootstrap.ts'))).toBe(true);
  });

  it('mounts server and agent configs that Herald accepts', async () => {
    for (const d of DOMAINS) {
      const server = await loadServerConfig({ cwd: '/', configPath: join(DEMO, `compose/${d.name}-server.yaml`) });
      expect(server.trustDomain.name).toBe(d.trustDomain);
      // echo.example composes echo's SVID subject (CN = the PostgreSQL role).
      expect(readFileSync(join(DEMO, `compose/${d.name}-server.yaml`), 'utf8').includes('CredentialComposer')).toBe(d.name === 'echo');
      const agent = await loadAgentConfig({ cwd: '/', configPath: join(DEMO, `compose/${d.name}-agent.yaml`) });
      expect(agent.serverAddress).toBe(`${d.name}-server`);
      expect(agent.authz.enabled).toBe(true);
    }
  });

  it('mounts Envoy configs that a real Envoy validates', () => {
    for (const d of DOMAINS) {
      const out = execFileSync(envoyPath(), ['--mode', 'validate', '-c', join(DEMO, `compose/${d.name}-envoy.yaml`)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      expect(out).toContain('OK');
    }
  });
});
