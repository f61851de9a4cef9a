// RSS per idle connection: 10,000 connections held open against evy's green
// server (a thread parked in recv each) and node:net. Prints name<TAB>value<TAB>unit.
//   node bench/idle.mjs [connections]
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const N = Number(process.argv[2] ?? 10_000);
const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function measure(name, cmd, args) {
  const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const seen = (re) =>
    new Promise((res) => {
      const check = () => (re.test(out) ? res() : setTimeout(check, 20));
      check();
    });
  child.stdout.on('data', (d) => (out += d));
  await seen(/listening \d+/);
  const port = Number(/listening (\d+)/.exec(out)[1]);
  await sleep(500);
  const before = rssKiB(child.pid);
  const socks = [];
  for (let i = 0; i < N; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    socks.push(s);
    if (i % 500 === 499) await sleep(5);
  }
  await seen(new RegExp(`accepted ${N}\\b`));
  await sleep(1000);
  const after = rssKiB(child.pid);
  for (const s of socks) s.destroy();
  child.kill();
  console.log(`idle_${name}_rss_per_conn\t${(((after - before) * 1024) / N).toFixed(0)}\tbytes`);
  return ((after - before) * 1024) / N;
}

const evy = await measure('evy', process.execPath, [join(root, 'bin', 'evy'), 'run', 'bench/idle_server.ts', '0']);
const node = await measure('node', process.execPath, ['bench/peers/node_idle.mjs', '0']);
console.log(`\nevy/node:net memory per idle connection = ${(evy / node).toFixed(2)}`);
