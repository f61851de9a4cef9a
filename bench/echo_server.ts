// evy's green echo server: one green thread per connection doing recv/sendall,
// the seed's server pattern. Usage: evy run bench/echo_server.ts PORT
import { listen, serve, type GreenSocket } from 'evy';

const port = Number(process.argv[2] ?? 0);
const server = listen(['127.0.0.1', port], { backlog: 2048 });

async function echo(conn: GreenSocket): Promise<void> {
  for (;;) {
    const data = await conn.recv(65536);
    if (data.length === 0) return;
    await conn.sendall(data);
  }
}

await serve(server, echo, { concurrency: 100_000 });
