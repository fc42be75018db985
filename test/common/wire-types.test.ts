import { describe, expect, it } from 'vitest';
import { currentWireTypes, renderWireTypes, WIRE_TYPES_DIR } from '../../scripts/gen-wire-types.ts';

describe(WIRE_TYPES_DIR, () => {
  it('is generated from the protos and up to date (npx node scripts/gen-wire-types.ts)', async () => {
    const expected = await renderWireTypes();
    expect(Object.keys(expected)).toContain(`${WIRE_TYPES_DIR}/spire/api/types/Entry.ts`);
    expect(Object.keys(expected)).toContain(`${WIRE_TYPES_DIR}/SpiffeWorkloadAPI.ts`);
    const current = await currentWireTypes();
    expect(Object.keys(current).sort()).toEqual(Object.keys(expected).sort());
    for (const [rel, content] of Object.entries(expected)) expect(current[rel], rel).toBe(content);
  });
});
