// The `template` and `module` composers: config from the real loader (YAML
// and HCL, with the errors a user sees), their output through the real
// credential builder and signer, and the builder's refusals naming them.
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, formatProblem } from '../../../../src/common/config/index.ts';
import { loadServerConfig } from '../../../../src/server/config.ts';
import { CredentialBuilder } from '../../../../src/server/credtemplate/builder.ts';
import type { CredentialComposer } from '../../../../src/server/credtemplate/composer.ts';
import { signLeaf } from '../../../../src/server/credtemplate/x509.ts';
import { createCaCertificate, signX509Svid } from '../../../../src/server/credtemplate/standalone.ts';
import { plugin as modulePlugin } from '../../../../src/server/plugins/credentialcomposer/module/plugin.ts';
import { TemplateComposer, compileIdPattern } from '../../../../src/server/plugins/credentialcomposer/template/template.ts';
import { UniqueIdComposer } from '../../../../src/server/plugins/credentialcomposer/uniqueid/uniqueid.ts';
import { SpiffeId } from '../../../../src/spiffe/id.ts';
import { keyObjectSigner } from '../../../../src/spiffe/signer.ts';
import { TrustDomain } from '../../../../src/spiffe/trust-domain.ts';
import { uniqueIdFor } from '../../../../src/spiffe/x509-template.ts';
import { makeTempDir } from '../../../helpers/tmp.ts';

const td = TrustDomain.fromString('example.org');
const entry = (over: Partial<{ id: string; hint: string; selectors: { type: string; value: string }[] }> = {}) => ({
  id: 'e-1',
  hint: 'orders-db',
  selectors: [
    { type: 'unix', value: 'uid:1000' },
    { type: 'k8s', value: 'ns:payments' },
  ],
  ...over,
});

let tmp: { path: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  tmp = await makeTempDir('herald-composer-');
});
afterEach(async () => {
  await tmp.cleanup();
});

const BASE = `server:
  trust_domain: example.org
plugins:
  DataStore: { sql: { plugin_data: { database_type: sqlite3 } } }
  KeyManager: { memory: {} }
`;

async function loadYaml(composers: string) {
  await writeFile(join(tmp.path, 'server.yaml'), `${BASE}  CredentialComposer:\n${composers}`);
  return loadServerConfig({ cwd: tmp.path, configPath: 'server.yaml' });
}
async function problems(composers: string): Promise<string[]> {
  const err = await loadYaml(composers).then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ConfigError);
  return (err as ConfigError).problems.map(formatProblem);
}

describe('SPIFFE-ID patterns', () => {
  it.each([
    ['spiffe://example.org/db/*', 'spiffe://example.org/db/orders', true],
    ['spiffe://example.org/db/*', 'spiffe://example.org/db/orders/x', false],
    ['spiffe://example.org/db/**', 'spiffe://example.org/db/orders/x', true],
    ['spiffe://example.org/db/**', 'spiffe://example.org/db', true],
    ['spiffe://example.org/db/**', 'spiffe://example.org/dbx', false],
    ['spiffe://example.org/ns/*/sa/*', 'spiffe://example.org/ns/pay/sa/api', true],
    ['spiffe://example.org/a.b', 'spiffe://example.org/axb', false],
    ['spiffe://example.org/db-*', 'spiffe://example.org/db-orders', true],
  ])('%s ~ %s → %s', (pattern, id, hit) => {
    expect(compileIdPattern(pattern).test(id)).toBe(hit);
  });
});

