// Copies the Envoy API protos Herald serves or emits — SDS, ext_authz and the
// TLS secret types, with everything they import — from @grpc/grpc-js-xds's
// bundled copies into proto/envoy/. Run after upgrading @grpc/grpc-js-xds:
//   node scripts/vendor-envoy-protos.ts
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const root = join(import.meta.dirname, '..');
const deps = join(root, 'node_modules/@grpc/grpc-js-xds/deps');
const roots = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'];
const out = join(root, 'proto/envoy');

const wanted = [
  'envoy/service/secret/v3/sds.proto',
  'envoy/service/auth/v3/external_auth.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls_spiffe_validator_config.proto',
  'envoy/config/core/v3/extension.proto',
];

// protobufjs ships the google/protobuf well-known types itself.
const builtIn = (p: string): boolean => p.startsWith('google/protobuf/');

function locate(p: string): string {
  for (const r of roots) if (existsSync(join(deps, r, p))) return join(deps, r, p);
  throw new Error(`vendor-envoy-protos: ${p} not found under ${deps}`);
}

rmSync(out, { recursive: true, force: true });
const seen = new Set<string>();
const queue = [...wanted];
while (queue.length > 0) {
  const p = queue.pop()!;
  if (seen.has(p) || builtIn(p)) continue;
  seen.add(p);
  const src = locate(p);
  mkdirSync(dirname(join(out, p)), { recursive: true });
  cpSync(src, join(out, p));
  for (const m of readFileSync(src, 'utf8').matchAll(/^import\s+(?:public\s+)?"([^"]+)";/gm)) queue.push(m[1]!);
}
for (const r of roots) {
  const lic = join(deps, r, 'LICENSE');
  if (existsSync(lic)) cpSync(lic, join(out, `LICENSE.${r}`));
}
writeFileSync(
  join(out, 'README.md'),
  `# Vendored Envoy API protos\n\nCopied by \`node scripts/vendor-envoy-protos.ts\` from \`@grpc/grpc-js-xds\`'s bundled\n` +
    `envoy-api, xds, googleapis and protoc-gen-validate trees (licenses alongside): ${seen.size} files,\n` +
    `the import closure of:\n\n${wanted.map((w) => `- \`${w}\``).join('\n')}\n\n` +
    `All are Apache-2.0 (envoyproxy/data-plane-api, cncf/xds, googleapis, bufbuild/protoc-gen-validate).\n`,
);
console.log(`vendored ${seen.size} protos into proto/envoy/`);
