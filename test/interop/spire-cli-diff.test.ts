// The proof that herald-server's CLI is SPIRE 1.13.3's: one script of CLI
// calls runs against a real spire-server (its own CLI) and against
// herald-server (Herald's CLI), both with equivalent configs, and every
// call must print the same stdout and stderr and exit with the same code.
// Only what must differ is normalized: UUIDs, times, serials, keys and
// certificates, token values, socket paths. Calls whose difference is known
// and documented (docs/spire-compatibility.md) say why in `differs`, and
// the test checks they still differ (so a fix shows up as a failure to
// update the doc).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_BIN, SERVER_BIN, generateToken, startAgent, startServer, type AgentHandle, type ServerHandle } from '../helpers/herald.ts';
import { freePort } from '../helpers/ports.ts';
import { runCommand, startProcess, type RunningProcess } from '../helpers/process.ts';
import { spireAgentConf, spireBinaries, spireServerConf } from '../helpers/spire.ts';
import { makeTempDir } from '../helpers/tmp.ts';
import { waitFor } from '../helpers/wait.ts';

type Out = { code: number | null; stdout: string; stderr: string };

interface Step {
  /** CLI arguments after the binary; `-socketPath` is appended. */
  args: string[];
  stdin?: string;
  /** A known, documented difference: the reason. */
  differs?: string;
  /** Per-side arguments (e.g. each server's own config file), instead of `args`. */
  spire?: string[];
  herald?: string[];
  /** For a known difference: what must still hold, the same exit code and both (normalized) stderrs matching this. */
  shape?: RegExp;
  /** Per-side arguments computed when the step runs (e.g. from an ID the previous steps created). */
  at?: (side: Side) => Promise<string[]>;
}

type Side = 'spire' | 'herald';

const UID = process.getuid!();

