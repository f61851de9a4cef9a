// Idle connections, each with a green thread parked in recv(). Prints
// "listening PORT" and "accepted N" every 1000 connections.
//   evy run bench/idle_server.ts PORT
import { listen, serve } from 'evy';

const server = listen(['127.0.0.1', Number(process.argv[2] ?? 0)], { backlog: 4096 });
console.log(`listening ${(server.getsockname() as [string, number])[1]}`);
let accepted = 0;
await serve(
  server,
  async (conn) => {
    if (++accepted % 1000 === 0) console.log(`accepted ${accepted}`);
    await conn.recv();
  },
  { concurrency: 1_000_000 },
);
