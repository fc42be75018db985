// herald-agent's commands: `run`, `healthcheck` and the Workload API client commands.
import { fetchJwt, fetchJwtBundle, fetchX509, healthcheck, validateJwt, watch } from './api.ts';
import { runCommand, validateCommand } from './run.ts';
import { sdsStatus } from './sds.ts';

export const agentCommands = {
  run: runCommand,
  validate: validateCommand,
  healthcheck,
  sds: { status: sdsStatus },
  api: {
    fetch: { x509: fetchX509, jwt: fetchJwt, jwtbundle: fetchJwtBundle },
    watch,
    validate: { jwt: validateJwt },
  },
};
