// The soak's network fault: a TCP proxy between the agents and the server,
// in the soak process. `cut(ms)` drops every connection through it and
// refuses new ones for that long (an agent sees its server vanish: resets,
// then refused connections), then lets connections through again.
import net from 'node:net';

export interface SoakProxy {
  readonly port: number;
  cut(ms: number): Promise<void>;
  close(): Promise<void>;
}

export async function startSoakProxy(target: () => number): Promise<SoakProxy> {
  const open = new Set<net.Socket>();
  let cutUntil = 0;
  const server = net.createServer((client) => {
    if (Date.now() < cutUntil) {
      client.destroy();
      return;
    }
    const upstream = net.connect({ host: '127.0.0.1', port: target() });
    for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
      open.add(a);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        open.delete(a);
        b.destroy();
      });
      a.pipe(b);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    async cut(ms) {
      cutUntil = Date.now() + ms;
      for (const s of open) s.destroy();
      await new Promise((r) => setTimeout(r, ms));
    },
    async close() {
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