describe('template composer', () => {
  const composer = new TemplateComposer([
    { pattern: 'spiffe://example.org/db/*', subject: '/C=US/O=Payments/OU={{selector.k8s:ns}}/CN={{path.last}}', dnsNames: ['{{path.last}}.db.internal', '{{hint}}.svc'], jwtClaims: { role: '{{path.last}}', uid: '{{selector.unix:uid}}', td: '{{trust_domain}}' } },
    { pattern: 'spiffe://example.org/**', subject: 'CN={{hint}},O=Acme,C=US', dnsNames: [], jwtClaims: {} },
  ]);
  const builder = new CredentialBuilder({ trustDomain: td, composers: [new UniqueIdComposer(), composer] });

  it('writes the subject and DNS SANs of a workload X509-SVID from the ID and the entry (slash form, DER order)', async () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const id = SpiffeId.fromString('spiffe://example.org/db/orders');
    const t = await builder.buildX509SvidTemplate('workload', { id, spki: key.publicKey.export({ type: 'spki', format: 'der' }), entry: entry() as never });
    expect(t.subject.map((a) => `${a.type}=${a.value}`)).toEqual(['C=US', 'O=Payments', 'OU=payments', 'CN=orders']);
    expect(t.dnsNames).toEqual(['orders.db.internal', 'orders-db.svc']);
    // Signed for real: OpenSSL's view of the certificate.
    const caKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const ca = await createCaCertificate({ trustDomain: td, publicKey: caKey.publicKey, signer: { privateKey: caKey.privateKey }, notBefore: Date.now(), notAfter: Date.now() + 3_600_000 });
    const leaf = await signLeaf({ ca, signer: keyObjectSigner(caKey.privateKey, ca.publicKey), spki: key.publicKey.export({ type: 'spki', format: 'der' }), id, now: Date.now(), ttlMs: 600_000, template: t });
    const cert = new X509Certificate(leaf.der);
    expect(cert.subject).toBe('C=US\nO=Payments\nOU=payments\nCN=orders');
    expect(cert.subjectAltName).toBe('URI:spiffe://example.org/db/orders, DNS:orders.db.internal, DNS:orders-db.svc');
  });

  it('reads RFC 4514 most-specific-first and the first matching pattern wins; without the variable the attribute is left out', async () => {
    const spki = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });
    const other = SpiffeId.fromString('spiffe://example.org/web/api');
    const t = await builder.buildX509SvidTemplate('workload', { id: other, spki, entry: entry() as never });
    expect(t.subject.map((a) => `${a.type}=${a.value}`)).toEqual(['C=US', 'O=Acme', 'CN=orders-db']);
    const noHint = await builder.buildX509SvidTemplate('workload', { id: other, spki, entry: entry({ hint: '' }) as never });
    expect(noHint.subject.map((a) => `${a.type}=${a.value}`)).toEqual(['C=US', 'O=Acme']);
    // No entry (the server's own SVID): DNS names needing the hint are left out, the rest applies.
    const db = await builder.buildX509SvidTemplate('workload', { id: SpiffeId.fromString('spiffe://example.org/db/x'), spki });
    expect(db.subject.map((a) => `${a.type}=${a.value}`)).toEqual(['C=US', 'O=Payments', 'CN=x']);
    expect(db.dnsNames).toEqual(['x.db.internal']);
  });

  it('leaves IDs no pattern matches to the composers before it (uniqueid)', async () => {
    const spki = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });
    const id = SpiffeId.fromString('spiffe://other.org/x');
    const t = await builder.buildX509SvidTemplate('workload', { id, spki });
    expect(t.subject).toEqual([
      { type: 'C', value: 'US', encoding: 'printable' },
      { type: 'O', value: 'SPIRE', encoding: 'utf8' },
      { type: 'x500UniqueIdentifier', value: uniqueIdFor(id), encoding: 'utf8' },
    ]);
  });

  it('adds JWT-SVID claims from the entry', async () => {
    const now = Date.now();
    const claims = await builder.buildWorkloadJwtSvidClaims({ id: SpiffeId.fromString('spiffe://example.org/db/orders'), entry: entry() as never, audience: ['pg'], expiresAt: now + 60_000, now });
    expect(claims).toMatchObject({ sub: 'spiffe://example.org/db/orders', aud: ['pg'], role: 'orders', uid: '1000', td: 'example.org' });
  });

  it('is refused by the builder, naming it and the rule, when a filled-in DNS name is not one', () => {
    const spki = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });
    expect(() => builder.buildX509SvidTemplate('workload', { id: SpiffeId.fromString('spiffe://example.org/db/orders'), spki, entry: entry({ hint: 'not a name' }) as never })).toThrow('credential composer "template": workload X509-SVID for spiffe://example.org/db/orders: dnsNames "not a name.svc" is not a DNS name');
  });
});

