// The ES module entry of evy/patched/child_process (package.json "exports", condition
// "import"): the CommonJS module object, with every name importable by name.
// Node's own names come from node:child_process itself, so a newer Node's new names
// are there too, and syncBuiltinESMExports() updates them as it does
// node:child_process's. Evy's names with values of their own are listed here;
// tests/patched/dropin.test.ts checks the list against the CommonJS module.
import green from './child_process.js';

export * from 'node:child_process';
export default green;
export const {
  CalledProcessError,
  Popen,
  TimeoutExpired,
  __evyPatch,
  call,
  checkOutput,
  execFileSync,
  execSync,
  popen,
  spawnSync,
} = green;
