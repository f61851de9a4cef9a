// evy's green TLS echo server: wrapSsl on each accepted green socket, then the
// same recv/sendall loop as echo_server.ts.
//   evy run bench/tls_server.ts PORT KEY CERT
import { readFileSync } from 'node:fs';
import { listen, serve, wrapSsl, type GreenSocket } from 'evy';

const [port, keyFile, certFile] = process.argv.slice(2);
const key = readFileSync(keyFile);
const cert = readFileSync(certFile);
const server = listen(['127.0.0.1', Number(port)], { backlog: 2048 });

async function echo(raw: GreenSocket): Promise<void> {
  const conn = await wrapSsl(raw, { serverSide: true, key, cert });
  try {
    for (;;) {
      const data = await conn.recv(65536);
      if (data.length === 0) return;
      await conn.sendall(data);
    }
  } finally {
    conn.close();
  }
}

await serve(server, echo, { concurrency: 100_000 });
