// Reads a config file as UTF-8 text, at most MAX_CONFIG_BYTES of it: a larger
// file (or a device or pipe that never ends) is refused without reading it
// all, and bytes that are not UTF-8 are refused as "not a text file".
import { open } from 'node:fs/promises';
import { ConfigError } from './config-error.ts';
import { MAX_CONFIG_BYTES, tooLargeMessage } from './limits.ts';

/** Reads `path`; fs errors are thrown as they are, size and encoding problems as ConfigError naming `shown`. */
export async function readConfigFileText(path: string, shown: string): Promise<string> {
  const fh = await open(path, 'r');
  let bytes: Buffer;
  try {
    const st = await fh.stat();
    if (st.isFile() && st.size > MAX_CONFIG_BYTES) {
      throw new ConfigError([{ file: shown, path: '', message: tooLargeMessage(st.size) }]);
    }
    const buf = Buffer.allocUnsafe(MAX_CONFIG_BYTES + 1);
    let n = 0;
    while (n < buf.length) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, null);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    if (n > MAX_CONFIG_BYTES) throw new ConfigError([{ file: shown, path: '', message: tooLargeMessage(undefined) }]);
    bytes = buf.subarray(0, n);
  } finally {
    await fh.close();
  }
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    const line = countLines(bytes, at);
    throw new ConfigError([{ file: shown, line, path: '', message: `not a text file: bytes that are not UTF-8 at line ${line} (byte ${at})` }]);
  }
}

function countLines(bytes: Buffer, end: number): number {
  let line = 1;
  for (let i = bytes.indexOf(10); i !== -1 && i < end; i = bytes.indexOf(10, i + 1)) line++;
  return line;
}

/** Offset of the first byte that does not start or continue a valid UTF-8 sequence. */
function firstInvalidUtf8(b: Buffer): number {
  const dec = new TextDecoder('utf-8', { fatal: true });
  let i = 0;
  while (i < b.length) {
    const c = b[i] as number;
    const len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (len === 0 || i + len > b.length) return i;
    if (len === 1) {
      i++;
      continue;
    }
    try {
      dec.decode(b.subarray(i, i + len));
    } catch {
      return i;
    }
    i += len;
  }
  return i;
}
