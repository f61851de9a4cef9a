// The ES module entry of evy/patched/net (package.json "exports", condition
// "import"): the CommonJS module object, with every name importable by name.
// Node's own names come from node:net itself, so a newer Node's new names
// are there too, and syncBuiltinESMExports() updates them as it does
// node:net's. Evy's names with values of their own are listed here;
// tests/patched/dropin.test.ts checks the list against the CommonJS module.
import green from './net.js';

export * from 'node:net';
export default green;
export const {
  Server,
  __evyPatch,
  createServer,
} = green;
