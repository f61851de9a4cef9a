// node:tls echo server, the idiomatic way. Usage: node node_tls.mjs PORT KEY CERT
import { readFileSync } from 'node:fs';
import tls from 'node:tls';

const [port, key, cert] = process.argv.slice(2);
const server = tls.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (sock) => {
  sock.on('data', (data) => sock.write(data));
  sock.on('error', () => {});
});
server.listen({ port: Number(port), host: '127.0.0.1', backlog: 2048 });
