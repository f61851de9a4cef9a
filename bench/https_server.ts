// evy's WSGI server over TLS (the `ssl` option), hello world, default options
// otherwise, for bench/https_storm.sh.
//   evy run bench/https_server.ts PORT KEY CERT
import { readFileSync } from 'node:fs';
import { listen } from 'evy';
import { server, type StartResponse } from 'evy/web/wsgi';

const [port, keyFile, certFile] = process.argv.slice(2);
const sock = listen(['127.0.0.1', Number(port)]);
function hello(_env: unknown, startResponse: StartResponse): string[] {
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return ['hello'];
}
await server(sock, hello, { log: null, ssl: { key: readFileSync(keyFile), cert: readFileSync(certFile) } });
