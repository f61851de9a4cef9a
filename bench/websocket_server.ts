// evy's WebSocket echo server for bench/websocket.sh: WebSocketWSGI served by
// evy's WSGI server, as an application would run it. EVY_WS_DEFLATE=1 turns
// permessage-deflate on.
//   evy run bench/websocket_server.ts PORT
import { listen } from 'evy';
import { WebSocketWSGI } from 'evy/web/websocket';
import { server } from 'evy/web/wsgi';

const sock = listen(['127.0.0.1', Number(process.argv[2] ?? 0)], { backlog: 2048 });

const app = WebSocketWSGI(
  async (ws) => {
    for (let m = await ws.wait(); m !== null; m = await ws.wait()) await ws.send(m);
  },
  { perMessageDeflate: process.env.EVY_WS_DEFLATE === '1' },
);

await server(sock, app, { log: null, maxSize: 100_000 });
