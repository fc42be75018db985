// The template language of spire-controller-manager's ClusterSPIFFEID
// (spiffeIDTemplate, dnsNameTemplates, workloadSelectorTemplates, and the
// parent ID template): Go's text/template over
//   { TrustDomain, ClusterName, ClusterDomain, PodMeta, PodSpec, NodeMeta, NodeSpec }
// where the *Meta / *Spec values are Kubernetes objects addressed by their Go
// field names (.PodMeta.Name, .PodSpec.ServiceAccountName, .NodeMeta.UID,
// .PodMeta.Labels.app, index .PodMeta.Labels "app.kubernetes.io/name").
//
// The subset: text, {{ }} actions with {{- -}} trimming, pipelines (`|`),
// field chains, string/number literals, parentheses, and the builtins
// index, len, print, printf, println, eq, ne, not, and, or. if/range/with/
// define are refused with an error naming them, at parse time (as SCM's
// webhook refuses a template that does not parse).

export class TemplateError extends Error {}

type Node = { kind: 'text'; text: string } | { kind: 'action'; pipe: Pipeline };
type Pipeline = Command[];
type Command = Arg[]; // first is the function or a value
type Arg =
  | { kind: 'field'; chain: string[]; fromDollar: boolean }
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: number }
  | { kind: 'bool'; value: boolean }
  | { kind: 'ident'; name: string }
  | { kind: 'pipe'; pipe: Pipeline };

const FUNCS = new Set(['index', 'len', 'print', 'printf', 'println', 'eq', 'ne', 'not', 'and', 'or']);
const UNSUPPORTED = new Set(['if', 'else', 'end', 'range', 'with', 'define', 'template', 'block', 'break', 'continue', 'call', 'slice', 'html', 'js', 'urlquery', 'lt', 'le', 'gt', 'ge']);

/** Go field names whose values are maps (addressed by key, missing key = "<no value>"). */
const MAP_FIELDS = new Set(['Labels', 'Annotations', 'NodeSelector']);

export class GoTemplate {
  readonly source: string;
  readonly #nodes: Node[];

  constructor(source: string, name = 'template') {
    this.source = source;
    try {
      this.#nodes = parse(source);
    } catch (err) {
      throw new TemplateError(`template: ${name}: ${(err as Error).message}`);
    }
  }

  execute(data: Record<string, unknown>): string {
    let out = '';
    for (const n of this.#nodes) out += n.kind === 'text' ? n.text : format(evalPipe(n.pipe, data));
    return out;
  }
}

// ------------------------------------------------------------------ parsing

function parse(src: string): Node[] {
  const nodes: Node[] = [];
  let i = 0;
  let trimNext = false;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    let text = open < 0 ? src.slice(i) : src.slice(i, open);
    if (trimNext) text = text.replace(/^\s+/, '');
    trimNext = false;
    if (open < 0) {
      if (text) nodes.push({ kind: 'text', text });
      break;
    }
    let start = open + 2;
    if (src.startsWith('- ', start) || src.startsWith('-\t', start) || src.startsWith('-\n', start)) {
      text = text.replace(/\s+$/, '');
      start += 1;
    }
    if (text) nodes.push({ kind: 'text', text });
    const close = findClose(src, start);
    let end = close;
    if (src[close - 1] === '-' && /\s/.test(src[close - 2] ?? '')) {
      end = close - 1;
      trimNext = true;
    }
    const body = src.slice(start, end).trim();
    i = close + 2;
    if (body.startsWith('/*')) continue; // comment
    if (body === '') throw new Error('missing value for command');
    const toks = tokenize(body);
    const [pipe, rest] = parsePipeline(toks, 0);
    if (rest !== toks.length) throw new Error(`unexpected ${JSON.stringify(toks[rest])} in command`);
    nodes.push({ kind: 'action', pipe });
  }
  return nodes;
}

function findClose(src: string, from: number): number {
  let inStr: string | undefined;
  for (let j = from; j < src.length - 1; j++) {
    const c = src[j];
    if (inStr) {
      if (c === '\\' && inStr === '"') j++;
      else if (c === inStr) inStr = undefined;
    } else if (c === '"' || c === '`') inStr = c;
    else if (c === '}' && src[j + 1] === '}') return j;
  }
  throw new Error('unclosed action');
}

