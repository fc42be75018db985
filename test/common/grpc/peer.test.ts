import { closeSync, openSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { getPeerCred } from '@herald/peercred';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  formatPeerAddress,
  parsePeerAddress,
  PeerError,
  peerCredentials,
  readPeerCredentials,
  socketFd,
  type PeerCredentials,
} from '../../../src/common/grpc/peer.ts';
import { processStartTimeSync } from '../../../src/common/grpc/process-start-time.ts';
import { makeTempDir } from '../../helpers/tmp.ts';

let tmp: { path: string; cleanup: () => Promise<void> };
let sockets: net.Socket[];
let servers: net.Server[];

beforeEach(async () => {
  tmp = await makeTempDir('herald-peer-');
  sockets = [];
  servers = [];
});

afterEach(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  await tmp.cleanup();
});

/** A connected pair over a real Unix socket: [accepted server side, client side]. */
async function connectedPair(): Promise<[net.Socket, net.Socket]> {
  const path = join(tmp.path, 'pair.sock');
  const accepted = new Promise<net.Socket>((resolve) => {
    const server = net.createServer(resolve);
    servers.push(server);
    server.listen(path);
  });
  await new Promise((resolve) => servers[0]!.once('listening', resolve));
  const client = net.connect(path);
  sockets.push(client);
  await new Promise((resolve) => client.once('connect', resolve));
  const serverSide = await accepted;
  sockets.push(serverSide);
  return [serverSide, client];
}

describe('@herald/peercred addon', () => {
  it('reads SO_PEERCRED from both ends of a Unix socket', async () => {
    const [serverSide, client] = await connectedPair();
    const me = { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() };
    expect(getPeerCred(socketFd(serverSide))).toEqual(me);
    expect(getPeerCred(socketFd(client))).toEqual(me);
  });

  it.each<[string, () => number, string, string]>([
    ['a closed descriptor', () => {
      const fd = openSync('/dev/null', 'r');
      closeSync(fd);
      return fd;
    }, 'EBADF', 'peercred: getsockopt(SO_PEERCRED) failed: Bad file descriptor'],
    ['a file', () => openSync('/dev/null', 'r'), 'ENOTSOCK', 'peercred: getsockopt(SO_PEERCRED) failed: Socket operation on non-socket'],
  ])('throws a system error for %s', (_name, makeFd, code, message) => {
    const fd = makeFd();
    try {
      expect(() => getPeerCred(fd)).toThrow(expect.objectContaining({ code, message, syscall: 'getsockopt(SO_PEERCRED)' }));
    } finally {
      try {
        closeSync(fd);
      } catch (err) {
        expect((err as NodeJS.ErrnoException).code).toBe('EBADF');
      }
    }
  });

  it.each<[string, unknown]>([
    ['a string', '3'],
    ['a negative number', -1],
    ['a fraction', 1.5],
    ['NaN', Number.NaN],
    ['nothing', undefined],
  ])('throws TypeError for %s', (_name, fd) => {
    expect(() => getPeerCred(fd as number)).toThrow(TypeError);
  });
});

describe('socketFd', () => {
  it('returns the descriptor of a live socket', async () => {
    const [serverSide] = await connectedPair();
    expect(Number.isInteger(socketFd(serverSide))).toBe(true);
  });

  it('throws PeerError for a destroyed socket', async () => {
    const [serverSide] = await connectedPair();
    serverSide.destroy();
    expect(() => socketFd(serverSide)).toThrow(PeerError);
    expect(() => socketFd(serverSide)).toThrow(
      expect.objectContaining({
        code: 'ERR_PEER_FD_UNAVAILABLE',
        message: 'grpc: cannot read the file descriptor of the socket (socket._handle.fd is undefined, socket destroyed)',
      }),
    );
  });

  it('throws PeerError for a socket that never had a handle', () => {
    expect(() => socketFd(new net.Socket())).toThrow(
      expect.objectContaining({
        code: 'ERR_PEER_FD_UNAVAILABLE',
        message: 'grpc: cannot read the file descriptor of the socket (socket._handle.fd is undefined)',
      }),
    );
  });
});

describe('readPeerCredentials', () => {
  it('returns pid, uid, gid and the start time of the peer', async () => {
    const [serverSide] = await connectedPair();
    const creds = readPeerCredentials(serverSide);
    expect(creds).toEqual({
      pid: process.pid,
      uid: process.getuid!(),
      gid: process.getgid!(),
      startTime: processStartTimeSync(process.pid),
    });
    expect(Object.isFrozen(creds)).toBe(true);
  });

  it('wraps a failure to read the descriptor', async () => {
    const [serverSide] = await connectedPair();
    serverSide.destroy();
    expect(() => readPeerCredentials(serverSide)).toThrow(expect.objectContaining({ code: 'ERR_PEER_FD_UNAVAILABLE' }));
  });
});

describe('peer address', () => {
  const creds: PeerCredentials = { pid: 4242, uid: 1000, gid: 100, startTime: 123456789 };

  it('round-trips credentials', () => {
    expect(formatPeerAddress(creds)).toBe('herald-uds:pid=4242;uid=1000;gid=100;start=123456789');
    expect(parsePeerAddress(formatPeerAddress(creds))).toEqual(creds);
    const noStart = { ...creds, startTime: undefined };
    expect(formatPeerAddress(noStart)).toBe('herald-uds:pid=4242;uid=1000;gid=100');
    expect(parsePeerAddress(formatPeerAddress(noStart))).toEqual(noStart);
  });

  it('round-trips the largest ids', () => {
    const max = { pid: 4194304, uid: 4294967295, gid: 4294967295, startTime: 2 ** 53 - 1 };
    expect(parsePeerAddress(formatPeerAddress(max))).toEqual(max);
  });

  it.each([
    ['grpc-js for a TCP peer', '127.0.0.1:50051'],
    ['grpc-js for an IPv6 peer', '[::1]:50051'],
    ['grpc-js without an address', 'unknown'],
    ['empty', ''],
    ['another prefix', 'uds:pid=1;uid=0;gid=0'],
    ['missing gid', 'herald-uds:pid=1;uid=0'],
    ['trailing text', 'herald-uds:pid=1;uid=0;gid=0;start=5:80'],
    ['a negative id', 'herald-uds:pid=1;uid=-1;gid=0'],
    ['a uid past 32 bits', 'herald-uds:pid=1;uid=4294967296;gid=0'],
    ['a hex id', 'herald-uds:pid=0x1;uid=0;gid=0'],
  ])('gives no credentials for %s', (_name, peer) => {
    expect(parsePeerAddress(peer)).toBeUndefined();
    expect(peerCredentials({ getPeer: () => peer })).toBeUndefined();
  });

  it('reads credentials from a call', () => {
    expect(peerCredentials({ getPeer: () => formatPeerAddress(creds) })).toEqual(creds);
  });
});
