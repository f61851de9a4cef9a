// A page that plots numbers a server streams to it over a websocket: `/` is
// the page, `/data` the websocket, one green thread per viewer sending a
// random walk ten times a second until the viewer goes away.
//   npx evy run examples/websocket.ts [port]    then open http://127.0.0.1:7000/
import { readFileSync } from 'node:fs';
import { listen, sleep } from 'evy';
import { WebSocketWSGI, type WebSocket } from 'evy/web/websocket';
import { server, type Environ, type StartResponse } from 'evy/web/wsgi';

const page = readFileSync(new URL('./static/websocket.html', import.meta.url));

const data = WebSocketWSGI(async (ws: WebSocket) => {
  let value = 50;
  while (!ws.closed) {
    value = Math.max(0, Math.min(100, value + (Math.random() - 0.5) * 10));
    try {
      await ws.send(value.toFixed(2));
    } catch {
      return; // the viewer left
    }
    await sleep(0.1);
  }
});

function app(environ: Environ, startResponse: StartResponse) {
  if (environ.PATH_INFO === '/data') return data(environ, startResponse);
  startResponse('200 OK', [['Content-Type', 'text/html; charset=utf-8']]);
  return [page];
}

const sock = listen(['127.0.0.1', Number(process.argv[2] ?? 7000)]);
console.log(`listening on http://127.0.0.1:${(sock.getsockname() as [string, number])[1]}/`);
await server(sock, app);
