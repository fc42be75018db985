/** Credentials of the process that connected a Unix domain socket. */
export interface PeerCred {
  /** Process id of the peer at connect() time. */
  pid: number;
  /** Effective user id of the peer at connect() time. */
  uid: number;
  /** Effective group id of the peer at connect() time. */
  gid: number;
}

/** Error thrown when getsockopt(SO_PEERCRED) fails. */
export interface PeerCredSystemError extends Error {
  /** errno name: EBADF, ENOTSOCK, ENOTCONN, ENOPROTOOPT, EINVAL, ... */
  code: string;
  errno: number;
  syscall: 'getsockopt(SO_PEERCRED)';
}

/**
 * getsockopt(fd, SOL_SOCKET, SO_PEERCRED). Throws TypeError for a fd that is
 * not a non-negative integer, and a PeerCredSystemError (message
 * `peercred: getsockopt(SO_PEERCRED) failed: <strerror>`) when the call fails.
 */
export function getPeerCred(fd: number): PeerCred;
