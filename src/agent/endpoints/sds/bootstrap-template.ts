// Renders the Envoy bootstrap templates in envoy/ ({{NAME}} placeholders).
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export const ENVOY_TEMPLATE_DIR = fileURLToPath(new URL('../../../../envoy/', import.meta.url));

export function renderTemplate(template: string, values: Readonly<Record<string, string | number>>): string {
  const missing = new Set<string>();
  const out = template.replace(/\{\{([A-Z0-9_]+)\}\}/g, (_m, name: string) => {
    const v = values[name];
    if (v === undefined) {
      missing.add(name);
      return '';
    }
    return String(v);
  });
  if (missing.size > 0) throw new TypeError(`envoy template: no value for ${[...missing].join(', ')}`);
  return out;
}

export async function renderBootstrap(name: string, values: Readonly<Record<string, string | number>>): Promise<string> {
  return renderTemplate(await readFile(ENVOY_TEMPLATE_DIR + name, 'utf8'), values);
}
