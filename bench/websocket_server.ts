// evy's WebSocket echo server for bench/websocket.sh: a listen/serve loop that
// reads the request head, builds the WSGI environ (evy.socket, evy.hijack,
// evy.rest) and hands it to WebSocketWSGI. Usage: evy run bench/websocket_server.ts PORT
import { listen, serve, type GreenSocket } from 'evy';
import { WebSocketWSGI } from 'evy/web/websocket';

const port = Number(process.argv[2] ?? 0);
const server = listen(['127.0.0.1', port], { backlog: 2048 });

const app = WebSocketWSGI(async (ws) => {
  for (let m = await ws.wait(); m !== null; m = await ws.wait()) await ws.send(m);
});

async function handle(conn: GreenSocket): Promise<void> {
  let buf = Buffer.alloc(0);
  let end: number;
  while ((end = buf.indexOf('\r\n\r\n')) < 0) {
    const d = await conn.recv();
    if (d.length === 0) return;
    buf = Buffer.concat([buf, d]);
  }
  const [requestLine, ...lines] = buf.subarray(0, end).toString('latin1').split('\r\n');
  const [method, target] = requestLine.split(' ');
  let hijacked = false;
  const environ: Record<string, unknown> = {
    REQUEST_METHOD: method,
    PATH_INFO: target,
    QUERY_STRING: '',
    'evy.socket': conn,
    'evy.hijack': () => (hijacked = true),
    'evy.rest': buf.subarray(end + 4),
  };
  for (const line of lines) {
    const i = line.indexOf(':');
    environ['HTTP_' + line.slice(0, i).trim().toUpperCase().replace(/-/g, '_')] = line.slice(i + 1).trim();
  }
  let head = '';
  const body = await app(environ, (status, headers) => {
    head = `HTTP/1.1 ${status}\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}Connection: close\r\n\r\n`;
  });
  if (!hijacked) await conn.sendall(Buffer.concat([Buffer.from(head), ...body]));
}

await serve(server, handle, { concurrency: 100_000 });
