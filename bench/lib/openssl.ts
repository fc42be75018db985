// `openssl speed ecdsap256` on this machine, the yardstick every benchmark
// prints its figures against.
import { execFileSync } from 'node:child_process';

export function opensslSpeed(seconds: number): { sign: number; verify: number } {
  const out = execFileSync('openssl', ['speed', '-seconds', String(seconds), 'ecdsap256'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  // "256 bits ecdsa (nistp256)   0.0000s   0.0001s  40000.0  13000.0"
  const line = out.split('\n').find((l) => /ecdsa \(nistp256\)/.test(l));
  const nums = line?.trim().split(/\s+/).slice(-2).map(Number);
  if (!nums || nums.some((x) => !Number.isFinite(x))) throw new Error(`cannot read openssl speed output:\n${out}`);
  return { sign: nums[0]!, verify: nums[1]! };
}
