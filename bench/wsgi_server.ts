// evy's WSGI server, hello world (13 bytes, keep-alive), for bench/wsgi.sh.
// No access log: node:http, the peer, writes none either. Otherwise the
// server's defaults (its timeouts and limits), as node:http runs with its own.
//   evy run bench/wsgi_server.ts PORT
import { listen } from 'evy';
import { server, type StartResponse } from 'evy/web/wsgi';

const port = Number(process.argv[2] ?? 0);
const sock = listen(['127.0.0.1', port], { backlog: 2048 });
const body = Buffer.from('Hello, World!');
const headers: [string, string][] = [
  ['Content-Type', 'text/plain'],
  ['Content-Length', '13'],
];

function hello(_env: unknown, startResponse: StartResponse): Buffer[] {
  startResponse('200 OK', headers);
  return [body];
}

await server(sock, hello, { log: null });
