// The ES module entry of evy/patched/dns (package.json "exports", condition
// "import"): the CommonJS module object, with every name importable by name.
// Node's own names come from node:dns itself, so a newer Node's new names
// are there too, and syncBuiltinESMExports() updates them as it does
// node:dns's. Evy's names with values of their own are listed here;
// tests/patched/dropin.test.ts checks the list against the CommonJS module.
import green from './dns.js';

export * from 'node:dns';
export default green;
export const {
  AF_INET,
  AF_INET6,
  AF_UNSPEC,
  IPPROTO_TCP,
  IPPROTO_UDP,
  SOCK_DGRAM,
  SOCK_STREAM,
  getaddrinfo,
  gethostbyaddr,
  gethostbyname,
  promises,
} = green;
