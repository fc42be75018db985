// A new workload, in its own process: opens FetchX509SVID streams one after
// another and prints the first-response latencies (ms) as JSON.
//   node bench/workload-api/probe.ts SOCKET COUNT
import * as grpc from '@grpc/grpc-js';
import { serviceClient, Services } from '../../src/common/grpc/protos.ts';

const [socket, count = '300'] = process.argv.slice(2);
const client = new (serviceClient(Services.workload))(`unix:${socket}`, grpc.credentials.createInsecure()) as unknown as Record<string, (r: object, m: grpc.Metadata) => grpc.ClientReadableStream<unknown>>;
const md = new grpc.Metadata();
md.set('workload.spiffe.io', 'true');
const firsts: number[] = [];
for (let i = 0; i < Number(count); i++) {
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const call = client.FetchX509SVID!({}, md);
    call.on('data', () => {
      firsts.push(performance.now() - t0);
      call.cancel();
      resolve();
    });
    call.on('error', (e: grpc.ServiceError) => (e.code === grpc.status.CANCELLED ? undefined : reject(e)));
  });
}
(client as unknown as grpc.Client).close();
process.stdout.write(JSON.stringify(firsts));
