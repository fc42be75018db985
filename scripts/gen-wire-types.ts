// Generates proto/gen/ (TypeScript types of the SPIFFE Workload API,
// SPIRE's server APIs and grpc.health) from the vendored protos with
// proto-loader-gen-types, with the loader options src/common/grpc/protos.ts
// uses, so the types cannot drift from what goes on the wire.
//   npx node scripts/gen-wire-types.ts           # write the files
//   npx node scripts/gen-wire-types.ts --check   # exit 1 when they are stale
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

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

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw err;
  });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1)).sort();
}

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
    for (const rel of await filesUnder(out)) result[`${WIRE_TYPES_DIR}/${rel}`] = await readFile(join(out, rel), 'utf8');
    return result;
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

/** The files now under WIRE_TYPES_DIR, as renderWireTypes() returns them. */
export async function currentWireTypes(): Promise<Record<string, string>> {
  const dir = join(root, WIRE_TYPES_DIR);
  const result: Record<string, string> = {};
  for (const rel of await filesUnder(dir)) result[`${WIRE_TYPES_DIR}/${rel}`] = await readFile(join(dir, rel), 'utf8');
  return result;
}

async function main(argv: readonly string[]): Promise<number> {
  const check = argv.includes('--check');
  const expected = await renderWireTypes();
  if (check) {
    const current = await currentWireTypes();
    const stale = [...new Set([...Object.keys(expected), ...Object.keys(current)])].filter((rel) => expected[rel] !== current[rel]);
    for (const rel of stale) process.stderr.write(`${rel} is out of date; run: npx node scripts/gen-wire-types.ts\n`);
    return stale.length === 0 ? 0 : 1;
  }
  await rm(join(root, WIRE_TYPES_DIR), { recursive: true, force: true });
  for (const [rel, content] of Object.entries(expected)) {
    await mkdir(dirname(join(root, rel)), { recursive: true });
    await writeFile(join(root, rel), content);
  }
  process.stdout.write(`wrote ${Object.keys(expected).length} files under ${WIRE_TYPES_DIR}\n`);
  return 0;
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
