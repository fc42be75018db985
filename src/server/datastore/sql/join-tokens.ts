// Join tokens: single use. Consuming is one DELETE … RETURNING, so of several
// concurrent consumers (in any process) exactly one gets the row.
import type { ConsumeJoinTokenResult } from '../datastore.ts';
import { DataStoreCode, dataStoreError } from '../errors.ts';
import type { JoinToken } from '../types.ts';
import { num, type SqlQuery } from './connection.ts';

function checkToken(token: string): void {
  if (typeof token !== 'string' || token === '') throw new TypeError('datastore: a join token must be a non-empty string');
}

export async function createJoinToken(q: SqlQuery, t: JoinToken): Promise<void> {
  checkToken(t.token);
  if (!Number.isSafeInteger(t.expiresAt) || t.expiresAt < 0) throw new TypeError(`createJoinToken: expiresAt must be a non-negative integer, got ${t.expiresAt}`);
  if ((await getJoinToken(q, t.token)) !== undefined) throw dataStoreError(DataStoreCode.JoinTokenExists, 'join token already exists');
  await q.run('INSERT INTO join_tokens (token, expires_at) VALUES (?, ?)', [t.token, t.expiresAt]);
}

export async function getJoinToken(q: SqlQuery, token: string): Promise<JoinToken | undefined> {
  checkToken(token);
  const row = await q.get('SELECT token, expires_at FROM join_tokens WHERE token = ?', [token]);
  return row === undefined ? undefined : { token, expiresAt: num(row.expires_at) };
}

export async function deleteJoinToken(q: SqlQuery, token: string): Promise<void> {
  checkToken(token);
  if ((await q.run('DELETE FROM join_tokens WHERE token = ?', [token])) === 0) {
    throw dataStoreError(DataStoreCode.JoinTokenNotFound, 'join token not found');
  }
}

/** Deletes the token; expired when expiresAt ≤ now (unix s). */
export async function consumeJoinToken(q: SqlQuery, token: string, nowSeconds: number): Promise<ConsumeJoinTokenResult> {
  checkToken(token);
  const row = await q.get('DELETE FROM join_tokens WHERE token = ? RETURNING expires_at', [token]);
  if (row === undefined) return { status: 'not_found' };
  const t: JoinToken = { token, expiresAt: num(row.expires_at) };
  return t.expiresAt <= nowSeconds ? { status: 'expired', token: t } : { status: 'consumed', token: t };
}

export async function pruneJoinTokens(q: SqlQuery, expiresBefore: number): Promise<number> {
  return q.run('DELETE FROM join_tokens WHERE expires_at < ?', [expiresBefore]);
}
