// Exercises the native hub's poll handles under valgrind (`make leakcheck`):
// listeners added and removed, trampolines woken and timed out, and polls dropped
// without pollClose() so their finalizer path runs. Run by Makefile, not by uvu.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const dist = path.join(__dirname, '..', '..', 'dist');
const evy = require(path.join(dist, 'index.js'));
const { trampoline } = require(path.join(dist, 'hubs.js'));
const { binding } = require(path.join(dist, 'hub', 'binding.js'));

async function main() {
  const hub = evy.getHub();
  for (let i = 0; i < 100; i++) {
    const [r, w] = binding.pipe();
    const writer = hub.addWriter(w, () => {});
    const reader = evy.spawn(async () => {
      await trampoline(r, { read: true });
      return fs.readSync(r, Buffer.alloc(16));
    });
    await evy.sleep(0);
    fs.writeSync(w, 'hello');
    if ((await reader.wait()) !== 5) throw new Error('short read');
    hub.remove(writer);
    await trampoline(r, { read: true, timeout: 0.001 }).catch((e) => {
      if (!(e instanceof evy.Timeout)) throw e;
    });
    // Dropped without pollClose(): collected, its finalizer closes it. The fds
    // stay open until then (closing a polled fd first is a libuv error).
    binding.pollOpen(r, () => {});
    global.gc();
    await evy.sleep(0.001);
    fs.closeSync(r);
    fs.closeSync(w);
  }
  const counts = hub.counts();
  if (counts.timers || counts.listeners || counts.threads) throw new Error(`leftovers: ${JSON.stringify(counts)}`);
  console.log('leakcheck: ok');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
