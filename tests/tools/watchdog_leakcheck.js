// The blocking watchdog under valgrind (`make leakcheck`): started and
// stopped, with blocks that it reports (its interrupt, its stack, a source map
// read in C), and left running when a worker thread and the process end.
// Run by Makefile, not by uvu.
'use strict';
const path = require('node:path');
const { Worker, isMainThread } = require('node:worker_threads');
const dist = path.join(__dirname, '..', '..', 'dist');
const evy = require(path.join(dist, 'index.js'));
const debug = require(path.join(dist, 'tools', 'debug.js'));

function spin(ms) {
  const t = Date.now() + ms;
  while (Date.now() < t);
}

// a function compiled with an inline source map, as evy run's TypeScript is
const mapped = new Function(
  'spin',
  'return function mappedSpin(ms) { spin(ms); }\n//# sourceMappingURL=data:application/json;base64,' +
    Buffer.from(JSON.stringify({ version: 3, sources: ['x.ts'], names: [], mappings: 'AAAA;AACA' })).toString('base64'),
)(spin);

async function main() {
  let reports = 0;
  const off = debug.onBlockReport(() => reports++);
  for (let i = 0; i < 4; i++) {
    debug.hubBlockingDetection(true, 0.05, { quiet: true, raise: i % 2 === 0 });
    await evy.spawn(() => mapped(300)).wait().catch(() => {});
    await evy.spawn(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200)).wait().catch(() => {});
    await evy.sleep(0.05);
    debug.hubBlockingDetection(false);
  }
  off();
  if (reports < 4) throw new Error(`the watchdog reported ${reports} times`);
  if (isMainThread) {
    await new Promise((resolve, reject) => {
      const w = new Worker(__filename);
      w.on('error', reject);
      w.on('exit', resolve);
    });
  }
  debug.hubBlockingDetection(true, 0.05, { quiet: true }); // left on: torn down at exit
  if (isMainThread) console.log('watchdog leakcheck: ok');
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
