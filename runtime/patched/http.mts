// The ES module entry of evy/patched/http (package.json "exports", condition
// "import"): the CommonJS module object, with every name importable by name.
// Node's own names come from node:http itself, so a newer Node's new names
// are there too, and syncBuiltinESMExports() updates them as it does
// node:http's. Evy's names with values of their own are listed here;
// tests/patched/dropin.test.ts checks the list against the CommonJS module.
import green from './http.js';

export * from 'node:http';
export default green;
export const {
  UrlResponse,
  urlopen,
  urlopenAgent,
} = green;
