// herald-server's commands: `run` and the admin commands, with SPIRE's names.
import { agentBan, agentCount, agentEvict, agentList, agentPurge, agentShow } from './agent.ts';
import { consoleCommands } from './console.ts';
import { bundleCount, bundleDelete, bundleList, bundleSet, bundleShow } from './bundle.ts';
import { federationCreate, federationDelete, federationList, federationRefresh, federationShow, federationUpdate } from './federation.ts';
import { entryCount, entryCreate, entryDelete, entryShow, entryUpdate } from './entry.ts';
import { localAuthorityCommands } from './localauthority.ts';
import { jwtMint, tokenGenerate, x509Mint } from './mint.ts';
import { upstreamAuthorityCommands } from './upstreamauthority.ts';
import { healthcheckCommand, runCommand, validateCommand } from './run.ts';

export const serverCommands = {
  run: runCommand,
  validate: validateCommand,
  healthcheck: healthcheckCommand,
  token: { generate: tokenGenerate },
  entry: { create: entryCreate, show: entryShow, update: entryUpdate, delete: entryDelete, count: entryCount },
  agent: { list: agentList, show: agentShow, evict: agentEvict, ban: agentBan, count: agentCount, purge: agentPurge },
  bundle: { show: bundleShow, list: bundleList, set: bundleSet, delete: bundleDelete, count: bundleCount },
  federation: { create: federationCreate, list: federationList, show: federationShow, update: federationUpdate, delete: federationDelete, refresh: federationRefresh },
  localauthority: localAuthorityCommands,
  console: consoleCommands,
  upstreamauthority: upstreamAuthorityCommands,
  x509: { mint: x509Mint },
  jwt: { mint: jwtMint },
};
