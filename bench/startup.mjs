// evy run start-up: time from spawning `evy run` on a one-line script to its
// first line of output, median of 15 runs, next to plain node on the same line.
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

async function median(args, n = 15) {
  const times = [];
  for (let i = 0; i < n; i++) times.push(await firstLine(args));
  times.sort((a, b) => a - b);
  return times[Math.floor(n / 2)];
}

const evy = join(root, 'bin', 'evy');
await firstLine([evy, 'run', ts]); // fills the TypeScript cache
const rows = [
  ['node_one_line_js', await median([js])],
  ['evy_run_one_line_ts', await median([evy, 'run', ts])],
  ['evy_run_one_line_js', await median([evy, 'run', js])],
  ['evy_run_one_line_ts_no_patch', await median([evy, 'run', '--no-patch', ts])],
  ['node_one_line_mjs', await median([mjs])],
  ['evy_run_one_line_mjs', await median([evy, 'run', mjs])],
];
for (const [name, ms] of rows) console.log(`startup_${name}\t${ms.toFixed(1)}\tms`);
rmSync(dir, { recursive: true, force: true });
