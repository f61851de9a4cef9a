// A line echo server: each client gets a green thread reading lines through a
// green file and writing them back.
//   npx evy run examples/echoserver.ts [port]     (default 6000; 0: any free port)
//   then: nc 127.0.0.1 6000
import { GreenPool, listen, type GreenSocket } from 'evy';

const port = Number(process.argv[2] ?? 6000);
const server = listen(['127.0.0.1', port]);
const [host, bound] = server.getsockname() as [string, number];
console.log(`listening on ${host}:${bound}`);

async function handle(conn: GreenSocket): Promise<void> {
  console.log('client connected');
  const file = conn.makefile('rw');
  for await (const line of file) {
    await file.write(line);
    await file.flush();
    console.log(`echoed ${line.trimEnd()}`);
  }
  console.log('client disconnected');
  await file.close(); // the connection closes with the socket and its last file, as in Evy
  conn.close();
}

const pool = new GreenPool();
for (;;) {
  const [conn] = await server.accept();
  await pool.spawnN(handle, conn);
}
