// GreenFile reads against a plain recv loop on the same loopback transfer:
// read() to EOF and readline() on one long line should cost about what the
// recv loop costs (linear), whatever the size. Prints ratios, side by side.
//   node bin/evy run bench/file_read.ts [MiB...]      (default 8 32)
import { connect, listen, spawn, type GreenSocket } from 'evy';

type Reader = (sock: GreenSocket) => Promise<number>;

async function recvLoop(sock: GreenSocket): Promise<number> {
  const parts: Buffer[] = [];
  for (let d; (d = await sock.recv()).length > 0; ) parts.push(d);
  return Buffer.concat(parts).length;
}

async function fileRead(sock: GreenSocket): Promise<number> {
  const f = sock.makefile('rb');
  const n = (await f.read()).length;
  await f.close();
  return n;
}

async function fileReadline(sock: GreenSocket): Promise<number> {
  const f = sock.makefile('rb');
  const n = (await f.readline()).length; // the payload is one line
  await f.close();
  return n;
}

/** Seconds for `reader` to take `bytes` sent by a peer on loopback (best of 3). */
async function time(bytes: number, reader: Reader): Promise<number> {
  const payload = Buffer.alloc(bytes, 0x61);
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const srv = listen(['127.0.0.1', 0]);
    const sender = spawn(async () => {
      const [conn] = await srv.accept();
      await conn.sendall(payload);
      conn.close();
    });
    const c = await connect(srv.getsockname());
    const t0 = performance.now();
    const got = await reader(c);
    const dt = (performance.now() - t0) / 1000;
    if (got !== bytes) throw new Error(`read ${got} of ${bytes} bytes`);
    await sender.wait();
    c.close();
    srv.close();
    best = Math.min(best, dt);
  }
  return best;
}

const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
for (const mib of sizes.length > 0 ? sizes : [8, 32]) {
  const bytes = mib * 1024 * 1024;
  const base = await time(bytes, recvLoop);
  const read = await time(bytes, fileRead);
  const line = await time(bytes, fileReadline);
  const ms = (s: number): string => `${(s * 1000).toFixed(1)} ms`;
  console.log(
    `${mib} MiB: recv loop ${ms(base)}; evy makefile read / recv loop = ${(read / base).toFixed(2)} (${ms(read)}); ` +
      `readline (one ${mib} MiB line) / recv loop = ${(line / base).toFixed(2)} (${ms(line)})`,
  );
}
