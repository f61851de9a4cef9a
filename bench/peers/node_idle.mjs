// node:net holding idle connections (a 'data' listener each). Prints like idle_server.ts.
import net from 'node:net';

let accepted = 0;
const server = net.createServer((sock) => {
  if (++accepted % 1000 === 0) console.log(`accepted ${accepted}`);
  sock.on('data', () => {});
  sock.on('error', () => {});
});
server.listen({ port: Number(process.argv[2] ?? 0), host: '127.0.0.1', backlog: 4096 }, () => {
  console.log(`listening ${server.address().port}`);
});
