// TLS echo CPU per round trip, both ends in this one process: evy's native
// wrapSsl (client and server green threads) against node:tls (client and
// server, callbacks), C connections of 64-byte ping-pong, N trips each, taking
// turns R times. CPU time (process.cpuUsage) is what a machine busy with other
// work disturbs least, so this is the figure to read when bench/tls.sh's
// trips/s swing. Prints the medians and node:tls/evy.
//   evy run bench/tls_cpu.ts [CONNS] [TRIPS] [ROUNDS]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { connect, listen, spawn, wrapSsl, type GreenSSLSocket } from 'evy';

const [conns, trips, rounds] = [Number(process.argv[2] ?? 50), Number(process.argv[3] ?? 2000), Number(process.argv[4] ?? 5)];
const dir = mkdtempSync(join(tmpdir(), 'evy-tlscpu-'));
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
  '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', join(dir, 'k'), '-out', join(dir, 'c')], { stdio: 'ignore' });
const key = readFileSync(join(dir, 'k'));
const cert = readFileSync(join(dir, 'c'));
rmSync(dir, { recursive: true, force: true });
const msg = Buffer.alloc(64, 'x');

async function evyRound(): Promise<number> {
  const l = listen(['127.0.0.1', 0], { backlog: 1024 });
  const server = spawn(async () => {
    const handlers = [];
    for (let i = 0; i < conns; i++) {
      const [raw] = await l.accept();
      handlers.push(spawn(async () => {
        const s = await wrapSsl(raw, { serverSide: true, key, cert });
        for (let d; (d = await s.recv()).length > 0; ) await s.sendall(d);
        s.close();
      }));
    }
    for (const h of handlers) await h.wait();
  });
  const clients: GreenSSLSocket[] = [];
  for (let i = 0; i < conns; i++) clients.push(await wrapSsl(await connect(l.getsockname()), { rejectUnauthorized: false }));
  const t0 = process.cpuUsage();
  await Promise.all(clients.map((c) => spawn(async () => {
    for (let i = 0; i < trips; i++) {
      await c.sendall(msg);
      let got = 0;
      while (got < msg.length) got += (await c.recv()).length;
    }
  }).wait()));
  const t = process.cpuUsage(t0);
  for (const c of clients) c.close();
  await server.wait();
  l.close();
  return (t.user + t.system) / (conns * trips);
}

async function nodeRound(): Promise<number> {
  const server = tls.createServer({ key, cert }, (s) => {
    s.on('data', (d) => s.write(d));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', 1024, r));
  const port = (server.address() as { port: number }).port;
  const socks = await Promise.all(Array.from({ length: conns }, () => new Promise<tls.TLSSocket>((res, rej) => {
    const s = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () => res(s));
    s.on('error', rej);
  })));
  const t0 = process.cpuUsage();
  await Promise.all(socks.map((s) => new Promise<void>((res) => {
    let n = 0;
    let got = 0;
    s.on('data', (d) => {
      got += d.length;
      while (got >= msg.length) {
        got -= msg.length;
        if (++n === trips) return res();
        s.write(msg);
      }
    });
    s.write(msg);
  })));
  const t = process.cpuUsage(t0);
  for (const s of socks) s.destroy();
  await new Promise((r) => server.close(r));
  return (t.user + t.system) / (conns * trips);
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const e: number[] = [];
const n: number[] = [];
await evyRound(); // warm-up, each
await nodeRound();
for (let r = 0; r < rounds; r++) {
  e.push(await evyRound());
  n.push(await nodeRound());
}
console.log(`tls_cpu_evy_c${conns}\t${median(e).toFixed(2)}\tus/trip (both ends)\t[${e.map((x) => x.toFixed(2)).join(' ')}]`);
console.log(`tls_cpu_node_c${conns}\t${median(n).toFixed(2)}\tus/trip (both ends)\t[${n.map((x) => x.toFixed(2)).join(' ')}]`);
console.log(`\nnode:tls/evy wrapSsl CPU per trip = ${(median(n) / median(e)).toFixed(2)}`);
