// Signing workers exist only while there is work: an idle server does not
// keep their threads and heaps (issue 22, idle RSS).
import { afterEach, describe, expect, it } from 'vitest';
import { SigningPool } from '../../../src/server/ca/signing-pool.ts';
import { waitFor } from '../../helpers/wait.ts';

let pool: SigningPool | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

describe('SigningPool', () => {
  it('stops its workers once idle, and starts them again for the next batch', async () => {
    pool = new SigningPool(2, 200);
    expect(pool.running).toBe(false);
    pool.warm();
    expect(pool.running).toBe(true);
    await waitFor('the idle workers to stop', () => !pool!.running, { timeoutMs: 5000 });
    pool.warm();
    expect(pool.running).toBe(true);
  });

});
