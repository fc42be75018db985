// Generates proto/descriptors/<group>.json: each group of vendored .proto
// files (src/common/grpc/protos.ts) parsed once, as protobufjs JSON, which the
// binaries load instead of parsing the .proto files at every start.
//   node scripts/gen-proto-descriptors.ts           # write the files
//   node scripts/gen-proto-descriptors.ts --check   # exit 1 when they are stale
import { DESCRIPTOR_DIR, groups, parseProtoGroup, type Group } from '../src/common/grpc/protos.ts';
import { writeOrCheck } from './lib/generated-files.ts';

export function renderProtoDescriptors(): Record<string, string> {
  return Object.fromEntries(
    (Object.keys(groups) as Group[]).map((g) => [`${DESCRIPTOR_DIR}/${g}.json`, JSON.stringify(parseProtoGroup(g).toJSON({ keepComments: false })) + '\n']),
  );
}

if (import.meta.main) process.exitCode = await writeOrCheck(renderProtoDescriptors(), process.argv.slice(2), 'scripts/gen-proto-descriptors.ts', DESCRIPTOR_DIR);
