// The socket examples, run as their README lines say, against loopback peers
// that this test starts itself.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as http from 'node:http';
import { connect, listen, serve, spawn, Event, wait, type GreenSocket } from 'evy';
import { assertClean } from '../helpers';
import { exited, run, stop } from './run';

/** One line through a file of its own, closed after (a socket's connection lasts while a file of it is open). */
async function readLine(sock: GreenSocket): Promise<string> {
  const f = sock.makefile('r');
  try {
    return await f.readline();
  } finally {
    await f.close();
  }
}

test.after.each(assertClean);

test('echoserver.ts echoes lines back to each client', async () => {
  const r = run('echoserver.ts', ['0']);
  const [, port] = await r.line(/listening on 127\.0\.0\.1:(\d+)/);
  const a = await connect(['127.0.0.1', Number(port)]);
  const b = await connect(['127.0.0.1', Number(port)]);
  const fa = a.makefile('rw');
  const fb = b.makefile('rw');
  await fa.write('hello\n');
  await fa.flush();
  await fb.write('from b\n');
  await fb.flush();
  assert.is(await fa.readline(), 'hello\n');
  assert.is(await fb.readline(), 'from b\n');
  await fa.close();
  await fb.close();
  a.close();
  b.close();
  await r.line(/client disconnected[\s\S]*client disconnected/);
  assert.match(r.out(), /echoed hello/);
  await stop(r);
});

test('connect.ts prints each server\'s status line in order, and errors per server', async () => {
  const server = http.createServer((_req, res) => res.end('ok'));
  await wait(new Promise<void>((res) => server.listen(0, '127.0.0.1', res)));
  const port = (server.address() as { port: number }).port;
  const closed = listen(['127.0.0.1', 0]);
  const deadPort = (closed.getsockname() as [string, number])[1];
  closed.close(); // nothing listens there now: refused
  const r = run('connect.ts', [`127.0.0.1:${port}`, `127.0.0.1:${deadPort}`, `127.0.0.1:${port}`]);
  const code = await exited(r);
  server.close();
  assert.is(code, 0, r.out());
  const lines = r.out().trim().split('\n');
  assert.is(lines.length, 3, r.out());
  assert.match(lines[0], new RegExp(`^127\\.0\\.0\\.1:${port}: HTTP/1\\.1 200 OK$`));
  assert.match(lines[1], /ECONNREFUSED/);
  assert.match(lines[2], /200 OK$/);
});

test('forwarder.ts joins clients to the remote address, both directions, EOF passed on', async () => {
  const upstream = listen(['127.0.0.1', 0]);
  const upPort = (upstream.getsockname() as [string, number])[1];
  const server = spawn(() =>
    serve(upstream, async (conn) => {
      for (;;) {
        const d = await conn.recv();
        if (d.length === 0) break;
        await conn.sendall(Buffer.from(d.toString().toUpperCase()));
      }
    }),
  );
  const r = run('forwarder.ts', ['0', `127.0.0.1:${upPort}`]);
  const [, port] = await r.line(/forwarding 127\.0\.0\.1:(\d+) to/);
  const c = await connect(['127.0.0.1', Number(port)]);
  await c.sendall('through the forwarder\n');
  assert.is(await readLine(c), 'THROUGH THE FORWARDER\n');
  c.shutdown(1);
  assert.is((await c.recv()).length, 0, 'the upstream EOF came back through');
  c.close();
  await stop(r);
  server.kill();
  await server.wait();
  upstream.close();
});

test('chat_server.ts sends each line to every other participant', async () => {
  const r = run('chat_server.ts', ['0']);
  const [, port] = await r.line(/listening on 127\.0\.0\.1:(\d+)/);
  const files = [];
  const socks = [];
  for (let i = 0; i < 3; i++) {
    const s = await connect(['127.0.0.1', Number(port)]);
    socks.push(s);
    files.push(s.makefile('rw'));
  }
  await r.line(/(participant joined[\s\S]*){3}/);
  await files[0].write('hi all\n');
  await files[0].flush();
  assert.is(await files[1].readline(), 'hi all\n');
  assert.is(await files[2].readline(), 'hi all\n');
  // The sender does not get its own line: the next thing it reads is another's.
  const got = new Event<string>();
  const reader = spawn(async () => got.send(await files[0].readline()));
  await files[2].write('reply\n');
  await files[2].flush();
  assert.is(await got.wait(), 'reply\n');
  await reader.wait();
  assert.is(await files[1].readline(), 'reply\n');
  for (const f of files) await f.close();
  for (const s of socks) s.close();
  await r.line(/(participant left[\s\S]*){3}/);
  await stop(r);
});

test.run();
