// WebSocket echo load for bench/websocket.sh, on plain node:net (the same client
// for every server): CONNS connections each send a masked 64-byte binary frame,
// wait for the echo, and repeat, for SECS seconds.
// Usage: node bench/websocket_load.mjs PORT [CONNS=100] [SECS=3] -> "N msgs/s (M messages)"
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';

const [port, conns = 100, secs = 3] = process.argv.slice(2).map(Number);
const SIZE = 64;
const frame = Buffer.alloc(2 + 4 + SIZE);
frame[0] = 0x82;
frame[1] = 0x80 | SIZE;
randomBytes(4).copy(frame, 2);
for (let i = 0; i < SIZE; i++) frame[6 + i] = (i & 0xff) ^ frame[2 + (i & 3)];
const REPLY = 2 + SIZE;

let count = 0;
let measuring = false;
let open = 0;
const socks = [];

function start(onReady) {
  const s = connect(port, '127.0.0.1');
  s.setNoDelay(true);
  socks.push(s);
  let head = true;
  let pending = Buffer.alloc(0);
  let got = 0;
  s.on('connect', () => {
    s.write(
      `GET /bench HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
  });
  s.on('data', (d) => {
    if (head) {
      pending = Buffer.concat([pending, d]);
      const end = pending.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (!pending.subarray(0, 12).toString().includes('101')) throw new Error(`handshake refused: ${pending.toString()}`);
      head = false;
      d = pending.subarray(end + 4);
      onReady(s);
    }
    got += d.length;
    while (got >= REPLY) {
      got -= REPLY;
      if (measuring) count++;
      s.write(frame);
    }
  });
  s.on('error', (e) => {
    console.error(`connection error: ${e.message}`);
    process.exit(1);
  });
}

const ready = [];
for (let i = 0; i < conns; i++) {
  start((s) => {
    ready.push(s);
    if (++open === conns) {
      for (const r of ready) r.write(frame);
      setTimeout(() => {
        measuring = true;
        const t0 = process.hrtime.bigint();
        setTimeout(() => {
          measuring = false;
          const dt = Number(process.hrtime.bigint() - t0) / 1e9;
          console.log(`${Math.round(count / dt)} msgs/s (${count} messages)`);
          for (const x of socks) x.destroy();
        }, secs * 1000);
      }, 300); // warm-up
    }
  });
}
