// Tasks for bench/tpool.mjs: the same code for evy's execute() and for Piscina's run().
'use strict';
function noop(x) {
  return x;
}
function spin1ms(x) {
  const end = process.hrtime.bigint() + 1_000_000n;
  while (process.hrtime.bigint() < end);
  return x;
}
// Piscina calls the default export with the task; evy calls an export by name.
module.exports = (t) => (t.spin ? spin1ms(t.x) : noop(t.x));
module.exports.noop = noop;
module.exports.spin1ms = spin1ms;
