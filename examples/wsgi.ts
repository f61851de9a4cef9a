// The smallest WSGI server: one app, one green thread per connection.
//   npx evy run examples/wsgi.ts [port]
import { listen } from 'evy';
import { server, type Environ, type StartResponse } from 'evy/web/wsgi';

function hello(environ: Environ, startResponse: StartResponse): string[] {
  startResponse('200 OK', [['Content-Type', 'text/plain']]);
  return [`Hello, World! You asked for ${String(environ.PATH_INFO)}\r\n`];
}

const sock = listen(['127.0.0.1', Number(process.argv[2] ?? 8090)]);
console.log(`listening on http://127.0.0.1:${(sock.getsockname() as [string, number])[1]}/`);
await server(sock, hello);
