import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderErrorDocs } from '../../scripts/gen-error-docs.ts';
import { errorRegistry, isErrorCode } from '../../src/common/error-registry.ts';
import { GrpcCode, HeraldError, grpcStatusFor, grpcStatusOfCode } from '../../src/common/errors.ts';

const REPO = join(import.meta.dirname, '..', '..');

async function sources(): Promise<Map<string, string>> {
  const files = (await readdir(join(REPO, 'src'), { recursive: true })).filter((f) => /\.(ts|js)$/.test(f));
  return new Map(await Promise.all(files.map(async (f) => [f, await readFile(join(REPO, 'src', f), 'utf8')] as const)));
}

describe('error registry', () => {
  it('maps each code to its status, and anything else to INTERNAL', () => {
    expect(grpcStatusFor(new HeraldError('ERR_SPIFFE_ID_DOT_SEGMENT', 'x'))).toBe(GrpcCode.INVALID_ARGUMENT);
    expect(grpcStatusFor(new HeraldError('ERR_ENTRY_EXISTS', 'x'))).toBe(GrpcCode.ALREADY_EXISTS);
    expect(grpcStatusFor(new HeraldError('ERR_DATASTORE_BUSY', 'x'))).toBe(GrpcCode.UNAVAILABLE);
    expect(grpcStatusFor(new HeraldError('ERR_DATASTORE_FULL', 'x'))).toBe(GrpcCode.RESOURCE_EXHAUSTED);
    expect(grpcStatusFor(new HeraldError('ERR_FEDERATION_NO_TRUST', 'x'))).toBe(GrpcCode.FAILED_PRECONDITION);
    expect(grpcStatusFor(new Error('boom'))).toBe(GrpcCode.INTERNAL);
    expect(grpcStatusFor(new HeraldError('ERR_NOT_REGISTERED' as never, 'x'))).toBe(GrpcCode.INTERNAL);
  });

  it('lets the OS error decide for failed writes of local state', () => {
    const os = (code: string) => Object.assign(new Error(code), { code });
    expect(grpcStatusOfCode('ERR_KEY_MANAGER_WRITE', os('ENOSPC'))).toBe(GrpcCode.RESOURCE_EXHAUSTED);
    expect(grpcStatusOfCode('ERR_CA_JOURNAL_WRITE', os('EDQUOT'))).toBe(GrpcCode.RESOURCE_EXHAUSTED);
    expect(grpcStatusOfCode('ERR_CA_JOURNAL_WRITE', os('EROFS'))).toBe(GrpcCode.UNAVAILABLE);
    expect(grpcStatusOfCode('ERR_KEY_MANAGER_WRITE', os('EACCES'))).toBe(GrpcCode.INTERNAL);
    expect(grpcStatusFor(new HeraldError('ERR_CA_JOURNAL_WRITE', 'x', { cause: os('EIO') }))).toBe(GrpcCode.UNAVAILABLE);
    // Only the codes registered so: a full disk under the datastore has its own codes.
    expect(grpcStatusOfCode('ERR_CA_KEY_MISSING', os('ENOSPC'))).toBe(GrpcCode.INTERNAL);
  });

  it('names only statuses grpc knows, with a one-line description each', () => {
    for (const [code, spec] of Object.entries(errorRegistry)) {
      expect(code).toMatch(/^ERR_[A-Z0-9_]+[A-Z0-9]$/);
      expect(Object.values(GrpcCode), code).toContain(spec.status);
      expect(spec.status, code).not.toBe(GrpcCode.OK);
      expect(spec.description, code).toMatch(/^\S[^\n]*[^.\s]$/);
    }
  });

  it('holds every code src/ uses, and no code src/ does not use', async () => {
    const src = await sources();
    const all = [...src.entries()].filter(([f]) => f !== 'common/error-registry.ts').map(([, text]) => text).join('\n');
    const used = new Set([...all.matchAll(/'(ERR_[A-Z0-9_]*[A-Z0-9])'/g)].map((m) => m[1]!));
    // Families whose members a file builds from a suffix: `ERR_X509_SVID_${code}` and fail('NO_URI_SAN', …) → ERR_X509_SVID_NO_URI_SAN.
    let families = 0;
    for (const text of src.values()) {
      for (const [, prefix] of text.matchAll(/`(ERR_[A-Z0-9_]+_)\$\{code\}`/g)) {
        families++;
        for (const m of text.matchAll(/\bfail\(\s*'([A-Z0-9_]+)'/g)) used.add(prefix + m[1]);
      }
    }
    expect(families).toBeGreaterThanOrEqual(4);
    expect([...used].filter((c) => !isErrorCode(c)).sort()).toEqual([]);
    expect(Object.keys(errorRegistry).filter((c) => !used.has(c)).sort()).toEqual([]);
  });
});

describe('docs/errors.md', () => {
  it('is generated from the registry and up to date (npx node scripts/gen-error-docs.ts)', async () => {
    const expected = renderErrorDocs()['docs/errors.md'];
    expect(await readFile(join(REPO, 'docs/errors.md'), 'utf8')).toBe(expected);
    expect(expected).toContain('| `ERR_ENTRY_EXISTS` | ALREADY_EXISTS | An entry with the same SPIFFE ID, parent ID and selectors exists |');
  });
});
