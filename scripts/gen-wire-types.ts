// Generates proto/gen/ (TypeScript types of the SPIFFE Workload API,
// SPIRE's server APIs and grpc.health) from the vendored protos with
// proto-loader-gen-types, with the loader options src/common/grpc/protos.ts
// uses, so the types cannot drift from what goes on the wire.
//   npx node scripts/gen-wire-types.ts           # write the files
//   npx node scripts/gen-wire-types.ts --check   # exit 1 when they are stale
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { filesUnder, writeOrCheck } from './lib/generated-files.ts';

export const WIRE_TYPES_DIR = 'proto/gen';

/** The protos whose messages and clients are typed (protos.ts groups `spiffe` and `health`). */
const PROTOS = [
  'workload.proto',
  'spire/api/server/agent/v1/agent.proto',
  'spire/api/server/svid/v1/svid.proto',
  'spire/api/server/entry/v1/entry.proto',
  'spire/api/server/bundle/v1/bundle.proto',
  'spire/api/server/trustdomain/v1/trustdomain.proto',
  'spire/api/server/localauthority/v1/localauthority.proto',
  'grpc/health/v1/health.proto',
];

// As LOADER_OPTIONS in protos.ts: keepCase, longs and enums as strings, Buffers, defaults.
const OPTIONS = ['--keepCase', '--longs=String', '--enums=String', '--defaults', '--arrays', '--objects', '--oneofs', '--grpcLib=@grpc/grpc-js'];

const root = join(import.meta.dirname, '..');

/** Relative file path → generated TypeScript. */
export async function renderWireTypes(): Promise<Record<string, string>> {
  const bin = createRequire(import.meta.url).resolve('@grpc/proto-loader/build/bin/proto-loader-gen-types.js');
  const out = await mkdtemp(join(tmpdir(), 'herald-wire-types-'));
  try {
    // Relative include dirs, run from the repository: the "Original file" comments stay the same in every checkout.
    await promisify(execFile)(
      process.execPath,
      [bin, ...OPTIONS, '-I', 'proto/spiffe', '-I', 'proto', '-O', out, '--targetFileExtension=.ts', '--importFileExtension=.ts', ...PROTOS],
      { cwd: root },
    );
    const result: Record<string, string> = {};
    for (const e of await readdir(out, { recursive: true, withFileTypes: true })) {
      if (!e.isFile()) continue;
      const rel = join(e.parentPath, e.name).slice(out.length + 1);
      result[`${WIRE_TYPES_DIR}/${rel}`] = await readFile(join(out, rel), 'utf8');
    }
    return result;
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

/** The files now under WIRE_TYPES_DIR, as renderWireTypes() returns them. */
export async function currentWireTypes(): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  for (const rel of await filesUnder(WIRE_TYPES_DIR)) result[rel] = await readFile(join(root, rel), 'utf8');
  return result;
}

if (import.meta.main) {
  process.exitCode = await writeOrCheck(await renderWireTypes(), process.argv.slice(2), 'scripts/gen-wire-types.ts', WIRE_TYPES_DIR);
}
