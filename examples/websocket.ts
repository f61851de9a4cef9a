// A page that plots numbers a server streams to it over a websocket: `/` is
// the page, `/data` the websocket, one green thread per viewer sending a
// random walk ten times a second until the viewer goes away.
//   npx evy run examples/websocket.ts [port]    then open http://127.0.0.1:7000/
import { readFileSync } from 'node:fs';
import { listen, sleep, spawn } from 'evy';
import { WebSocketWSGI, type WebSocket } from 'evy/web/websocket';
import { server, type Environ, type StartResponse } from 'evy/web/wsgi';

const page = readFileSync(new URL('./static/websocket.html', import.meta.url));

const data = WebSocketWSGI(async (ws: WebSocket) => {
  // The page never sends anything but, when it leaves, its close frame. Only
  // a thread in wait() sees that frame (and answers pings), so one waits
  // while this one sends; wait() answers the close and closes the socket,
  // and the loop below sees `closed`.
  const reader = spawn(async () => {
    while ((await ws.wait()) !== null);
  });
  try {
    let value = 50;
    while (!ws.closed) {
      value = Math.max(0, Math.min(100, value + (Math.random() - 0.5) * 10));
      try {
        await ws.send(value.toFixed(2));
      } catch {
        return; // closing under us: the viewer left
      }
      await sleep(0.1);
    }
  } finally {
    reader.kill();
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
