// evy run start-up: time from spawning `evy run` on a one-line script to its
// first line of output, median of 15 runs, next to plain node on the same line,
// and each evy line as a ratio and a difference against plain node (the goal:
// a one-line script under evy run within 15 ms of plain node). Runs alternate
// between the commands, so a machine that gets busier mid-run weighs on all.
// The first evy run warms the TypeScript cache (as any second run of a script).
// A one-line script is CommonJS (no import/export); an ES module entry also
// boots Node's module loader thread for evy's ESM hooks (the .mjs line).
//   node bench/startup.mjs
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(join(tmpdir(), 'evy-startup-'));
const ts = join(dir, 'one.ts');
const js = join(dir, 'one.js');
const mjs = join(dir, 'one.mjs');
writeFileSync(ts, "console.log('first line' as string);\n");
writeFileSync(js, "console.log('first line');\n");
writeFileSync(mjs, "console.log('first line');\n");

function firstLine(args) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let done = false;
    child.stdout.on('data', () => {
      if (!done) {
        done = true;
        resolve(performance.now() - t0);
      }
    });
    child.on('exit', (code) => {
      if (!done) reject(new Error(`${args.join(' ')} exited ${code} before printing`));
    });
  });
}

async function medians(commands, n = 15) {
  const times = commands.map(() => []);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < commands.length; c++) times[c].push(await firstLine(commands[c]));
  }
  return times.map((t) => t.sort((a, b) => a - b)[Math.floor(n / 2)]);
}

const evy = join(root, 'bin', 'evy');
await firstLine([evy, 'run', ts]); // fills the TypeScript cache
const commands = [
  ['node_one_line_js', [js]],
  ['evy_run_one_line_js', [evy, 'run', js]],
  ['evy_run_one_line_ts', [evy, 'run', ts]],
  ['evy_run_one_line_ts_no_patch', [evy, 'run', '--no-patch', ts]],
  ['node_one_line_mjs', [mjs]],
  ['evy_run_one_line_mjs', [evy, 'run', mjs]],
];
const ms = await medians(commands.map(([, args]) => args));
const byName = Object.fromEntries(commands.map(([name], i) => [name, ms[i]]));
for (const [name] of commands) console.log(`startup_${name}\t${byName[name].toFixed(1)}\tms`);
for (const [name] of commands) {
  if (!name.startsWith('evy_')) continue;
  const base = name.endsWith('_mjs') ? 'node_one_line_mjs' : 'node_one_line_js';
  const d = byName[name] - byName[base];
  console.log(`startup_${name}/${base} = ${(byName[name] / byName[base]).toFixed(2)} (${d >= 0 ? '+' : ''}${d.toFixed(1)} ms)`);
}
rmSync(dir, { recursive: true, force: true });
