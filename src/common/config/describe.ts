// The schema as documentation: one row per key, rendered as a Markdown table
// for the docs or as aligned text for `--help`. Same source as validation.
import type { Spec } from './schema.ts';

export interface SchemaDocRow {
  /** Key path; map keys appear as `<name>`, e.g. `server.federation.federates_with.<name>.bundle_endpoint_url`. */
  readonly path: string;
  /** Human type, e.g. `int (1..65535)`, `duration`, `ec-p256 | rsa-2048`. */
  readonly type: string;
  /** Default as written in the schema, if any. */
  readonly default: string | undefined;
  readonly required: boolean;
  readonly description: string;
}

export function describeSchema(schema: Spec, prefix = ''): SchemaDocRow[] {
  const rows: SchemaDocRow[] = [];
  const row = (path: string, type: string, description: string, def?: string, required = false): void => {
    rows.push({ path, type, default: def, required, description });
  };
  const visit = (spec: Spec, path: string): void => {
    const join = (k: string): string => (path === '' ? k : `${path}.${k}`);
    switch (spec.kind) {
      case 'section':
        if (path !== '') row(path, 'section', spec.description);
        for (const [k, child] of Object.entries(spec.fields as Readonly<Record<string, Spec>>)) visit(child, join(k));
        return;
      case 'map':
        row(path, `map of ${spec.values.kind === 'section' ? 'section' : typeName(spec.values)}`, spec.description);
        if (spec.values.kind === 'section' || spec.values.kind === 'map') visit(spec.values, join('<name>'));
        return;
      case 'plugins':
        row(path, 'plugins', spec.description);
        for (const [typeName_, t] of Object.entries(spec.types)) {
          const count = t.min === 1 && t.max === 1 ? 'exactly one' : t.min > 0 ? `at least ${t.min}` : t.max === 1 ? 'at most one' : 'any number';
          const typePath = join(typeName_);
          const none = Object.keys(t.plugins).length === 0;
          row(typePath, 'plugin type', `${t.description} (${none ? 'no plugin built in yet' : count})`);
          for (const [name, plugin] of Object.entries(t.plugins)) {
            row(`${typePath}.${name}`, 'plugin', plugin.description);
            for (const [k, child] of Object.entries(plugin.fields as Readonly<Record<string, Spec>>)) {
              visit(child, `${typePath}.${name}.plugin_data.${k}`);
            }
          }
        }
        return;
      case 'unsupported':
        row(path, 'unsupported', spec.description);
        return;
      default:
        row(path, typeName(spec), spec.description, spec.defaultText, spec.required);
    }
  };
  visit(schema, prefix);
  return rows;
}

function typeName(spec: Spec): string {
  switch (spec.kind) {
    case 'int':
      if (spec.min !== undefined && spec.max !== undefined) return `int (${spec.min}..${spec.max})`;
      if (spec.min !== undefined) return `int (>= ${spec.min})`;
      if (spec.max !== undefined) return `int (<= ${spec.max})`;
      return 'int';
    case 'enum':
      return (spec.values ?? []).join(' | ');
    case 'stringList':
      return 'list of string';
    default:
      return spec.kind;
  }
}

/** A Markdown table of every key: Key | Type | Default | Description. */
export function renderSchemaMarkdown(schema: Spec): string {
  const esc = (s: string): string => s.replaceAll('|', '\\|');
  const lines = ['| Key | Type | Default | Description |', '|---|---|---|---|'];
  for (const r of describeSchema(schema)) {
    const def = r.required ? '(required)' : r.default === undefined ? '' : `\`${esc(r.default)}\``;
    lines.push(`| \`${esc(r.path)}\` | ${esc(r.type)} | ${def} | ${esc(r.description)} |`);
  }
  return `${lines.join('\n')}\n`;
}

/** Aligned plain text for `--help`: `key  type  description (default x)`. */
export function renderSchemaText(schema: Spec): string {
  const rows = describeSchema(schema);
  const w0 = Math.max(0, ...rows.map((r) => r.path.length));
  const w1 = Math.max(0, ...rows.map((r) => r.type.length));
  return rows
    .map((r) => {
      const tail = r.required ? ' (required)' : r.default === undefined ? '' : ` (default ${r.default})`;
      return `  ${r.path.padEnd(w0)}  ${r.type.padEnd(w1)}  ${r.description}${tail}`.trimEnd();
    })
    .join('\n')
    .concat('\n');
}