describe('template composer config', () => {
  it('loads from YAML after uniqueid, in file order', async () => {
    const c = await loadYaml(`    template:
      plugin_data:
        templates:
          "spiffe://example.org/db/*": { subject: "/O=Payments/CN={{path.last}}", dns_names: ["{{path.last}}.db"], jwt_claims: { role: "{{path.last}}" } }
          "spiffe://example.org/**": { subject: "CN={{spiffe_id}}" }
`);
    const composers = c.plugins.filter((p) => p.type === 'CredentialComposer');
    expect(composers.map((p) => p.name)).toEqual(['uniqueid', 'template']);
    expect((composers[1]!.config as { pattern: string }[]).map((r) => r.pattern)).toEqual(['spiffe://example.org/db/*', 'spiffe://example.org/**']);
  });

  it('loads from HCL as SPIRE users write plugin blocks', async () => {
    await writeFile(
      join(tmp.path, 'server.conf'),
      `server { trust_domain = "example.org" }
plugins {
  DataStore "sql" { plugin_data { database_type = "sqlite3" } }
  KeyManager "memory" { plugin_data {} }
  CredentialComposer "uniqueid" { enabled = false }
  CredentialComposer "template" {
    plugin_data {
      templates "spiffe://example.org/db/*" {
        subject = "CN={{path.last}},O=Payments,C=US"
        jwt_claims { team = "{{selector.k8s:ns}}" }
      }
    }
  }
}
`,
    );
    const c = await loadServerConfig({ cwd: tmp.path, configPath: 'server.conf' });
    const composers = c.plugins.filter((p) => p.type === 'CredentialComposer');
    expect(composers.map((p) => p.name)).toEqual(['template']);
    expect(composers[0]!.config).toEqual([{ pattern: 'spiffe://example.org/db/*', subject: 'CN={{path.last}},O=Payments,C=US', dnsNames: [], jwtClaims: { team: '{{selector.k8s:ns}}' } }]);
  });

  it.each([
    ['an unknown variable', '"spiffe://example.org/*": { subject: "CN={{path.first}}" }', 'templates["spiffe://example.org/*"].subject: unknown variable {{path.first}} (known: spiffe_id, trust_domain, path, path.last, unique_id, hint, entry_id, path.<n>, selector.<type>, selector.<type>:<key>)'],
    ['an unclosed placeholder', '"spiffe://example.org/*": { dns_names: ["{{hint"] }', 'unclosed "{{" in "{{hint"'],
    ['a pattern without a trust domain', '"/db/*": { subject: "CN=x" }', 'pattern "/db/*" must start with spiffe://<trust domain>'],
    ['a wildcard trust domain', '"spiffe://*/db": { subject: "CN=x" }', 'no wildcard in the trust domain'],
    ['an unknown attribute type', '"spiffe://example.org/*": { subject: "/XX=1/CN=x" }', 'attribute type "XX" is neither a known short name'],
    ['an attribute without =', '"spiffe://example.org/*": { subject: "CN=x,Payments" }', '"Payments" is not TYPE=value'],
    ['a reserved claim', '"spiffe://example.org/*": { jwt_claims: { aud: "x" } }', 'claim "aud" is set by the server'],
    ['iss', '"spiffe://example.org/*": { jwt_claims: { iss: "x" } }', 'claim "iss" is set by the server'],
  ])('refuses %s', async (_what, rule, message) => {
    const got = await problems(`    template: { plugin_data: { templates: { ${rule} } } }\n`);
    expect(got.join('\n')).toContain(message);
    expect(got.join('\n')).toContain('plugins.CredentialComposer.template.plugin_data.templates');
  });
});

