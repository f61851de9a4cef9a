// The ES module entry of evy/patched/os (package.json "exports", condition
// "import"): the CommonJS module object, with every name importable by name.
// Node's own names come from node:os itself, so a newer Node's new names
// are there too, and syncBuiltinESMExports() updates them as it does
// node:os's. Evy's names with values of their own are listed here;
// tests/patched/dropin.test.ts checks the list against the CommonJS module.
import green from './os.js';

export * from 'node:os';
export default green;
export const {
  close,
  pipe,
  read,
  write,
} = green;
