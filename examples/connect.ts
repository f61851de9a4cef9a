// Asks several HTTP servers for their front page at once, one green thread each,
// and prints each status line in the order the servers were given.
//   npx evy run examples/connect.ts host:port [host:port...]
import { GreenPile, connect } from 'evy';

async function statusLine(target: string): Promise<string> {
  const [host, port] = target.split(':');
  const sock = await connect([host, Number(port ?? 80)]);
  try {
    await sock.sendall(`GET / HTTP/1.0\r\nHost: ${host}\r\n\r\n`);
    const file = sock.makefile('r');
    const first = await file.readline();
    await file.close(); // the connection ends when the socket and every file of it are closed
    return `${target}: ${first.trimEnd()}`;
  } finally {
    sock.close();
  }
}

const targets = process.argv.slice(2);
if (targets.length === 0) {
  console.error('usage: evy run examples/connect.ts host:port [host:port...]');
  process.exit(2);
}
const pile = new GreenPile<string>();
for (const t of targets) await pile.spawn(() => statusLine(t).catch((e: Error) => `${t}: ${e.message}`));
for await (const line of pile) console.log(line);