describe('module composer', () => {
  const load = async (source: string, options: Record<string, string> = {}) => {
    const path = join(tmp.path, 'my-composer.ts');
    await writeFile(path, source);
    return modulePlugin.create({ path, options }, { trustDomain: td } as never) as Promise<CredentialComposer>;
  };

  it('loads a TypeScript module, hands it its options, and its output goes through the builder', async () => {
    const c = await load(
      `import type { CredentialComposer } from ${JSON.stringify(join(import.meta.dirname, '../../../../src/server/credtemplate/composer.ts'))};
export function createComposer(options: Record<string, string>, ctx: { trustDomain: string }): CredentialComposer {
  return {
    name: 'org-unit',
    composeWorkloadX509Svid(a) { return { ...a, subject: [...a.subject, { type: 'OU', value: options.unit + '@' + ctx.trustDomain }] }; },
    composeWorkloadJwtSvid(a, ctx) { return { claims: { ...a.claims, unit: options.unit, hint: ctx.entry?.hint ?? '' } }; },
  };
}
`,
      { unit: 'payments' },
    );
    expect(c.name).toBe('module:org-unit');
    const builder = new CredentialBuilder({ trustDomain: td, composers: [c] });
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const t = await builder.buildX509SvidTemplate('workload', { id: SpiffeId.fromString('spiffe://example.org/w'), spki: key.publicKey.export({ type: 'spki', format: 'der' }) });
    expect(t.subject.at(-1)).toEqual({ type: 'OU', value: 'payments@example.org' });
    const now = Date.now();
    const claims = await builder.buildWorkloadJwtSvidClaims({ id: SpiffeId.fromString('spiffe://example.org/w'), entry: entry() as never, audience: ['a'], expiresAt: now + 60_000, now });
    expect(claims).toMatchObject({ unit: 'payments', hint: 'orders-db' });
  });

  it('is refused by the builder naming it when it overrides a reserved claim or breaks the SVID', async () => {
    const c = await load(`export default () => ({
  name: 'rogue',
  composeWorkloadJwtSvid: (a) => ({ claims: { ...a.claims, exp: 1 } }),
  composeWorkloadX509Svid: (a) => ({ ...a, dnsNames: ['spiffe://example.org/other'] }),
});
`);
    const builder = new CredentialBuilder({ trustDomain: td, composers: [c] });
    const now = Date.now();
    await expect(builder.buildWorkloadJwtSvidClaims({ id: SpiffeId.fromString('spiffe://example.org/w'), audience: ['a'], expiresAt: now + 60_000, now })).rejects.toThrow(
      'credential composer "module:rogue": workload JWT-SVID for spiffe://example.org/w: claim "exp" is set by the server and may not be changed or removed',
    );
    const spki = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' });
    expect(() => builder.buildX509SvidTemplate('workload', { id: SpiffeId.fromString('spiffe://example.org/w'), spki })).toThrow(
      'credential composer "module:rogue": workload X509-SVID for spiffe://example.org/w: dnsNames "spiffe://example.org/other" is not a DNS name (a URI SAN other than the SPIFFE ID is not allowed in an X509-SVID)',
    );
  });

  it.each([
    ['no createComposer', 'export const x = 1;', 'exports no createComposer function (named or default)'],
    ['no name', 'export default () => ({ composeWorkloadX509Svid: (a) => a });', 'the composer has no name'],
    ['no compose method', "export default () => ({ name: 'idle' });", 'composer "idle" has none of composeServerX509Ca'],
    ['a method that is not a function', "export default () => ({ name: 'odd', composeWorkloadJwtSvid: 3 });", 'composer "odd": composeWorkloadJwtSvid is not a function'],
  ])('refuses a module with %s', async (_what, source, message) => {
    await expect(load(source)).rejects.toThrow(message);
  });
});

// Keep the standalone helper honest: the default profile is still uniqueid's.
it('standalone SVIDs keep the uniqueid subject', async () => {
  const caKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ca = await createCaCertificate({ trustDomain: td, publicKey: caKey.publicKey, signer: { privateKey: caKey.privateKey }, notBefore: Date.now(), notAfter: Date.now() + 3_600_000 });
  const id = SpiffeId.fromString('spiffe://example.org/db/orders');
  const leaf = await signX509Svid({ ca: { certificate: ca, privateKey: caKey.privateKey }, id, now: Date.now(), ttlMs: 60_000, publicKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey });
  expect(leaf.subject).toBe(`C=US\nO=SPIRE\nx500UniqueIdentifier=${uniqueIdFor(id)}`);
});

it('the module composer: a relative path resolves against the working directory; a missing module fails to load naming it', async () => {
  await writeFile(join(tmp.path, 'server.yaml'), `${BASE}  CredentialComposer:\n    module: { plugin_data: { path: ./composers/mine.ts, options: { unit: payments } } }\n`);
  const c = await loadServerConfig({ cwd: tmp.path, configPath: 'server.yaml' });
  const declared = c.plugins.find((p) => p.name === 'module')!;
  expect(declared.config).toEqual({ path: join(tmp.path, 'composers/mine.ts'), options: { unit: 'payments' } });
  await expect(modulePlugin.create(declared.config as never, { trustDomain: td } as never)).rejects.toThrow(join(tmp.path, 'composers/mine.ts'));
});
