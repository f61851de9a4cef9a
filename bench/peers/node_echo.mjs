// node:net's echo server, the idiomatic way. Usage: node node_echo.mjs PORT
import net from 'node:net';

const server = net.createServer((sock) => {
  sock.on('data', (data) => sock.write(data));
  sock.on('error', () => {});
});
server.listen({ port: Number(process.argv[2]), host: '127.0.0.1', backlog: 2048 });
