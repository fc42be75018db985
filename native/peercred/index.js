// Loader for the SO_PEERCRED addon. The compiled module is Node-API only, so
// the build made against any Node headers loads under any newer Node.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** @type {{ getPeerCred(fd: number): { pid: number, uid: number, gid: number } }} */
const binding = require('./build/Release/peercred.node');

/**
 * The credentials the kernel recorded for the peer of a connected Unix domain
 * socket when it called connect() (getsockopt SO_PEERCRED).
 * @param {number} fd a connected AF_UNIX socket file descriptor
 * @returns {{ pid: number, uid: number, gid: number }}
 */
export function getPeerCred(fd) {
  return binding.getPeerCred(fd);
}
