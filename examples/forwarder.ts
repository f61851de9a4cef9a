// A TCP port forwarder: each client connecting to the listening port is joined
// to a new connection to the remote address, one green thread per direction.
//   npx evy run examples/forwarder.ts LISTEN_PORT REMOTE_HOST:REMOTE_PORT
import { connect, listen, serve, spawn, type GreenSocket } from 'evy';

const [listenPort, remote] = process.argv.slice(2);
if (listenPort === undefined || remote === undefined || !remote.includes(':')) {
  console.error('usage: evy run examples/forwarder.ts LISTEN_PORT REMOTE_HOST:REMOTE_PORT');
  process.exit(2);
}
const [remoteHost, remotePort] = remote.split(':');

/** Copies until EOF, then passes the EOF on. */
async function pipe(from: GreenSocket, to: GreenSocket): Promise<void> {
  for (;;) {
    const data = await from.recv(65536);
    if (data.length === 0) break;
    await to.sendall(data);
  }
  to.shutdown(1); // SHUT_WR
}

async function forward(client: GreenSocket): Promise<void> {
  const upstream = await connect([remoteHost, Number(remotePort)]);
  try {
    const back = spawn(pipe, upstream, client);
    await pipe(client, upstream).catch(() => {});
    await back.wait().catch(() => {});
  } finally {
    upstream.close();
  }
}

const server = listen(['127.0.0.1', Number(listenPort)]);
const [host, port] = server.getsockname() as [string, number];
console.log(`forwarding ${host}:${port} to ${remote}`);
await serve(server, forward);
