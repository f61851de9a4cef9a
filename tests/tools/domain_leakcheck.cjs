// Run with --expose-internals by backdoor.test.ts: a backdoor client comes,
// runs a statement and goes, and the async hook counts, EventEmitter,
// process.domain, setUncaughtExceptionCaptureCallback and process's listeners
// are as they were; then the application makes a domain of its own, which works.
'use strict';
const path = require('node:path');
const net = require('node:net');
const EventEmitter = require('node:events');
const { internalBinding } = require('internal/test/binding');
const dist = path.join(__dirname, '..', '..', 'dist');
const { backdoor } = require(path.join(dist, 'tools', 'backdoor.js'));
const { constants, async_hook_fields: fields } = internalBinding('async_wrap');

const state = () => ({
  before: fields[constants.kBefore],
  destroy: fields[constants.kDestroy],
  init: EventEmitter.init,
  emit: EventEmitter.prototype.emit,
  usingDomains: EventEmitter.usingDomains,
  domain: Object.getOwnPropertyDescriptor(process, 'domain'),
  capture: process.setUncaughtExceptionCaptureCallback,
  newListener: process.listeners('newListener'),
  removeListener: process.listeners('removeListener'),
});
const same = (a, b) => Object.keys(a).every((k) => (Array.isArray(a[k]) ? a[k].length === b[k].length && a[k].every((x, i) => x === b[k][i]) : typeof a[k] === 'object' ? JSON.stringify(a[k]) === JSON.stringify(b[k]) : a[k] === b[k]));
const until = async (f) => { for (let i = 0; i < 400 && !f(); i++) await new Promise((r) => setTimeout(r, 10)); if (!f()) throw new Error('timed out'); };

(async () => {
  const start = state();
  const bd = await backdoor(0);
  const c = net.connect(bd.address[1], '127.0.0.1');
  let out = '';
  c.setEncoding('utf8');
  c.on('data', (d) => (out += d));
  await until(() => out.endsWith('evy> '));
  c.write('await evy.sleep(0.01); 6 * 7\n');
  await until(() => out.includes('42\nevy> '));
  const s = state();
  const unpatched = s.init === start.init && s.emit === start.emit && s.usingDomains === false && s.capture === start.capture;
  console.log(`client attached: hooks before ${s.before} destroy ${s.destroy}, EventEmitter ${unpatched ? 'unpatched' : 'PATCHED'}, process.domain ${s.domain.get ? 'routed' : 'plain'}`);
  c.end();
  await until(() => bd.clients === 0);
  await bd.close();
  console.log(same(start, state()) ? 'client gone: as before the backdoor' : `client gone: CHANGED ${JSON.stringify(state())}`);
  const domain = require('node:domain');
  const d = domain.create();
  d.on('error', (e) => {
    console.log(`the application's domain: EventEmitter ${EventEmitter.usingDomains ? 'patched' : 'UNPATCHED'}, caught '${e.message}'`);
  });
  d.run(() => setTimeout(() => { throw new Error('in a domain timer'); }, 1));
})();
