// examples/sqlite_wsgi.ts, run as its header says: a slow SQLite query in a
// tpool worker does not hold up the requests that come after it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sleep, spawn } from 'evy';
import { urlopen } from 'evy/patched/http';
import { assertClean } from '../helpers';
import { run, stop } from './run';

test.after.each(assertClean);

test('sqlite_wsgi.ts answers reads and pings while a slow query runs', async () => {
  const r = run('sqlite_wsgi.ts', ['0']);
  const [, url] = await r.line(/listening on (http:\/\/127\.0\.0\.1:\d+\/)/);
  const word = await urlopen(`${url}word/7`);
  assert.is(word.status, 200);
  assert.equal(JSON.parse((await word.read()).toString()), { word: 'word-7' });
  let slowDone = false;
  const slow = spawn(async () => {
    const res = await urlopen(`${url}slow/20000000`, { timeout: 120 });
    const body = JSON.parse((await res.read()).toString());
    slowDone = true;
    return body;
  });
  // The slow request goes out first; the rest follow it.
  await sleep(0.05);
  for (let i = 0; i < 5; i++) {
    const ping = await urlopen(`${url}ping`);
    assert.equal(JSON.parse((await ping.read()).toString()), { pong: true });
    const w = await urlopen(`${url}word/${100 + i}`);
    assert.equal(JSON.parse((await w.read()).toString()), { word: `word-${100 + i}` });
  }
  assert.is(slowDone, false, 'the reads and pings were answered while the slow query ran');
  assert.equal(await slow.wait(), { n: 20000000 });
  const missing = await urlopen(`${url}nothing`);
  assert.is(missing.status, 404);
  await missing.read();
  await stop(r);
});

test.run();
