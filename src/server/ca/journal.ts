// The CA journal: the persisted history of X.509 CAs and JWT signing keys
// and the state of each slot (SPIRE pkg/server/ca/manager/journal.go). It is
// written atomically after every change; a journal that cannot be read makes
// the server refuse to start rather than mint a new CA over the old one.
import { readFile } from 'node:fs/promises';
import { HeraldError, errorMessage } from '../../common/errors.ts';
import { writeFileAtomic } from '../../common/fs.ts';

export type SlotId = 'A' | 'B';
export type SlotStatus = 'prepared' | 'active' | 'old';

export interface JournalX509Entry {
  slotId: SlotId;
  issuedAt: number;
  notAfter: number;
  status: SlotStatus;
  /** Key manager ID of the CA's private key. */
  keyId: string;
  /** CA certificate, base64 DER. */
  certificate: string;
  /** Upstream chain (intermediates up to, not including, the upstream root), base64 DER. */
  upstreamChain: string[];
}

export interface JournalJwtEntry {
  slotId: SlotId;
  issuedAt: number;
  notAfter: number;
  status: SlotStatus;
  keyId: string;
  /** The `kid` published in the bundle. */
  kid: string;
  /** Public key, base64 SPKI DER. */
  publicKey: string;
}

export interface JournalData {
  version: 1;
  x509Cas: JournalX509Entry[];
  jwtKeys: JournalJwtEntry[];
}

/** Entries kept per kind; older ones are dropped (SPIRE keeps 20). */
const MAX_ENTRIES = 20;

export class JournalError extends HeraldError {}

export function emptyJournal(): JournalData {
  return { version: 1, x509Cas: [], jwtKeys: [] };
}

export async function loadJournal(path: string): Promise<JournalData> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyJournal();
    throw new JournalError('ERR_CA_JOURNAL_UNREADABLE', `ca journal: cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new JournalError('ERR_CA_JOURNAL_CORRUPT', `ca journal: ${path} is not valid JSON; refusing to start so the existing CA is not replaced (restore it or move it away)`, { cause: err });
  }
  return validateJournal(data, path);
}

export async function saveJournal(path: string, journal: JournalData): Promise<void> {
  const trimmed: JournalData = {
    version: 1,
    x509Cas: journal.x509Cas.slice(-MAX_ENTRIES),
    jwtKeys: journal.jwtKeys.slice(-MAX_ENTRIES),
  };
  try {
    await writeFileAtomic(path, JSON.stringify(trimmed, null, 2) + '\n', { mode: 0o600 });
  } catch (err) {
    // The OS error names the cause (ENOSPC, EROFS); the registry turns it into a status that tells the caller whether to wait or to act.
    throw new JournalError('ERR_CA_JOURNAL_WRITE', `ca journal: cannot write ${path}: ${errorMessage(err)}`, { cause: err });
  }
}

function validateJournal(data: unknown, path: string): JournalData {
  const fail = (why: string): never => {
    throw new JournalError('ERR_CA_JOURNAL_CORRUPT', `ca journal: ${path}: ${why}; refusing to start so the existing CA is not replaced`);
  };
  if (typeof data !== 'object' || data === null) return fail('not an object');
  const d = data as Record<string, unknown>;
  if (d.version !== 1) fail(`unsupported version ${JSON.stringify(d.version)}`);
  if (!Array.isArray(d.x509Cas) || !Array.isArray(d.jwtKeys)) return fail('missing x509Cas/jwtKeys');
  const common = (e: Record<string, unknown>, i: number, kind: string): void => {
    if (e.slotId !== 'A' && e.slotId !== 'B') fail(`${kind}[${i}].slotId must be A or B`);
    if (!['prepared', 'active', 'old'].includes(e.status as string)) fail(`${kind}[${i}].status is invalid`);
    if (typeof e.issuedAt !== 'number' || typeof e.notAfter !== 'number') fail(`${kind}[${i}] has no issuedAt/notAfter`);
    if (typeof e.keyId !== 'string' || e.keyId === '') fail(`${kind}[${i}].keyId is missing`);
  };
  d.x509Cas.forEach((e: Record<string, unknown>, i: number) => {
    common(e, i, 'x509Cas');
    if (typeof e.certificate !== 'string') fail(`x509Cas[${i}].certificate is missing`);
    if (!Array.isArray(e.upstreamChain)) fail(`x509Cas[${i}].upstreamChain is missing`);
  });
  d.jwtKeys.forEach((e: Record<string, unknown>, i: number) => {
    common(e, i, 'jwtKeys');
    if (typeof e.kid !== 'string' || typeof e.publicKey !== 'string') fail(`jwtKeys[${i}] has no kid/publicKey`);
  });
  return data as JournalData;
}
