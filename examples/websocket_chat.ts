// A chat room: `/` is the page, `/chat` the websocket. Every message a
// participant sends goes to every other participant; one green thread per
// participant, reading its websocket.
//   npx evy run examples/websocket_chat.ts [port]    then open http://127.0.0.1:7001/ twice
import { readFileSync } from 'node:fs';
import { listen } from 'evy';
import { WebSocketWSGI, type WebSocket } from 'evy/web/websocket';
import { server, type Environ, type StartResponse } from 'evy/web/wsgi';

const page = readFileSync(new URL('./static/websocket_chat.html', import.meta.url));
const participants = new Set<WebSocket>();

const chat = WebSocketWSGI(async (ws: WebSocket) => {
  participants.add(ws);
  try {
    for (let m; (m = await ws.wait()) !== null; ) {
      for (const other of participants) {
        if (other !== ws) other.send(m).catch(() => participants.delete(other)); // a gone peer leaves the room
      }
    }
  } finally {
    participants.delete(ws);
  }
});

function app(environ: Environ, startResponse: StartResponse) {
  if (environ.PATH_INFO === '/chat') return chat(environ, startResponse);
  startResponse('200 OK', [['Content-Type', 'text/html; charset=utf-8']]);
  return [page];
}

const sock = listen(['127.0.0.1', Number(process.argv[2] ?? 7001)]);
console.log(`listening on http://127.0.0.1:${(sock.getsockname() as [string, number])[1]}/`);
await server(sock, app);
