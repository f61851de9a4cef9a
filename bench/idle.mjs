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
  const open = async (upTo) => {
    while (socks.length < upTo) {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => {});
      socks.push(s);
      if (socks.length % 500 === 0) await sleep(5);
    }
    await seen(new RegExp(`accepted ${upTo}\\b`));
    await sleep(1000);
    return rssKiB(child.pid);
  };
  const half = await open(N / 2);
  const full = await open(N);
  for (const s of socks) s.destroy();
  child.kill();
  // Whole: everything the server grew by, over N. Marginal: the slope between
  // N/2 and N connections, without one-off growth (V8's young generation grows
  // from 1 to 16 MiB semi-spaces under the accept burst, a fixed cost).
  const whole = ((full - before) * 1024) / N;
  const marginal = ((full - half) * 1024) / (N / 2);
  console.log(`idle_${name}_rss_per_conn\t${whole.toFixed(0)}\tbytes`);
  console.log(`idle_${name}_rss_marginal_per_conn\t${marginal.toFixed(0)}\tbytes`);
  return { whole, marginal };
}

const evy = await measure('evy', process.execPath, [join(root, 'bin', 'evy'), 'run', 'bench/idle_server.ts', '0']);
const node = await measure('node', process.execPath, ['bench/peers/node_idle.mjs', '0']);
console.log(`\nevy/node:net memory per idle connection = ${(evy.whole / node.whole).toFixed(2)}`);
console.log(`evy/node:net marginal memory per idle connection = ${(evy.marginal / node.marginal).toFixed(2)}`);