/** What must differ between two servers, replaced by placeholders. */
export function normalize(s: string, socketPaths: readonly string[]): string {
  // The test harness's note when a process exits before reading its (empty) stdin.
  let out = s.replace(/\n\(stdin: write EPIPE\)$/, '');
  for (const p of socketPaths) out = out.split(p).join('<socket>');
  return out
    // The product's name in validate's message.
    .replace(/^(SPIRE|Herald) (server|agent) configuration file is (valid\.$|invalid: )/gm, '<product> $2 configuration file is $3')
    // The default admin socket and its description are Herald's own (see the doc).
    .replace(/  -socketPath string\n    \t[^\n]*\n/g, '  -socketPath <Herald or SPIRE default>\n')
    .replace(/-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+?-----END CERTIFICATE-----\n/g, '<cert>\n')
    .replace(/-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+?-----END PRIVATE KEY-----\n/g, '<key>\n')
    .replace(/eyJ[\w-]+\.[\w-]+\.[\w-]+/g, '<jwt>')
    .replace(/expires "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"/g, 'expires "<time>"')
    .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/g, '<uuid>')
    .replace(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4} [A-Z]+/g, '<time>')
    .replace(/("(?:expires_at|x509svid_expires_at|created_at|issued_at)":)"\d+"/g, '$1"<n>"')
    .replace(/("(?:asn1|public_key|x|y|n|e|x5c|kid|key_id|x509svid_serial_number|x509_svid|private_key|root_cas)"\s*:\s*)("[^"]*"|\[[^\]]*\])/g, '$1"<key>"')
    .replace(/(Authority ID: |"authority_id":")[0-9a-zA-Z]+/g, '$1<id>')
    .replace(/(Serial number\s*: )\d+/g, '$1<serial>')
    .replace(/("spiffe_sequence"\s*:\s*)\d+/g, '$1<seq>')
    .replace(/("sequence_number":)"\d+"/g, '$1"<seq>"');
}

/** The script: every call runs against both servers, in order. */
function script(dir: string, spiffeBundleJson: string, configs: { spire: string; herald: string }): Step[] {
  const f = (n: string) => join(dir, n);
  return [
    // token
    { args: ['token', 'generate', '-spiffeID', 'spiffe://example.org/node-a'] },
    { args: ['token', 'generate'] },
    { args: ['token', 'generate', '-spiffeID', 'spiffe://example.org/node-a', '-ttl', '60', '-output', 'json'] },
    { args: ['token', 'generate', '-spiffeID', 'not-an-id'] },
    // entry create: flags, node entries, every printed field
    { args: ['entry', 'create', '-entryID', 'e-web', '-parentID', 'spiffe://example.org/node-a', '-spiffeID', 'spiffe://example.org/web', '-selector', `unix:uid:${UID}`, '-selector', 'unix:gid:0'] },
    { args: ['entry', 'create', '-entryID', 'e-full', '-parentID', 'spiffe://example.org/node-a', '-spiffeID', 'spiffe://example.org/full', '-selector', 'unix:uid:1', '-x509SVIDTTL', '3600', '-jwtSVIDTTL', '300', '-dns', 'full.example.org', '-dns', 'alt.example.org', '-admin', '-entryExpiry', '1900000000', '-hint', 'the-hint'] },
    { args: ['entry', 'create', '-entryID', 'e-down', '-parentID', 'spiffe://example.org/node-a', '-spiffeID', 'spiffe://example.org/downstream', '-selector', 'unix:uid:2', '-downstream'] },
    { args: ['entry', 'create', '-entryID', 'e-node', '-node', '-spiffeID', 'spiffe://example.org/node-group', '-selector', 'x509pop:subject:cn:node-1'] },
    { args: ['entry', 'create', '-entryID', 'e-json', '-parentID', 'spiffe://example.org/node-a', '-spiffeID', 'spiffe://example.org/json', '-selector', 'unix:uid:3', '-output', 'json'] },
    // entry create: duplicates, bad input
    { args: ['entry', 'create', '-parentID', 'spiffe://example.org/node-a', '-spiffeID', 'spiffe://example.org/web', '-selector', `unix:uid:${UID}`, '-selector', 'unix:gid:0'] },
    { args: ['entry', 'create', '-parentID', 'spiffe://example.org/node-a', '-spiffeID', 'spiffe://example.org/web', '-selector', `unix:uid:${UID}`, '-selector', 'unix:gid:0', '-output', 'json'] },
    { args: ['entry', 'create', '-parentID', 'spiffe://example.org/node-a', '-spiffeID', 'spiffe://example.org/x'] },
    { args: ['entry', 'create', '-spiffeID', 'spiffe://example.org/x', '-selector', 'a:b'] },
    { args: ['entry', 'create', '-parentID', 'spiffe://example.org/node-a', '-selector', 'a:b'] },
    { args: ['entry', 'create', '-node', '-spiffeID', 'spiffe://example.org/x', '-selector', 'a:b', '-federatesWith', 'spiffe://other.test'] },
    { args: ['entry', 'create', '-parentID', 'spiffe://example.org/node-a', '-spiffeID', 'spiffe://example.org/x', '-selector', 'a:b', '-x509SVIDTTL', '-1'] },
    { args: ['entry', 'create', '-parentID', 'spiffe://example.org/node-a', '-spiffeID', 'spiffe://example.org/x', '-selector', 'a:b', '-jwtSVIDTTL', '-1'] },
    { args: ['entry', 'create', '-parentID', 'spiffe://example.org/node-a', '-spiffeID', 'example.org/x', '-selector', 'a:b'] },
    { args: ['entry', 'create', '-parentID', 'spiffe://example.org/node-a', '-spiffeID', 'spiffe://Example.org/x', '-selector', 'a:b'] },
    { args: ['entry', 'create', '-parentID', 'spiffe://example.org/node-a', '-spiffeID', 'spiffe://example.org/x', '-selector', 'nocolon'] },
    { args: ['entry', 'create', '-nosuchflag'] },
    // entry create -data: a batch with a duplicate inside and one of an existing entry
    { args: ['entry', 'create', '-data', f('batch.json')] },
    { args: ['entry', 'create', '-data', '-'], stdin: JSON.stringify({ entries: [{ entry_id: 'e-stdin', parent_id: 'spiffe://example.org/node-a', spiffe_id: 'spiffe://example.org/stdin', selectors: [{ type: 'unix', value: 'uid:9' }], x509_svid_ttl: 60, federates_with: [], dns_names: ['stdin.example.org'], entryExpiry: 1900000000 }] }) },
    { args: ['entry', 'create', '-data', f('missing.json')] },
    { args: ['entry', 'create', '-data', f('bad-id.json')] },
    // entry show / count with filters
    { args: ['entry', 'show'] },
    { args: ['entry', 'show', '-output', 'json'] },
    { args: ['entry', 'show', '-entryID', 'e-full'] },
    { args: ['entry', 'show', '-entryID', 'e-full', '-output', 'json'] },
    { args: ['entry', 'show', '-entryID', 'e-full', '-spiffeID', 'spiffe://example.org/full'] },
    { args: ['entry', 'show', '-spiffeID', 'spiffe://example.org/downstream'] },
    { args: ['entry', 'show', '-downstream'] },
    { args: ['entry', 'show', '-parentID', 'spiffe://example.org/node-a', '-selector', 'unix:uid:1'] },
    { args: ['entry', 'show', '-selector', `unix:uid:${UID}`, '-matchSelectorsOn', 'exact'] },
    { args: ['entry', 'show', '-selector', `unix:uid:${UID}`, '-selector', 'unix:gid:0', '-matchSelectorsOn', 'exact'] },
    { args: ['entry', 'show', '-selector', `unix:uid:${UID}`, '-selector', 'unix:uid:1', '-matchSelectorsOn', 'any'] },
    { args: ['entry', 'show', '-selector', 'unix:uid:1', '-matchSelectorsOn', 'bogus'] },
    { args: ['entry', 'show', '-hint', 'the-hint'] },
    { args: ['entry', 'show', '-spiffeID', 'spiffe://example.org/nothing'] },
    { args: ['entry', 'show', '-parentID', 'bad'] },
    { args: ['entry', 'count'] },
    { args: ['entry', 'count', '-output', 'json'] },
    { args: ['entry', 'count', '-downstream'] },
    { args: ['entry', 'count', '-parentID', 'spiffe://example.org/node-a'] },
    { args: ['entry', 'count', '-spiffeID', 'spiffe://example.org/web'] },
    { args: ['entry', 'count', '-selector', 'unix:uid:1', '-matchSelectorsOn', 'superset'] },
    { args: ['entry', 'count', '-hint', 'the-hint'] },
    // entry update / delete
    { args: ['entry', 'update', '-entryID', 'e-web', '-parentID', 'spiffe://example.org/node-a', '-spiffeID', 'spiffe://example.org/web', '-selector', `unix:uid:${UID}`, '-x509SVIDTTL', '120', '-hint', 'updated'] },
    { args: ['entry', 'update', '-entryID', 'e-web', '-parentID', 'spiffe://example.org/node-a', '-spiffeID', 'spiffe://example.org/web', '-selector', `unix:uid:${UID}`, '-output', 'json'] },
    { args: ['entry', 'update', '-parentID', 'spiffe://example.org/node-a', '-spiffeID', 'spiffe://example.org/web', '-selector', 'a:b'] },
    { args: ['entry', 'update', '-entryID', 'e-web', '-spiffeID', 'spiffe://example.org/web', '-selector', 'a:b'] },
    { args: ['entry', 'delete', '-entryID', 'e-json'] },
    { args: ['entry', 'delete', '-entryID', 'e-json'] },
    { args: ['entry', 'delete'] },
    { args: ['entry', 'delete', '-file', f('delete.json')] },
    { args: ['entry', 'delete', '-file', f('delete2.json'), '-output', 'json'] },
    // agents (none attested here)
    { args: ['agent', 'list'] },
    { args: ['agent', 'list', '-output', 'json'] },
    { args: ['agent', 'list', '-attestationType', 'join_token', '-canReattest', 'false', '-banned', 'false', '-selector', 'a:b', '-matchSelectorsOn', 'any'] },
    { args: ['agent', 'list', '-expiresBefore', '2030-01-02 15:04:05 +0000 +00'] },
    { args: ['agent', 'list', '-expiresBefore', 'tomorrow'] },
    { args: ['agent', 'list', '-selector', 'nocolon'] },
    { args: ['agent', 'count'] },
    { args: ['agent', 'count', '-output', 'json'] },
    { args: ['agent', 'count', '-banned', 'true'] },
    { args: ['agent', 'show'] },
    { args: ['agent', 'show', '-spiffeID', 'bad'] },
    { args: ['agent', 'evict'] },
    { args: ['agent', 'ban'] },
    { args: ['agent', 'purge'] },
    { args: ['agent', 'purge', '-dryRun', '-output', 'json'] },
    // bundles, both formats
    { args: ['bundle', 'show'] },
    { args: ['bundle', 'show', '-output', 'json'], differs: "Herald's own bundle carries refresh_hint 300 (its bundle endpoint's hint); SPIRE's has 0" },
    { args: ['bundle', 'show', '-format', 'spiffe'], differs: 'spiffe_refresh_hint: 300 in Herald (see bundle show -output json)' },
    { args: ['bundle', 'show', '-format', 'bogus'] },
    { args: ['bundle', 'count'] },
    { args: ['bundle', 'list'] },
    { args: ['bundle', 'set', '-id', 'spiffe://other.test', '-path', f('other.pem')] },
    { args: ['bundle', 'set', '-id', 'spiffe://third.test', '-path', f('third.json'), '-format', 'spiffe'] },
    { args: ['bundle', 'set', '-id', 'spiffe://zz-fourth.test', '-format', 'spiffe', '-output', 'json'], stdin: spiffeBundleJson },
    { args: ['bundle', 'set', '-path', f('other.pem')] },
    { args: ['bundle', 'set', '-id', 'spiffe://other.test', '-path', f('missing.pem')] },
    { args: ['bundle', 'count'] },
    { args: ['bundle', 'count', '-output', 'json'] },
    { args: ['bundle', 'list'] },
    { args: ['bundle', 'list', '-format', 'spiffe'], differs: 'Herald numbers a federated bundle set from PEM (spiffe_sequence 1); SPIRE keeps sequence 0 and omits it' },
    { args: ['bundle', 'list', '-id', 'spiffe://other.test'] },
    { args: ['bundle', 'list', '-id', 'spiffe://other.test', '-output', 'json'] },
    { args: ['bundle', 'list', '-id', 'spiffe://nope.test'] },
    { args: ['entry', 'create', '-entryID', 'e-fed', '-parentID', 'spiffe://example.org/node-a', '-spiffeID', 'spiffe://example.org/fed', '-selector', 'unix:uid:5', '-federatesWith', 'spiffe://other.test'] },
    { args: ['entry', 'show', '-federatesWith', 'spiffe://other.test', '-matchFederatesWithOn', 'exact'] },
    { args: ['entry', 'count', '-federatesWith', 'spiffe://other.test', '-matchFederatesWithOn', 'any'] },
    { args: ['bundle', 'delete', '-id', 'spiffe://other.test'], differs: 'the cause names Herald\'s datastore ("datastore: …"), SPIRE\'s names its plugin ("datastore-sql: …")' },
    { args: ['bundle', 'delete', '-id', 'spiffe://other.test', '-mode', 'bogus'] },
    { args: ['bundle', 'delete', '-id', 'spiffe://other.test', '-mode', 'dissociate'] },
    { args: ['bundle', 'delete', '-id', 'spiffe://zz-fourth.test', '-output', 'json'] },
    { args: ['bundle', 'delete'] },
    // federation
    { args: ['federation', 'create', '-trustDomain', 'fa-web.test', '-bundleEndpointURL', 'https://127.0.0.1:9443', '-bundleEndpointProfile', 'https_web'] },
    { args: ['federation', 'create', '-trustDomain', 'fb-spiffe.test', '-bundleEndpointURL', 'https://127.0.0.1:9444', '-bundleEndpointProfile', 'https_spiffe', '-endpointSpiffeID', 'spiffe://fb-spiffe.test/spire/server', '-trustDomainBundlePath', f('fed.pem')] },
    { args: ['federation', 'create', '-trustDomain', 'fa-web.test', '-bundleEndpointURL', 'https://127.0.0.1:9443', '-bundleEndpointProfile', 'https_web'], differs: 'a duplicate is AlreadyExists in Herald, Internal "UNIQUE constraint failed" in SPIRE' },
    { args: ['federation', 'create', '-trustDomain', 'x.test', '-bundleEndpointURL', 'https://127.0.0.1:9443'] },
    { args: ['federation', 'create', '-trustDomain', 'x.test', '-bundleEndpointURL', 'https://127.0.0.1:9443', '-bundleEndpointProfile', 'https_spiffe'] },
    { args: ['federation', 'create', '-bundleEndpointURL', 'https://127.0.0.1:9443'] },
    { args: ['federation', 'create', '-data', f('federation.json'), '-output', 'json'] },
    { args: ['federation', 'create', '-data', f('federation.json'), '-trustDomain', 'x.test'] },
    { args: ['federation', 'list'] },
    { args: ['federation', 'list', '-output', 'json'] },
    { args: ['federation', 'show', '-trustDomain', 'fb-spiffe.test'] },
    { args: ['federation', 'show', '-trustDomain', 'fa-web.test', '-output', 'json'] },
    { args: ['federation', 'show', '-trustDomain', 'nope.test'] },
    { args: ['federation', 'show'] },
    { args: ['federation', 'update', '-trustDomain', 'fa-web.test', '-bundleEndpointURL', 'https://127.0.0.1:9445', '-bundleEndpointProfile', 'https_web'] },
    { args: ['federation', 'update', '-trustDomain', 'nope.test', '-bundleEndpointURL', 'https://127.0.0.1:9445', '-bundleEndpointProfile', 'https_web'], differs: 'updating a missing relationship is NotFound in Herald, Internal "record not found" in SPIRE' },
    { args: ['federation', 'delete', '-id', 'fa-web.test'] },
    { args: ['federation', 'delete', '-id', 'fa-web.test'] },
    { args: ['federation', 'delete'] },
    { args: ['federation', 'refresh', '-id', 'nope.test'] },
    { args: ['federation', 'refresh'] },
    // local authorities
    { args: ['localauthority', 'x509', 'show'] },
    { args: ['localauthority', 'jwt', 'show'] },
    { args: ['localauthority', 'x509', 'show', '-output', 'json'] },
    { args: ['localauthority', 'x509', 'taint'] },
    { args: ['localauthority', 'jwt', 'activate'] },
    { args: ['upstreamauthority', 'taint'] },
    { args: ['upstreamauthority', 'revoke', '-output', 'json'] },
    { args: ['upstreamauthority', 'taint', '-subjectKeyID', 'abcd'], differs: "Herald's LocalAuthority API does not implement the upstream authority RPCs yet (Unimplemented)" },
    // x509 / jwt mint
    { args: ['x509', 'mint'] },
    { args: ['x509', 'mint', '-spiffeID', 'spiffe://example.org/minted', '-dns', 'minted.example.org'] },
    { args: ['x509', 'mint', '-spiffeID', 'spiffe://example.org/minted', '-output', 'json'] },
    { args: ['x509', 'mint', '-spiffeID', 'spiffe://example.org/minted', '-ttl', '1000h', '-write', join(dir, '.')] },
    { args: ['x509', 'mint', '-spiffeID', 'spiffe://other.test/x'] },
    { args: ['jwt', 'mint', '-spiffeID', 'spiffe://example.org/minted'] },
    { args: ['jwt', 'mint', '-audience', 'a'] },
    { args: ['jwt', 'mint', '-spiffeID', 'spiffe://example.org/minted', '-audience', 'a', '-audience', 'b'] },
    { args: ['jwt', 'mint', '-spiffeID', 'spiffe://example.org/minted', '-audience', 'a', '-ttl', '1000h', '-output', 'json'] },
    // -h and flag errors (Go's flag package, as SPIRE's adapter)
    { args: ['entry', 'create', '-h'] },
    { args: ['entry', 'count', '-h'] },
    { args: ['agent', 'list', '-h'] },
    { args: ['agent', 'purge', '-h'] },
    { args: ['bundle', 'set', '-nope'] },
    { args: ['federation', 'create', '-h'] },
    { args: ['localauthority', 'x509', 'show', '-h'] },
    { args: ['token', 'generate', '-h'] },
    { args: ['entry', 'show', '-x509SVIDTTL', '5'] },
    { args: ['entry', 'count', '-output', 'yaml'] },
    { args: ['entry', 'count', '-output', 'JSON'] },
    // validate (each server's own config file)
    { args: ['validate'], spire: ['validate', '-config', configs.spire], herald: ['validate', '-config', configs.herald] },
    // health
    { args: ['healthcheck'] },
    { args: ['healthcheck', '-verbose'] },
    // last, as it leaves the two servers with different bundles
    { args: ['bundle', 'set', '-id', 'spiffe://empty.test', '-format', 'spiffe'], stdin: '{"keys":[]}', differs: 'Herald refuses a federated bundle without authorities; SPIRE stores it' },
  ];
}

describe('herald-server CLI = spire-server 1.13.3 CLI (differential)', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let herald: ServerHandle;
  let spire: RunningProcess | undefined;
  let spireSocket: string;
  let spireServerBin: string;
  let spiffeBundleJson: string;

  beforeAll(async () => {
    spireServerBin = spireBinaries().server;
    tmp = await makeTempDir('herald-cli-diff-');
    const d = (n: string) => join(tmp.path, n);
    await mkdir(d('herald'));
    // SPIRE, configured as Herald's test server is: sqlite, join_token, 24h CA, 1h/5m SVIDs.
    spireSocket = d('spire-server.sock');
    await writeSpireServerConf(tmp.path, spireSocket);
    spire = startProcess(spireServerBin, ['run', '-config', d('server.conf')]);
    herald = await startServer({ dir: d('herald') });
    await waitFor('spire-server healthy', async () => (await runCommand(spireServerBin, ['healthcheck', '-socketPath', spireSocket])).code === 0, { timeoutMs: 30_000 });
    await waitFor('herald-server healthy', async () => (await herald.cli('healthcheck')).code === 0, { timeoutMs: 30_000 });
    // Input files, the same paths for both.
    const ca = await runCommand('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', d('other.key'), '-out', d('other.pem'), '-days', '30', '-subj', '/CN=other', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    expect(ca.code, ca.stderr).toBe(0);
    await runCommand('cp', [d('other.pem'), d('fed.pem')]);
    const otherPem = (await runCommand('cat', [d('other.pem')])).stdout;
    const der = Buffer.from(otherPem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64').toString('base64');
    await writeFile(d('third.json'), spiffeBundleJson = JSON.stringify({ keys: [{ use: 'x509-svid', kty: 'EC', crv: 'P-256', ...(await ecXY(d('other.pem'))), x5c: [der] }], spiffe_refresh_hint: 300, spiffe_sequence: 7 }));
    await writeFile(d('batch.json'), JSON.stringify({
      entries: [
        { entry_id: 'e-b1', parent_id: 'spiffe://example.org/node-a', spiffe_id: 'spiffe://example.org/b1', selectors: [{ type: 'unix', value: 'uid:11' }], x509_svid_ttl: 200, hint: 'b' },
        { entry_id: 'e-b2', parent_id: 'spiffe://example.org/node-a', spiffe_id: 'spiffe://example.org/b2', selectors: [{ type: 'unix', value: 'uid:12' }], jwt_svid_ttl: 30, dns_names: ['b2.example.org'] },
        { parent_id: 'spiffe://example.org/node-a', spiffe_id: 'spiffe://example.org/b1', selectors: [{ type: 'unix', value: 'uid:11' }] },
        { parent_id: 'spiffe://example.org/node-a', spiffe_id: 'spiffe://example.org/web', selectors: [{ type: 'unix', value: `uid:${UID}` }, { type: 'unix', value: 'gid:0' }] },
      ],
    }));
    await writeFile(d('bad-id.json'), JSON.stringify({ entries: [{ parent_id: 'spiffe://example.org/node-a', spiffe_id: 'nope', selectors: [{ type: 'a', value: 'b' }] }] }));
    await writeFile(d('delete.json'), JSON.stringify({ ids: ['e-b1', 'no-such-entry'] }));
    await writeFile(d('delete2.json'), JSON.stringify({ ids: ['e-b2'] }));
    await writeFile(d('federation.json'), JSON.stringify({
      federationRelationships: [
        { trustDomain: 'fc-web.test', bundleEndpointURL: 'https://127.0.0.1:9446', bundleEndpointProfile: 'https_web' },
        { trustDomain: 'fd-spiffe.test', bundleEndpointURL: 'https://127.0.0.1:9447', bundleEndpointProfile: 'https_spiffe', endpointSPIFFEID: 'spiffe://fd-spiffe.test/spire/server', trustDomainBundle: otherPem, trustDomainBundleFormat: 'pem' },
      ],
    }));
  }, 120_000);

  afterAll(async () => {
    await spire?.stop();
    await herald?.stop();
    await tmp?.cleanup();
  });

  it('prints the same stdout and stderr and exits the same for every call of the script', async () => {
    const sockets = [spireSocket, herald.socketPath];
    const same: string[] = [];
    const different: string[] = [];
    const fixedKnown: string[] = [];
    const steps = [...script(tmp.path, spiffeBundleJson, { spire: join(tmp.path, 'server.conf'), herald: herald.configPath }), ...(await badConfigs(tmp.path, join(tmp.path, 'server.conf'), 'server'))];
    for (const step of steps) {
      const opts = { cwd: tmp.path, env: { ...process.env, TZ: 'UTC' }, ...(step.stdin === undefined ? {} : { input: step.stdin }) };
      const s: Out = await runCommand(spireServerBin, [...(step.spire ?? step.args), '-socketPath', spireSocket], opts);
      const h: Out = await runCommand(SERVER_BIN, [...(step.herald ?? step.args), '-socketPath', herald.socketPath], opts);
      const ns = { code: s.code, stdout: normalize(s.stdout, sockets), stderr: normalize(s.stderr, sockets) };
      const nh = { code: h.code, stdout: normalize(h.stdout, sockets), stderr: normalize(h.stderr, sockets) };
      const label = step.args.join(' ');
      const equal = ns.code === nh.code && ns.stdout === nh.stdout && ns.stderr === nh.stderr;
      if (equal && step.differs) fixedKnown.push(label);
      else if (equal) same.push(label);
      else if (!step.differs || !shapeHolds(step, ns, nh)) {
        different.push(`--- ${label}${step.shape ? ` (shape ${step.shape})` : ''}\n  spire  (exit ${ns.code}): stdout ${JSON.stringify(ns.stdout)}\n                  stderr ${JSON.stringify(ns.stderr)}\n  herald (exit ${nh.code}): stdout ${JSON.stringify(nh.stdout)}\n                  stderr ${JSON.stringify(nh.stderr)}`);
      }
    }
    if (process.env.HERALD_CLI_DIFF_REPORT) console.log(`${same.length} calls identical\n${different.join('\n')}`);
    expect(different, different.join('\n')).toEqual([]);
    expect(fixedKnown, 'these now match SPIRE: drop their `differs` and the entry in docs/spire-compatibility.md').toEqual([]);
    expect(same.length).toBeGreaterThan(50);
  }, 600_000);

  it('entry create -storeSVID and "store_svid": true in -data are refused with the reason, never stored as false', async () => {
    const args = ['-parentID', 'spiffe://example.org/node-a', '-spiffeID', 'spiffe://example.org/stored', '-selector', 'unix:uid:77'];
    const flag = await herald.cli('entry', 'create', ...args, '-storeSVID');
    expect(flag.code).toBe(1);
    expect(flag.stderr).toContain('(code: InvalidArgument, msg: "invalid store_svid: Herald has no SVIDStore plugin support; entries with store_svid=true are refused")');
    const data = join(tmp.path, 'store.json');
    await writeFile(data, JSON.stringify({ entries: [{ parent_id: 'spiffe://example.org/node-a', spiffe_id: 'spiffe://example.org/stored', selectors: [{ type: 'unix', value: 'uid:77' }], store_svid: true }] }));
    const fromData = await herald.cli('entry', 'create', '-data', data);
    expect(fromData.code).toBe(1);
    expect(fromData.stderr).toContain('invalid store_svid');
    expect((await herald.cli('entry', 'show', '-spiffeID', 'spiffe://example.org/stored')).stdout).toBe('Found 0 entries\n');
  });
});

/** SPIRE's server config, as Herald's test server is configured: sqlite, join_token, 24h CA, 1h/5m SVIDs. */
async function writeSpireServerConf(dir: string, socket: string): Promise<{ conf: string; port: number }> {
  const conf = join(dir, 'server.conf');
  const port = await freePort();
  await mkdir(join(dir, 'spire-data'), { recursive: true });
  await writeFile(conf, spireServerConf({
    port,
    socketPath: socket,
    trustDomain: 'example.org',
    dataDir: join(dir, 'spire-data'),
    logLevel: 'WARN',
    serverExtra: '  ca_ttl = "24h"\n  default_x509_svid_ttl = "1h"\n  default_jwt_svid_ttl = "5m"\n',
    plugins: 'NodeAttestor "join_token" { plugin_data {} }',
  }));
  return { conf, port };
}

// prepare / activate / taint / revoke change the CA, so they run on servers of their own.
describe('localauthority x509|jwt prepare/activate/taint/revoke = spire-server 1.13.3 (differential, fresh servers)', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let spire: RunningProcess | undefined;
  let herald: ServerHandle | undefined;
  let spireSocket: string;

  beforeAll(async () => {
    tmp = await makeTempDir('herald-la-diff-');
    await mkdir(join(tmp.path, 'herald'));
    spireSocket = join(tmp.path, 'spire-server.sock');
    spire = startProcess(spireBinaries().server, ['run', '-config', (await writeSpireServerConf(tmp.path, spireSocket)).conf]);
    herald = await startServer({ dir: join(tmp.path, 'herald') });
    await waitFor('spire-server healthy', async () => (await runCommand(spireBinaries().server, ['healthcheck', '-socketPath', spireSocket])).code === 0, { timeoutMs: 30_000 });
    await waitFor('herald-server healthy', async () => (await herald!.cli('healthcheck')).code === 0, { timeoutMs: 30_000 });
  }, 120_000);

  afterAll(async () => {
    await spire?.stop();
    await herald?.stop();
    await tmp?.cleanup();
  });

  it('the full A/B lifecycle and its refusals print the same and exit the same, for X.509 and JWT', async () => {
    const bin = { spire: spireBinaries().server, herald: SERVER_BIN };
    const socket = { spire: spireSocket, herald: herald!.socketPath };
    const cli = (side: Side, args: string[]) => runCommand(bin[side], [...args, '-socketPath', socket[side]], { cwd: tmp.path, env: { ...process.env, TZ: 'UTC' } });
    type Slot = 'active' | 'prepared' | 'old';
    /** The ID of a slot's authority on one side, read from `show -output json` when the step runs. */
    const idOf = async (side: Side, kind: 'x509' | 'jwt', slot: Slot): Promise<string> => {
      const r = await cli(side, ['localauthority', kind, 'show', '-output', 'json']);
      if (r.code !== 0) throw new Error(`${side}: localauthority ${kind} show failed: ${r.stdout}${r.stderr}`);
      const id = (JSON.parse(r.stdout) as Record<Slot, { authority_id: string } | undefined>)[slot]?.authority_id;
      // No such slot: an ID that is none of this side's (the call's output then shows it).
      return id ?? `no-${slot}-authority`;
    };
    const steps: Step[] = [];
    const refusals = new Set<Step>();
    /** A refusal: the same exit code and first words on both sides, the status and its text Herald's own (see the doc). */
    const refused = (step: Step): Step => {
      const r = { ...step, differs: "the server's refusal: SPIRE's status (InvalidArgument or Internal) and wording; Herald's FailedPrecondition/NotFound/InvalidArgument naming the authority" };
      refusals.add(r);
      return r;
    };
    for (const kind of ['x509', 'jwt'] as const) {
      const la = (...a: string[]) => ['localauthority', kind, ...a];
      // An ID of neither side's authorities, in each kind's form (a subject key ID in hex; a JWT key ID).
      const unknown = kind === 'x509' ? '0123456789abcdef0123456789abcdef01234567' : 'NoSuchKeyIdNoSuchKeyIdNoSuchKeyI';
      const on = (action: string, slot: Slot, ...extra: string[]): Step => ({
        args: la(action, '-authorityID', `<${slot}>`, ...extra),
        at: async (side) => la(action, '-authorityID', await idOf(side, kind, slot), ...extra),
      });
      steps.push(
        { args: la('show') },
        { args: la('show', '-output', 'json') },
        // nothing prepared yet
        refused({ args: la('activate', '-authorityID', unknown) }),
        refused(on('activate', 'active')),
        refused(on('taint', 'active')),
        refused(on('revoke', 'active')),
        refused({ args: la('taint', '-authorityID', unknown) }),
        refused({ args: la('revoke', '-authorityID', unknown) }),
        { args: la('prepare') },
        { args: la('show') },
        { args: la('show', '-output', 'json') },
        refused({ args: la('activate', '-authorityID', unknown) }),
        refused(on('taint', 'prepared')),
        refused(on('revoke', 'prepared')),
        on('activate', 'prepared'),
        { args: la('show') },
        // the old authority: revoke before taint, taint of the active one, activate of the old one, taint, taint twice
        refused(on('revoke', 'old')),
        refused(on('taint', 'active')),
        refused(on('activate', 'old')),
        on('taint', 'old'),
        refused(on('taint', 'old')),
        { args: la('show') },
        refused({ args: la('revoke', '-authorityID', unknown) }),
        refused(on('revoke', 'active')),
        on('revoke', 'old'),
        { args: la('show') },
        // the same cycle with -output json
        { args: la('prepare', '-output', 'json') },
        on('activate', 'prepared', '-output', 'json'),
        on('taint', 'old', '-output', 'json'),
        on('revoke', 'old', '-output', 'json'),
        { args: la('show', '-output', 'json') },
        // flag checks
        { args: la('revoke') },
        { args: la('prepare', '-h') },
        { args: la('activate', '-h') },
        { args: la('taint', '-h') },
        { args: la('revoke', '-h') },
        { args: la('prepare', '-authorityID', 'x') },
      );
    }
    // compare runs each step on SPIRE, then on Herald: the outputs, in step order.
    const outputs: Out[] = [];
    const res = await compare(
      steps,
      async (side, args) => {
        const o = await cli(side, args);
        outputs.push(o);
        return o;
      },
      (text) => normalize(text, [socket.spire, socket.herald]),
    );
    if (process.env.HERALD_CLI_DIFF_REPORT) console.log(`${res.same.length} localauthority calls identical\n${res.different.join('\n')}`);
    // The refusals still differ in the server's status and text, but nothing else: no output, exit 1, SPIRE's CLI prefix.
    const shape = /^Error: could not (activate|taint|revoke) (X\.509|JWT) authority: rpc error: code = \w+ desc = /;
    steps.forEach((step, i) => {
      if (!refusals.has(step)) return;
      const [s, h] = [outputs[2 * i]!, outputs[2 * i + 1]!];
      const label = step.args.join(' ');
      const prefix = (o: Out) => shape.exec(o.stderr)?.[0].replace(/code = \w+ desc = $/, 'code = ');
      expect({ code: h.code, stdout: h.stdout, prefix: prefix(h) }, `${label}: ${h.stderr}`).toEqual({ code: s.code, stdout: s.stdout, prefix: prefix(s) });
      expect([s.code, s.stdout, shape.test(s.stderr)], `${label}: ${s.stderr}`).toEqual([1, '', true]);
    });
    expect(res.different, res.different.join('\n')).toEqual([]);
    expect(res.fixedKnown, 'these now match SPIRE: drop their `differs` and the entry in docs/spire-compatibility.md').toEqual([]);
  }, 600_000);
});

/** A known difference's `shape`, if any, holds on both sides. */
function shapeHolds(step: Step, s: Out, h: Out): boolean {
  return !step.shape || (s.code === h.code && step.shape.test(s.stderr) && step.shape.test(h.stderr));
}

/** Bad copies of a SPIRE config file (`base`, HCL) for `validate`: the same file for both products. */
async function badConfigs(dir: string, base: string, kind: 'server' | 'agent'): Promise<Step[]> {
  const text = await readFile(base, 'utf8');
  const write = async (name: string, body: string) => {
    await writeFile(join(dir, name), body);
    return join(dir, name);
  };
  const port = kind === 'server' ? 'bind_port' : 'server_port';
  const unknownKey = await write(`${kind}-unknown-key.conf`, text.replace('trust_domain =', 'no_such_key = 1\n  trust_domain ='));
  const badValue = await write(`${kind}-bad-value.conf`, text.replace(new RegExp(`${port} = "\\d+"`), `${port} = "abc"`));
  const syntax = await write(`${kind}-syntax.conf`, text.replace('trust_domain = "example.org"', 'trust_domain = "example.org'));
  const badTd = await write(`${kind}-bad-td.conf`, text.replace('trust_domain = "example.org"', 'trust_domain = "Example Org"'));
  const shape = new RegExp(`^<product> ${kind} configuration file is invalid: \\S`);
  const validate = (file: string) => ['validate', '-config', file];
  return [
    { args: validate(join(dir, `${kind}-missing.conf`)) },
    { args: validate(unknownKey), shape, differs: 'SPIRE logs the unknown keys (stdout) and says "unknown configuration detected"; Herald names the key and its line' },
    { args: validate(badValue), shape, differs: `SPIRE's detail is Go's ("strconv.ParseInt: parsing \"abc\": invalid syntax"); Herald names the key, its line and the expected type` },
    { args: validate(syntax), shape, differs: "HCL syntax errors: the same error in other words: SPIRE's \"At 5:30: literal not terminated\" (where the line ends), Herald's \"FILE:5: hcl: syntax error at column 20: unterminated string …\" (where the string starts)" },
    { args: validate(badTd), shape, differs: 'Herald adds the file, line and key to the same trust domain message' },
  ];
}

/** Runs `steps` on both sides and returns the differences, the calls that matched, and known differences that now match. */
async function compare(
  steps: readonly Step[],
  run: (side: 'spire' | 'herald', args: string[], stdin: string | undefined) => Promise<Out>,
  norm: (s: string) => string,
): Promise<{ same: string[]; different: string[]; fixedKnown: string[] }> {
  const same: string[] = [];
  const different: string[] = [];
  const fixedKnown: string[] = [];
  for (const step of steps) {
    const s = await run('spire', step.at ? await step.at('spire') : (step.spire ?? step.args), step.stdin);
    const h = await run('herald', step.at ? await step.at('herald') : (step.herald ?? step.args), step.stdin);
    const ns = { code: s.code, stdout: norm(s.stdout), stderr: norm(s.stderr) };
    const nh = { code: h.code, stdout: norm(h.stdout), stderr: norm(h.stderr) };
    const label = step.args.join(' ');
    const equal = ns.code === nh.code && ns.stdout === nh.stdout && ns.stderr === nh.stderr;
    if (equal && step.differs) fixedKnown.push(label);
    else if (equal) same.push(label);
    else if (!step.differs || !shapeHolds(step, ns, nh)) {
      different.push(`--- ${label}${step.shape ? ` (shape ${step.shape})` : ''}\n  spire  (exit ${ns.code}): stdout ${JSON.stringify(ns.stdout)}\n                  stderr ${JSON.stringify(ns.stderr)}\n  herald (exit ${nh.code}): stdout ${JSON.stringify(nh.stdout)}\n                  stderr ${JSON.stringify(nh.stderr)}`);
    }
  }
  return { same, different, fixedKnown };
}

describe('herald-agent CLI = spire-agent 1.13.3 CLI (differential)', () => {
  let tmp: { path: string; cleanup: () => Promise<void> };
  let spireServer: RunningProcess | undefined;
  let spireAgent: RunningProcess | undefined;
  let herald: ServerHandle | undefined;
  let heraldAgent: AgentHandle | undefined;
  let spireAgentSocket: string;
  let spireServerSocket: string;
  const bins = () => spireBinaries();

  beforeAll(async () => {
    tmp = await makeTempDir('herald-agent-cli-diff-');
    const d = (n: string) => join(tmp.path, n);
    await mkdir(d('herald'));
    const serverSocket = d('spire-server.sock');
    spireServerSocket = serverSocket;
    const { port } = await writeSpireServerConf(tmp.path, serverSocket);
    spireServer = startProcess(bins().server, ['run', '-config', d('server.conf')]);
    const scli = (...a: string[]) => runCommand(bins().server, [...a, '-socketPath', serverSocket]);
    await waitFor('spire-server healthy', async () => (await scli('healthcheck')).code === 0, { timeoutMs: 30_000 });
    const token = /Token: (\S+)/.exec((await scli('token', 'generate', '-spiffeID', 'spiffe://example.org/node')).stdout)![1]!;
    expect((await scli('entry', 'create', '-parentID', 'spiffe://example.org/node', '-spiffeID', 'spiffe://example.org/workload', '-selector', `unix:uid:${UID}`, '-hint', 'the-hint')).code).toBe(0);
    spireAgentSocket = d('spire-agent.sock');
    await writeFile(d('agent.conf'), spireAgentConf({ dataDir: d('spire-agent-data'), socketPath: spireAgentSocket, serverPort: port, trustDomain: 'example.org', nodeAttestor: 'NodeAttestor "join_token" { plugin_data {} }', logLevel: 'WARN' }));
    spireAgent = startProcess(bins().agent, ['run', '-config', d('agent.conf'), '-joinToken', token]);

    herald = await startServer({ dir: d('herald') });
    const htoken = await generateToken(herald, 'spiffe://example.org/node');
    expect((await herald.cli('entry', 'create', '-parentID', 'spiffe://example.org/node', '-spiffeID', 'spiffe://example.org/workload', '-selector', `unix:uid:${UID}`, '-hint', 'the-hint')).code).toBe(0);
    heraldAgent = await startAgent({ dir: d('herald'), server: herald, joinToken: htoken });
    for (const [what, cmd, sock] of [['spire-agent', bins().agent, spireAgentSocket], ['herald-agent', AGENT_BIN, heraldAgent.socketPath]] as const) {
      await waitFor(`${what} serves the SVID`, async () => (await runCommand(cmd, ['api', 'fetch', 'x509', '-socketPath', sock])).code === 0, { timeoutMs: 60_000 });
    }
  }, 180_000);

  afterAll(async () => {
    await spireAgent?.stop();
    await heraldAgent?.stop();
    await spireServer?.stop();
    await herald?.stop();
    await tmp?.cleanup();
  });

  it('api fetch x509|jwt, api validate jwt and healthcheck print the same and exit the same', async () => {
    const sockets = { spire: spireAgentSocket, herald: heraldAgent!.socketPath };
    const bin = { spire: bins().agent, herald: AGENT_BIN };
    const token: Record<string, string> = {};
    for (const side of ['spire', 'herald'] as const) {
      const r = await runCommand(bin[side], ['api', 'fetch', 'jwt', '-audience', 'aud1', '-output', 'json', '-socketPath', sockets[side]]);
      token[side] = (JSON.parse(r.stdout) as [{ svids: { svid: string }[] }])[0].svids[0]!.svid;
    }
    const out = { spire: join(tmp.path, 'out-spire'), herald: join(tmp.path, 'out-herald') };
    await mkdir(out.spire);
    await mkdir(out.herald);
    const perSide = (args: (side: 'spire' | 'herald') => string[]): Pick<Step, 'spire' | 'herald'> => ({ spire: args('spire'), herald: args('herald') });
    const steps: Step[] = [
      { args: ['api', 'fetch', 'x509'] },
      { args: ['api', 'fetch', 'x509', '-output', 'json'] },
      { args: ['api', 'fetch', 'x509', '-write', '<dir>'], ...perSide((s) => ['api', 'fetch', 'x509', '-write', out[s]]) },
      { args: ['api', 'fetch', 'x509', '-silent', '-write', '<dir>'], ...perSide((s) => ['api', 'fetch', 'x509', '-silent', '-write', out[s]]) },
      {
        args: ['api', 'fetch', 'x509', '-write', '<missing dir>'],
        ...perSide((s) => ['api', 'fetch', 'x509', '-write', join(out[s], 'missing')]),
        differs: 'Herald creates the -write directory; spire-agent fails with "open …: no such file or directory"',
      },
      { args: ['api', 'fetch', 'jwt', '-audience', 'aud1'] },
      { args: ['api', 'fetch', 'jwt', '-audience', 'aud1,aud2', '-output', 'json'] },
      { args: ['api', 'fetch', 'jwt'] },
      { args: ['api', 'validate', 'jwt', '-audience', 'aud1', '-svid', '<token>'], ...perSide((s) => ['api', 'validate', 'jwt', '-audience', 'aud1', '-svid', token[s]!]) },
      { args: ['api', 'validate', 'jwt', '-audience', 'aud1', '-svid', '<token>', '-output', 'json'], ...perSide((s) => ['api', 'validate', 'jwt', '-audience', 'aud1', '-svid', token[s]!, '-output', 'json']) },
      { args: ['api', 'validate', 'jwt', '-audience', 'other', '-svid', '<token>'], ...perSide((s) => ['api', 'validate', 'jwt', '-audience', 'other', '-svid', token[s]!]) },
      { args: ['api', 'validate', 'jwt', '-audience', 'aud1', '-svid', 'not-a-jwt'] },
      { args: ['api', 'validate', 'jwt', '-audience', 'aud1'] },
      { args: ['api', 'validate', 'jwt'] },
      { args: ['healthcheck'] },
      { args: ['healthcheck', '-verbose'] },
      { args: ['api', 'fetch', 'jwt', '-h'] },
      { args: ['api', 'fetch', 'x509', '-h'] },
      { args: ['api', 'validate', 'jwt', '-h'] },
      { args: ['api', 'fetch', 'jwt', '-nope'] },
      { args: ['api', 'fetch', 'jwt', '-audience', 'a', '-output', 'yaml'] },
    ];
    const res = await compare(
      steps,
      (side, args, stdin) => runCommand(bin[side], [...args, '-socketPath', sockets[side]], { cwd: tmp.path, env: { ...process.env, TZ: 'UTC' }, ...(stdin === undefined ? {} : { input: stdin }) }),
      (text) =>
        normalize(text, [sockets.spire, sockets.herald, out.spire, out.herald])
          .replace(/eyJ[\w-]+\.[\w-]+\.[\w-]+/g, '<jwt>')
          .replace(/Received (\d+ svids?) after \S+/g, 'Received $1 after <duration>')
          .replace(/("(?:x509_svid|x509_svid_key|bundle|example\.org|spiffe:\/\/example\.org)":)"[A-Za-z0-9+/=]{40,}"/g, '$1"<b64>"')
          .replace(/("(?:exp|iat|nbf)":)\d+/g, '$1<n>'),
    );
    if (process.env.HERALD_CLI_DIFF_REPORT) console.log(`${res.same.length} agent calls identical\n${res.different.join('\n')}`);
    expect(res.different, res.different.join('\n')).toEqual([]);
    expect(res.fixedKnown, 'these now match SPIRE: drop their `differs` and the entry in docs/spire-compatibility.md').toEqual([]);
  }, 300_000);

  it('api watch prints the same first update and stops the same on Ctrl-C; validate of good and bad HCL configs', async () => {
    const sockets = { spire: spireAgentSocket, herald: heraldAgent!.socketPath };
    const bin = { spire: bins().agent, herald: AGENT_BIN };
    const norm = (text: string) => normalize(text, [sockets.spire, sockets.herald]).replace(/Received (\d+ svids?) after \S+/g, 'Received $1 after <duration>');
    /** `api watch` until its first full update (the line after the last CA), then SIGINT, as Ctrl-C. */
    const watchFirst = (side: Side): Promise<Out> =>
      new Promise((resolve, reject) => {
        const child = spawn(bin[side], ['api', 'watch', '-socketPath', sockets[side]], { cwd: tmp.path, env: { ...process.env, TZ: 'UTC' }, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        let sent = false;
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
          if (!sent && /^Received [^\n]*\n\n(?:[^\n]+\n)+\n$/.test(stdout) && /CA #1 Valid Until:[^\n]*\n\n$/.test(stdout)) {
            sent = true;
            child.kill('SIGINT');
          }
        });
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('error', reject);
        child.on('exit', (code) => {
          clearTimeout(timer);
          resolve({ code, stdout, stderr });
        });
      });
    const watched = { spire: await watchFirst('spire'), herald: await watchFirst('herald') };
    expect(watched.spire.stdout).toContain('SPIFFE ID:\t\tspiffe://example.org/workload\n');
    expect({ ...watched.herald, stdout: norm(watched.herald.stdout), stderr: norm(watched.herald.stderr) }).toEqual({ ...watched.spire, stdout: norm(watched.spire.stdout), stderr: norm(watched.spire.stderr) });

    const steps: Step[] = [
      { args: ['api', 'watch', '-h'] },
      { args: ['api', 'watch', '-nope'] },
      // validate: SPIRE's own agent config (the one spire-agent runs with) and bad copies of it, the same file for both
      { args: ['validate', '-config', join(tmp.path, 'agent.conf')] },
      ...(await badConfigs(tmp.path, join(tmp.path, 'agent.conf'), 'agent')),
    ];
    const res = await compare(
      steps,
      (side, args, stdin) => runCommand(bin[side], args, { cwd: tmp.path, env: { ...process.env, TZ: 'UTC' }, ...(stdin === undefined ? {} : { input: stdin }) }),
      norm,
    );
    if (process.env.HERALD_CLI_DIFF_REPORT) console.log(`${res.same.length} agent watch/validate calls identical\n${res.different.join('\n')}`);
    expect(res.different, res.different.join('\n')).toEqual([]);
    expect(res.fixedKnown, 'these now match SPIRE: drop their `differs` and the entry in docs/spire-compatibility.md').toEqual([]);
  }, 120_000);

  it('server CLI with an attested agent: agent list/show/count and their filters, ban, evict, purge', async () => {
    const servers = { spire: spireServerSocket, herald: herald!.socketPath };
    const bin = { spire: bins().server, herald: SERVER_BIN };
    const agentId: Record<string, string> = {};
    for (const side of ['spire', 'herald'] as const) {
      const r = await runCommand(bin[side], ['agent', 'list', '-output', 'json', '-socketPath', servers[side]]);
      const id = (JSON.parse(r.stdout) as { agents: { id: { trust_domain: string; path: string } }[] }).agents[0]!.id;
      agentId[side] = `spiffe://${id.trust_domain}${id.path}`;
    }
    const byId = (...args: string[]) => (s: 'spire' | 'herald') => [...args, '-spiffeID', agentId[s]!];
    const perSide = (label: string[], args: (side: 'spire' | 'herald') => string[]): Step => ({ args: label, spire: args('spire'), herald: args('herald') });
    const steps: Step[] = [
      { args: ['agent', 'list'] },
      { args: ['agent', 'list', '-output', 'json'] },
      { args: ['agent', 'list', '-attestationType', 'join_token'] },
      { args: ['agent', 'list', '-attestationType', 'x509pop'] },
      { args: ['agent', 'list', '-canReattest', 'false'] },
      { args: ['agent', 'list', '-canReattest', 'true'] },
      { args: ['agent', 'list', '-banned', 'false'] },
      { args: ['agent', 'list', '-expiresBefore', '2000-01-01 00:00:00 +0000 +00'] },
      { args: ['agent', 'list', '-expiresBefore', '2999-01-01 00:00:00 +0000 +00'] },
      { args: ['agent', 'count'] },
      { args: ['agent', 'count', '-attestationType', 'join_token', '-canReattest', 'false'] },
      perSide(['agent', 'show', '-spiffeID', '<agent>'], byId('agent', 'show')),
      perSide(['agent', 'show', '-spiffeID', '<agent>', '-output', 'json'], byId('agent', 'show', '-output', 'json')),
      { args: ['agent', 'show', '-spiffeID', 'spiffe://example.org/spire/agent/join_token/nope'] },
      { args: ['agent', 'purge', '-dryRun'] },
      { args: ['entry', 'show', '-parentID', 'spiffe://example.org/node'] },
      perSide(['agent', 'ban', '-spiffeID', '<agent>'], byId('agent', 'ban')),
      { args: ['agent', 'list', '-banned', 'true'] },
      { args: ['agent', 'count', '-banned', 'true'] },
      perSide(['agent', 'evict', '-spiffeID', '<agent>', '-output', 'json'], byId('agent', 'evict', '-output', 'json')),
      { args: ['agent', 'count'] },
      { args: ['agent', 'evict', '-spiffeID', 'spiffe://example.org/spire/agent/join_token/nope'] },
    ];
    const res = await compare(
      steps,
      (side, args) => runCommand(bin[side], [...args, '-socketPath', servers[side]], { cwd: tmp.path, env: { ...process.env, TZ: 'UTC' } }),
      (text) => normalize(text, [servers.spire, servers.herald]),
    );
    if (process.env.HERALD_CLI_DIFF_REPORT) console.log(`${res.same.length} server calls with an agent identical\n${res.different.join('\n')}`);
    expect(res.different, res.different.join('\n')).toEqual([]);
    expect(res.fixedKnown, 'these now match SPIRE: drop their `differs` and the entry in docs/spire-compatibility.md').toEqual([]);
  }, 300_000);
});

/** The EC public key of a certificate as JWK x/y (openssl, so the test needs no key library). */
async function ecXY(certPath: string): Promise<{ x: string; y: string }> {
  const { createPublicKey } = await import('node:crypto');
  const pem = (await runCommand('openssl', ['x509', '-in', certPath, '-pubkey', '-noout'])).stdout;
  const jwk = createPublicKey(pem).export({ format: 'jwk' }) as { x: string; y: string };
  return { x: jwk.x, y: jwk.y };
}
