// The ES module entry of evy/patched/tls (package.json "exports", condition
// "import"): the CommonJS module object, with every name importable by name.
// Node's own names come from node:tls itself, so a newer Node's new names
// are there too, and syncBuiltinESMExports() updates them as it does
// node:tls's. Evy's names with values of their own are listed here;
// tests/patched/dropin.test.ts checks the list against the CommonJS module.
import green from './tls.js';

export * from 'node:tls';
export default green;
export const {
  GreenSSLSocket,
  Server,
  __evyPatch,
  createServer,
  wrapSocket,
} = green;
