// Walks a RawNode tree against a schema: rejects unknown keys, checks types,
// fills defaults, runs validators, and collects every problem with the line
// (or flag) it came from. Plugins are in plugins.ts.
import type { ConfigLocation, ConfigProblem } from './config-error.ts';
import { formatDuration, tryParseDuration } from './duration.ts';
import { fromJs, joinKey } from './raw-node.ts';
import type { RawNode } from './raw-node.ts';
import type { LeafKind, LeafSpec, MapSpec, SectionSpec, Spec, ValidationResult } from './schema.ts';
import { walkPlugins } from './plugins.ts';
import { describe, INVALID, isNull, unknownKeyMessage } from './walk-util.ts';
import type { Walked } from './walk-util.ts';


export class Walker {
  readonly problems: ConfigProblem[] = [];

  report(at: ConfigLocation, path: string, message: string): typeof INVALID {
    this.problems.push({ ...at, path, message });
    return INVALID;
  }

  /** `node` undefined means the key is absent; `at` is where the key is (or its parent, when absent). */
  walk(spec: Spec, node: RawNode | undefined, path: string, at: ConfigLocation): Walked {
    let n = node;
    if (n?.t === 'override') {
      if (spec.kind === 'duration' && typeof n.value === 'number') {
        return this.#validated(spec, n.value, path, n.at, n);
      }
      n = fromJs(n.value, n.at);
    }
    switch (spec.kind) {
      case 'section':
        return this.#section(spec, n, path, at);
      case 'map':
        return this.#map(spec, n, path, at);
      case 'plugins':
        return walkPlugins(this, spec, n, path, at);
      case 'unsupported':
        if (n === undefined || isNull(n)) return undefined;
        return this.report(at, path, `not supported by Herald: ${spec.reason}`);
      default:
        return this.#leaf(spec, n, path, at);
    }
  }

  /** Reports what a validator returned; issue keys are resolved to their own lines when present. */
  reportIssues(result: ValidationResult, path: string, at: ConfigLocation, node: RawNode | undefined): boolean {
    if (result === undefined) return true;
    if (typeof result === 'string') {
      this.report(at, path, result);
      return false;
    }
    for (const issue of result) {
      if (issue.key === undefined || issue.key === '') {
        this.report(at, path, issue.message);
      } else {
        const sub = locate(node, issue.key.split('.'));
        this.report(sub ?? at, path === '' ? issue.key : `${path}.${issue.key}`, issue.message);
      }
    }
    return result.length === 0;
  }

