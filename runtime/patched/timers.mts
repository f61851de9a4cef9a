// The ES module entry of evy/patched/timers (package.json "exports", condition
// "import"): the CommonJS module object, with every name importable by name.
// Node's own names come from node:timers itself, so a newer Node's new names
// are there too, and syncBuiltinESMExports() updates them as it does
// node:timers's. Evy's names with values of their own are listed here;
// tests/patched/dropin.test.ts checks the list against the CommonJS module.
import green from './timers.js';

export * from 'node:timers';
export default green;
export const {
  __evyPatch,
  promises,
  setImmediate,
  setTimeout,
  sleep,
} = green;
