// Preloaded into an echo server by bench/echo_promises.sh (node -r): counts the
// promises made and the promise reactions run (async_hooks init and before),
// and writes both totals to stderr on SIGUSR2. Its own hooks cost the server
// time, so it measures counts only.
'use strict';
const { createHook } = require('node:async_hooks');

let promises = 0;
let reactions = 0;
createHook({
  init(_id, type) {
    if (type === 'PROMISE') promises++;
  },
  before() {
    reactions++;
  },
}).enable();
process.on('SIGUSR2', () => process.stderr.write(`echo_count ${promises} ${reactions}\n`));