  #section(spec: SectionSpec<any, any>, node: RawNode | undefined, path: string, at: ConfigLocation): Walked {
    if (node !== undefined && !isNull(node) && node.t !== 'map') {
      return this.report(at, path, `expected a mapping, got ${describe(node)}`);
    }
    if (node === undefined && spec.optional) return undefined;
    const entries = node?.t === 'map' ? node.entries : [];
    const fields = spec.fields as Readonly<Record<string, Spec>>;
    const walked = new Map<string, Walked>();
    let invalid = false;
    let known: string[] | undefined;
    for (const e of entries) {
      const child = Object.hasOwn(fields, e.key) ? fields[e.key] : undefined;
      if (child === undefined) {
        known ??= Object.keys(fields);
        this.report(e.at, joinKey(path, e.key), unknownKeyMessage(e.key, known));
        invalid = true;
        continue;
      }
      walked.set(e.key, this.walk(child, e.node, joinKey(path, e.key), e.at));
    }
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(fields)) {
      const v = walked.has(key) ? walked.get(key) : this.walk(child, undefined, joinKey(path, key), at);
      if (v === INVALID) invalid = true;
      else if (v !== undefined) out[key] = v;
    }
    if (invalid) return INVALID;
    if (spec.validate && !this.reportIssues(spec.validate(out), path, at, node)) return INVALID;
    return out;
  }

  #map(spec: MapSpec<Spec, any>, node: RawNode | undefined, path: string, at: ConfigLocation): Walked {
    if (node === undefined || isNull(node)) return {};
    if (node.t !== 'map') return this.report(at, path, `expected a mapping, got ${describe(node)}`);
    const out: [string, unknown][] = [];
    let invalid = false;
    for (const e of node.entries) {
      const p = joinKey(path, e.key);
      const keyProblem = spec.validateKey?.(e.key);
      if (keyProblem !== undefined) {
        this.report(e.at, p, keyProblem);
        invalid = true;
      }
      const v = this.walk(spec.values, e.node, p, e.at);
      if (v === INVALID) invalid = true;
      else if (v !== undefined) out.push([e.key, v]);
    }
    if (invalid) return INVALID;
    // fromEntries defines own properties, so a "__proto__" key stays a plain key.
    const value = Object.fromEntries(out);
    if (spec.validate && !this.reportIssues(spec.validate(value), path, at, node)) return INVALID;
    return value;
  }

  #leaf(spec: LeafSpec<LeafKind, unknown, unknown>, node: RawNode | undefined, path: string, at: ConfigLocation): Walked {
    if (node === undefined || isNull(node)) {
      if (spec.default !== undefined) return spec.default;
      if (spec.required) return this.report(at, path, 'must be specified');
      return undefined;
    }
    const v = this.#coerce(spec, node, path, at);
    if (v === INVALID) return INVALID;
    return this.#validated(spec, v, path, at, node);
  }

  #validated(spec: LeafSpec<LeafKind, unknown, unknown>, v: unknown, path: string, at: ConfigLocation, node: RawNode): Walked {
    if (spec.kind === 'duration' && typeof v === 'number') {
      const min = spec.min ?? 0;
      if (v < min) return this.report(at, path, min === 0 ? 'must not be negative' : `must be at least ${formatDuration(min)}`);
    }
    if (spec.validate && !this.reportIssues(spec.validate(v), path, at, node)) return INVALID;
    return v;
  }

  #coerce(spec: LeafSpec<LeafKind, unknown, unknown>, node: RawNode, path: string, at: ConfigLocation): Walked {
    const got = describe(node);
    const value = node.t === 'scalar' ? node.value : undefined;
    switch (spec.kind) {
      case 'string':
      case 'path':
        if (typeof value !== 'string') return this.report(at, path, `expected a string, got ${got}`);
        if (spec.kind === 'path' && value === '') return this.report(at, path, 'must not be empty');
        return value;
      case 'int': {
        // HCL (and so SPIRE's shipped configs) write ports as strings: bind_port = "8081".
        const n = typeof value === 'number' ? value : typeof value === 'string' && /^[+-]?\d+$/.test(value) ? Number(value) : NaN;
        if (!Number.isSafeInteger(n)) return this.report(at, path, `expected an integer, got ${got}`);
        const { min, max } = spec;
        if (min !== undefined && max !== undefined && (n < min || n > max)) {
          return this.report(at, path, `must be between ${min} and ${max}, got ${n}`);
        }
        if (min !== undefined && n < min) return this.report(at, path, `must be at least ${min}, got ${n}`);
        if (max !== undefined && n > max) return this.report(at, path, `must be at most ${max}, got ${n}`);
        return n;
      }
      case 'bool':
        if (typeof value === 'boolean') return value;
        if (value === 'true' || value === 'false') return value === 'true';
        return this.report(at, path, `expected a boolean (true or false), got ${got}`);
      case 'duration': {
        if (typeof value !== 'string') return this.report(at, path, `expected a duration such as "1h30m", got ${got}`);
        const r = tryParseDuration(value);
        if (!r.ok) return this.report(at, path, r.problem);
        return r.ms;
      }
      case 'enum': {
        const values = spec.values ?? [];
        if (typeof value === 'string') {
          const hit = spec.caseInsensitive ? values.find((x) => x.toLowerCase() === value.toLowerCase()) : values.find((x) => x === value);
          if (hit !== undefined) return hit;
        }
        return this.report(at, path, `must be one of ${values.join(', ')}, got ${got}`);
      }
      case 'stringList': {
        if (node.t !== 'seq') return this.report(at, path, `expected a list of strings, got ${got}`);
        let bad = false;
        const items = node.items.map((item, i) => {
          if (item.t === 'scalar' && typeof item.value === 'string') return item.value;
          bad = true;
          return this.report(item.at.line === undefined ? at : item.at, `${path}[${i}]`, `expected a string, got ${describe(item)}`);
        });
        return bad ? INVALID : items;
      }
    }
  }
}

function locate(node: RawNode | undefined, keys: readonly string[]): ConfigLocation | undefined {
  let cur = node;
  let at: ConfigLocation | undefined;
  for (const k of keys) {
    if (cur?.t !== 'map') return at;
    const e = cur.entries.find((x) => x.key === k);
    if (e === undefined) return at;
    at = e.at;
    cur = e.node;
  }
  return at;
}