function tokenize(body: string): string[] {
  const toks: string[] = [];
  let i = 0;
  while (i < body.length) {
    const c = body[i]!;
    if (/\s/.test(c)) { i++; continue; }
    if (c === '"') {
      let j = i + 1;
      while (j < body.length && body[j] !== '"') j += body[j] === '\\' ? 2 : 1;
      if (j >= body.length) throw new Error('unterminated quoted string');
      toks.push(body.slice(i, j + 1));
      i = j + 1;
    } else if (c === '`') {
      const j = body.indexOf('`', i + 1);
      if (j < 0) throw new Error('unterminated raw quoted string');
      toks.push(body.slice(i, j + 1));
      i = j + 1;
    } else if ('()|'.includes(c)) {
      toks.push(c);
      i++;
    } else {
      let j = i;
      while (j < body.length && !/[\s()|"`]/.test(body[j]!)) j++;
      toks.push(body.slice(i, j));
      i = j;
    }
  }
  return toks;
}

function parsePipeline(toks: string[], i: number): [Pipeline, number] {
  const pipe: Pipeline = [];
  let cmd: Command = [];
  for (; i < toks.length; i++) {
    const t = toks[i]!;
    if (t === ')') break;
    if (t === '|') {
      if (cmd.length === 0) throw new Error('missing command before |');
      pipe.push(cmd);
      cmd = [];
      continue;
    }
    if (t === '(') {
      const [inner, j] = parsePipeline(toks, i + 1);
      if (toks[j] !== ')') throw new Error('unclosed left paren');
      cmd.push({ kind: 'pipe', pipe: inner });
      i = j;
      continue;
    }
    cmd.push(parseArg(t));
  }
  if (cmd.length === 0) throw new Error('missing command');
  pipe.push(cmd);
  return [pipe, i];
}

function parseArg(t: string): Arg {
  if (t.startsWith('"')) return { kind: 'string', value: JSON.parse(t) as string };
  if (t.startsWith('`')) return { kind: 'string', value: t.slice(1, -1) };
  if (t === 'true' || t === 'false') return { kind: 'bool', value: t === 'true' };
  if (/^-?\d+(\.\d+)?$/.test(t)) return { kind: 'number', value: Number(t) };
  if (t === '.') return { kind: 'field', chain: [], fromDollar: false };
  if (t.startsWith('.') || t.startsWith('$')) {
    const fromDollar = t.startsWith('$');
    const rest = fromDollar ? t.slice(1) : t;
    if (fromDollar && rest !== '' && !rest.startsWith('.')) throw new Error(`undefined variable "${t}"`);
    const chain = rest === '' ? [] : rest.slice(1).split('.');
    for (const f of chain) if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(f)) throw new Error(`bad field name ${JSON.stringify(f)} in ${t}`);
    return { kind: 'field', chain, fromDollar };
  }
  if (UNSUPPORTED.has(t)) throw new Error(`"${t}" is not supported by Herald's template subset (supported: field chains, index, len, print, printf, println, eq, ne, not, and, or)`);
  if (!FUNCS.has(t)) throw new Error(`function "${t}" not defined`);
  return { kind: 'ident', name: t };
}

// ---------------------------------------------------------------- execution

const NO_VALUE = Symbol('no value');

function evalPipe(pipe: Pipeline, data: unknown): unknown {
  let prev: unknown = undefined;
  pipe.forEach((cmd, n) => {
    prev = evalCommand(cmd, data, n === 0 ? [] : [prev]);
  });
  return prev;
}

function evalCommand(cmd: Command, data: unknown, piped: unknown[]): unknown {
  const [head, ...rest] = cmd;
  if (head!.kind === 'ident') return call(head.name, [...rest.map((a) => evalArg(a, data)), ...piped]);
  if (rest.length > 0 || piped.length > 0) throw new TemplateError(`can't give argument to non-function`);
  return evalArg(head!, data);
}

function evalArg(a: Arg, data: unknown): unknown {
  switch (a.kind) {
    case 'string':
    case 'number':
    case 'bool':
      return a.value;
    case 'pipe':
      return evalPipe(a.pipe, data);
    case 'ident':
      return call(a.name, []);
    case 'field': {
      let v: unknown = data;
      let isMap = false;
      for (const f of a.chain) {
        if (v === NO_VALUE || v === undefined || v === null) {
          if (isMap || v === NO_VALUE) throw new TemplateError(`can't evaluate field ${f} of missing value`);
          return '';
        }
        if (typeof v !== 'object') throw new TemplateError(`can't evaluate field ${f} in type ${typeof v}`);
        const obj = v as Record<string, unknown>;
        if (isMap) {
          v = f in obj ? obj[f] : NO_VALUE;
          isMap = false;
        } else {
          v = f in obj ? obj[f] : obj[jsonName(f)];
          isMap = MAP_FIELDS.has(f);
          if (isMap && (v === undefined || v === null)) v = {};
        }
      }
      return v;
    }
  }
}

/** A Go field name → its JSON key: UID → uid, DNSPolicy → dnsPolicy, ServiceAccountName → serviceAccountName. */
function jsonName(goName: string): string {
  const m = /^[A-Z]+/.exec(goName);
  if (!m) return goName;
  const caps = m[0];
  if (caps.length === goName.length) return goName.toLowerCase();
  if (caps.length === 1) return goName[0]!.toLowerCase() + goName.slice(1);
  return caps.slice(0, -1).toLowerCase() + goName.slice(caps.length - 1);
}

function truthy(v: unknown): boolean {
  if (v === NO_VALUE || v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v as object).length > 0;
  return true;
}

function call(name: string, args: unknown[]): unknown {
  switch (name) {
    case 'index': {
      if (args.length < 1) throw new TemplateError('wrong number of args for index: want at least 1 got 0');
      let v = args[0];
      for (const k of args.slice(1)) {
        if (v === undefined || v === null || v === NO_VALUE) return '';
        if (Array.isArray(v)) {
          if (typeof k !== 'number' || k < 0 || k >= v.length) throw new TemplateError(`error calling index: index out of range: ${String(k)}`);
          v = v[k];
        } else if (typeof v === 'object') {
          // Go: a missing map key gives the element type's zero value.
          v = (v as Record<string, unknown>)[String(k)] ?? '';
        } else throw new TemplateError(`error calling index: can't index item of type ${typeof v}`);
      }
      return v;
    }
    case 'len': {
      const v = args[0];
      if (typeof v === 'string' || Array.isArray(v)) return v.length;
      if (v && typeof v === 'object') return Object.keys(v).length;
      throw new TemplateError(`error calling len: len of type ${typeof v}`);
    }
    case 'print':
      return args.map(format).join('');
    case 'println':
      return `${args.map(format).join(' ')}\n`;
    case 'printf': {
      const [fmt, ...rest] = args;
      if (typeof fmt !== 'string') throw new TemplateError('error calling printf: the format is not a string');
      let k = 0;
      return fmt.replace(/%[svdq%]/g, (spec) => {
        if (spec === '%%') return '%';
        const v = rest[k++];
        if (v === undefined) return `%!${spec[1]}(MISSING)`;
        return spec === '%q' ? JSON.stringify(format(v)) : format(v);
      });
    }
    case 'eq':
      return args.slice(1).some((b) => format(args[0]) === format(b));
    case 'ne':
      return format(args[0]) !== format(args[1]);
    case 'not':
      return !truthy(args[0]);
    case 'and': {
      for (const a of args) if (!truthy(a)) return a;
      return args[args.length - 1];
    }
    case 'or': {
      for (const a of args) if (truthy(a)) return a;
      return args[args.length - 1];
    }
    default:
      throw new TemplateError(`function "${name}" not defined`);
  }
}

function format(v: unknown): string {
  if (v === NO_VALUE) return '<no value>';
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(format).join(' ')}]`;
  if (typeof v === 'object') {
    return `map[${Object.keys(v).sort().map((k) => `${k}:${format((v as Record<string, unknown>)[k])}`).join(' ')}]`;
  }
  return String(v);
}
