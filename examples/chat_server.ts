// A chat server: every line a participant sends goes to all the others.
//   npx evy run examples/chat_server.ts [port]    (default 3001; 0: any free port)
//   then, in several terminals: nc 127.0.0.1 3001
import { listen, serve, spawn, type GreenFile, type GreenSocket } from 'evy';

const port = Number(process.argv[2] ?? 3001);
const participants = new Set<GreenFile<string>>();

async function broadcast(from: GreenFile<string>, line: string): Promise<void> {
  for (const p of participants) {
    if (p === from) continue;
    // One slow or gone participant must not hold up the others.
    spawn(async () => {
      try {
        await p.write(line);
        await p.flush();
      } catch {
        participants.delete(p);
      }
    });
  }
}

async function participant(conn: GreenSocket, addr: unknown): Promise<void> {
  const file = conn.makefile('rw');
  participants.add(file);
  console.log(`participant joined: ${JSON.stringify(addr)}`);
  try {
    for await (const line of file) await broadcast(file, line);
  } finally {
    participants.delete(file);
    console.log(`participant left: ${JSON.stringify(addr)}`);
  }
}

const server = listen(['127.0.0.1', port]);
const [host, bound] = server.getsockname() as [string, number];
console.log(`chat server listening on ${host}:${bound}`);
await serve(server, participant);
