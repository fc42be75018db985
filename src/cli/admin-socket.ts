// The admin socket as the CLIs see it before and when they call it: its
// owner is checked first (it must be the CLI's own uid or root, or another
// local user may have put an impostor in its place), and a socket nobody
// listens on is a `connection error: … (is the server running? -socketPath …)`
// in the style of Go's dialer. Apart from grpc-client.ts so that
// `healthcheck` (uds-unary.ts) does not load grpc-js.
import { lstatSync } from 'node:fs';
import { HeraldError } from '../common/errors.ts';
import { ALLOW_INSECURE_SOCKET_DIR_ENV, insecureSocketDirAllowed } from '../common/grpc/uds-socket-file.ts';
import { errnoText } from './uds-unary.ts';

/** The CLI could not reach the daemon's socket. */
export class ConnectionError extends HeraldError {}

/** A connect that failed with `reason` ("dial unix /x.sock: connect: connection refused", or grpc-js's text). */
export function connectionErrorText(reason: string, socketPath: string, daemon: string): ConnectionError {
  return new ConnectionError('ERR_UNAVAILABLE_CONNECTION', `connection error: ${reason} (is the ${daemon} running? -socketPath ${socketPath})`);
}

/** A connect to `socketPath` that failed with `errno` (ENOENT, ECONNREFUSED …). */
export function connectErrnoError(errno: string, socketPath: string, daemon: string): ConnectionError {
  return connectionErrorText(`dial unix ${socketPath}: connect: ${errnoText(errno)}`, socketPath, daemon);
}

/**
 * Before talking to an admin socket: it must exist, be a socket, and belong
 * to this user or root. Anyone else's socket there may be an impostor (a
 * user who could write to its directory moved the real one away).
 * HERALD_ALLOW_INSECURE_SOCKET_DIR=1 skips the owner check.
 */
export function checkAdminSocket(socketPath: string, daemon = 'server', env: Readonly<Record<string, string | undefined>> = process.env): void {
  let st;
  try {
    st = lstatSync(socketPath);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw connectErrnoError('ENOENT', socketPath, daemon);
    }
    throw new ConnectionError('ERR_UNAVAILABLE_CONNECTION', `connection error: cannot inspect ${socketPath}: ${(err as Error).message}`, { cause: err });
  }
  if (!st.isSocket()) throw new ConnectionError('ERR_UNAVAILABLE_CONNECTION', `connection error: ${socketPath} is not a socket (-socketPath ${socketPath})`);
  const uid = process.getuid?.() ?? 0;
  if (st.uid !== uid && st.uid !== 0 && !insecureSocketDirAllowed(env)) {
    throw new HeraldError(
      'ERR_PERMISSION_DENIED_SOCKET_OWNER',
      `refusing to talk to ${socketPath}: the socket is owned by uid ${st.uid}, not by you (uid ${uid}) or root, so it may not be the ${daemon}'s ` +
        `(another user who can write to its directory could have replaced it). Check who listens there; set ${ALLOW_INSECURE_SOCKET_DIR_ENV}=1 if this is intended`,
    );
  }
}
