// Top self-time functions of `node --cpu-prof` profiles (.cpuprofile), so a
// benchmark's profile can be quoted as text: function, file:line, self ms,
// share of the profile's samples. A benchmark that measures a span of the
// profiled process's life writes `window-<pid>.json` ({ fromUs, toUs } of
// process.hrtime: CLOCK_MONOTONIC, V8's profile clock) beside the profiles;
// then only that process's samples inside the span count.
//   node bench/lib/cpu-profile-summary.ts <file.cpuprofile|dir> [top]
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The environment of a child process profiled into `dir` (`node --cpu-prof`; worker threads too). */
export function cpuProfEnv(dir: string): NodeJS.ProcessEnv {
  return { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=${dir}` };
}

/** Now on the profiles' clock, µs. */
export function profileClockUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** Marks the span of process `pid`'s profile that the summary should cover. */
export function writeProfileWindow(dir: string, pid: number, fromUs: number, toUs: number): void {
  writeFileSync(join(dir, `window-${pid}.json`), JSON.stringify({ fromUs, toUs }));
}

export function summarize(file: string, top: number): string {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile
  const pid = basename(file).split('.')[3];
  const windowFile = join(dirname(file), `window-${pid}.json`);
  const win = existsSync(windowFile) ? (JSON.parse(readFileSync(windowFile, 'utf8')) as { fromUs: number; toUs: number }) : undefined;
  let t = p.startTime;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    t += p.timeDeltas[i] ?? 0;
    if (win && (t < win.fromUs || t > win.toUs)) return;
    const f = byId.get(id)!.callFrame;
    const where = f.url ? `${basename(f.url)}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'} ${where}`.trim();
    const us = p.timeDeltas[i] ?? 0;
    self.set(key, (self.get(key) ?? 0) + us);
    total += us;
  });
  const busy = total - (self.get('(idle)') ?? 0);
  const rows = [...self].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, top);
  return [
    `${basename(file)}${win ? ' (measured span)' : ''}: ${(busy / 1000).toFixed(0)} ms busy of ${(total / 1000).toFixed(0)} ms`,
    ...rows.map(([k, us]) => `  ${(us / 1000).toFixed(0).padStart(7)} ms ${((100 * us) / busy).toFixed(1).padStart(5)}%  ${k}`),
  ].join('\n');
}

if (import.meta.main) {
  const target = process.argv[2];
  if (!target) throw new Error('usage: cpu-profile-summary.ts <file.cpuprofile|dir> [top]');
  const top = Number(process.argv[3] ?? 15);
  const files = statSync(target).isDirectory() ? readdirSync(target).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(target, f)) : [target];
  for (const f of files.sort()) console.log(summarize(f, top));
}
