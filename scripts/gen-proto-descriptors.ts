// Generates proto/descriptors/<group>.json: each group of vendored .proto
// files (src/common/grpc/protos.ts) parsed once, as protobufjs JSON, which the
// binaries load instead of parsing the .proto files at every start. Only the
// types the group's services and lookedUpTypes reach are kept: the binaries
// build every type of a descriptor when they load it.
//   node scripts/gen-proto-descriptors.ts           # write the files
//   node scripts/gen-proto-descriptors.ts --check   # exit 1 when they are stale
import protobuf from 'protobufjs';
// Registers google/protobuf/descriptor.proto (which Envoy's annotations
// import) with protobufjs, as it is when the tests run this generator.
import '@grpc/proto-loader';
import { DESCRIPTOR_DIR, groups, lookedUpTypes, parseProtoGroup, type Group } from '../src/common/grpc/protos.ts';
import { writeOrCheck } from './lib/generated-files.ts';

export function renderProtoDescriptors(): Record<string, string> {
  return Object.fromEntries(
    (Object.keys(groups) as Group[]).map((g) => [`${DESCRIPTOR_DIR}/${g}.json`, JSON.stringify(prune(parseProtoGroup(g), lookedUpTypes[g] ?? []).toJSON({ keepComments: false })) + '\n']),
  );
}

/**
 * Removes from `root` (resolved) every message and enum type that neither a
 * service's methods nor `names` reach through fields, and the extension
 * fields (options such as validate.rules: read from the options themselves,
 * never through the extensions), then the namespaces left empty.
 */
export function prune(root: protobuf.Root, names: readonly string[]): protobuf.Root {
  const keep = new Set<protobuf.ReflectionObject>();
  const visit = (t: protobuf.ReflectionObject | null | undefined): void => {
    if (!t || keep.has(t)) return;
    keep.add(t);
    // A nested type needs its parent type, and all the parent's fields.
    if (t.parent instanceof protobuf.Type) visit(t.parent);
    if (t instanceof protobuf.Type) for (const f of t.fieldsArray) visit(f.resolvedType);
  };
  const all: protobuf.ReflectionObject[] = [];
  const walk = (ns: protobuf.NamespaceBase): void => {
    for (const o of ns.nestedArray) {
      all.push(o);
      if (o instanceof protobuf.Namespace) walk(o);
    }
  };
  walk(root);
  for (const o of all) if (o instanceof protobuf.Service) for (const m of o.methodsArray) (visit(m.resolvedRequestType), visit(m.resolvedResponseType));
  for (const name of names) visit(root.lookupTypeOrEnum(name));
  for (const o of all) {
    const unused = ((o instanceof protobuf.Type || o instanceof protobuf.Enum) && !keep.has(o)) || (o instanceof protobuf.Field && o.extend !== undefined);
    if (unused && o.parent) o.parent.remove(o);
  }
  // Innermost first: a namespace emptied by removing its children goes too.
  for (const o of all.reverse()) {
    if (o instanceof protobuf.Namespace && !(o instanceof protobuf.Type) && !(o instanceof protobuf.Service) && o.nestedArray.length === 0 && o.parent) o.parent.remove(o);
  }
  return root;
}

if (import.meta.main) process.exitCode = await writeOrCheck(renderProtoDescriptors(), process.argv.slice(2), 'scripts/gen-proto-descriptors.ts', DESCRIPTOR_DIR);
