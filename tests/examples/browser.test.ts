// websocket_chat.ts in a real browser: two pages of headless Chromium (Debian's,
// installed by tests/setup/chromium.sh) chat through the example, driven over
// the DevTools protocol, with the `ws` package as a third participant.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn as spawnChild, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import WsClient from 'ws';
import { Queue, sleep, wait } from 'evy';
import { alive } from '../cli/sandbox';
import { assertClean } from '../helpers';
import { run, stop } from './run';

test.after.each(assertClean);

/** Debian's chromium, or Ubuntu's chromium-browser: the first on PATH, or null. */
function findChromium(): string | null {
  for (const name of ['chromium', 'chromium-browser']) {
    if (spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).status === 0) return name;
  }
  return null;
}

const chromium = findChromium();
// Without root, tests/setup/chromium.sh cannot install it: skip, loudly. As
// root (CI) the test runs whatever happens, so a missing browser fails there.
const skip = chromium === null && process.getuid?.() !== 0;
if (skip) {
  process.stderr.write(
    'evy: SKIPPED the browser test (tests/examples/browser.test.ts): chromium is not installed and apt needs root; ' +
      'install it with `sudo apt-get install chromium`, or run `make test` as root\n',
  );
}

/** A DevTools connection: send(method, params, session) → result; once(method, session) → the next such event. */
class Cdp {
  private next = 1;
  private readonly pending = new Map<number, { res: (v: unknown) => void; rej: (e: Error) => void }>();
  private readonly events = new Map<string, Array<() => void>>();
  constructor(private readonly sock: WsClient) {
    sock.on('message', (data) => {
      const msg = JSON.parse(String(data)) as { id?: number; method?: string; sessionId?: string; result?: unknown; error?: { message: string } };
      if (msg.method !== undefined) {
        const key = `${msg.sessionId ?? ''} ${msg.method}`;
        for (const fire of this.events.get(key)?.splice(0) ?? []) fire();
        return;
      }
      const p = msg.id === undefined ? undefined : this.pending.get(msg.id);
      if (p === undefined) return;
      this.pending.delete(msg.id!);
      if (msg.error) p.rej(new Error(msg.error.message));
      else p.res(msg.result);
    });
  }
  send<T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<T> {
    const id = this.next++;
    this.sock.send(JSON.stringify({ id, method, params, sessionId }));
    return wait(new Promise<T>((res, rej) => this.pending.set(id, { res: res as (v: unknown) => void, rej })));
  }
  /** Resolves at the next `method` event of `sessionId`: register before causing it. */
  once(method: string, sessionId: string): Promise<void> {
    const key = `${sessionId} ${method}`;
    return wait(new Promise<void>((res) => this.events.set(key, [...(this.events.get(key) ?? []), res])));
  }

  /** Evaluates `expr` in a page; a promise is awaited. */
  async eval(sessionId: string, expr: string): Promise<unknown> {
    const r = await this.send<{ result: { value?: unknown }; exceptionDetails?: { text: string } }>(
      'Runtime.evaluate',
      { expression: expr, awaitPromise: true, returnByValue: true },
      sessionId,
    );
    if (r.exceptionDetails) throw new Error(`in the page: ${r.exceptionDetails.text}`);
    return r.result.value;
  }
}

/** A page expression resolving once `cond` holds (checked every 20 ms, 10 s at most). */
function until(cond: string): string {
  return `new Promise((ok, fail) => { const t0 = Date.now(); const t = setInterval(() => {
    if (${cond}) { clearInterval(t); ok(true); } else if (Date.now() - t0 > 10000) { clearInterval(t); fail(new Error('timed out: ' + ${JSON.stringify(cond)})); }
  }, 20); })`;
}

async function launchChromium(dir: string): Promise<[ChildProcess, string]> {
  const child = spawnChild(
    chromium ?? 'chromium',
    ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', '--remote-debugging-port=0', `--user-data-dir=${dir}`, 'about:blank'],
    // its own process group, so its helper processes can be ended with it
    { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
  );
  let err = '';
  const url = await wait(
    new Promise<string>((res, rej) => {
      child.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        const m = /DevTools listening on (ws:\/\/\S+)/.exec(err);
        if (m) res(m[1]);
      });
      child.once('exit', (code) => rej(new Error(`chromium exited (${code}):\n${err}`)));
    }),
  );
  return [child, url];
}

/** SIGKILLs the process group `pgid` (a browser started here, detached) and waits until it is empty. */
async function endGroup(pgid: number): Promise<void> {
  if (alive(-pgid)) process.kill(-pgid, 'SIGKILL');
  for (let i = 0; i < 100 && alive(-pgid); i++) await sleep(0.05);
}

(skip ? test.skip : test)('two Chromium pages and a ws client chat through websocket_chat.ts', async () => {
  const r = run('websocket_chat.ts', ['0']);
  const [, url] = await r.line(/listening on (http:\/\/127\.0\.0\.1:\d+\/)/);
  const dir = mkdtempSync(join(tmpdir(), 'evy-chromium-'));
  const [browser, devtools] = await launchChromium(dir);
  const sock = new WsClient(devtools);
  await wait(new Promise((res, rej) => (sock.once('open', res), sock.once('error', rej))));
  const cdp = new Cdp(sock);
  try {
    const sessions: string[] = [];
    for (let i = 0; i < 2; i++) {
      // A blank page first, loaded from here on: evaluating in a page that is
      // still navigating fails with "Execution context was destroyed".
      const { targetId } = await cdp.send<{ targetId: string }>('Target.createTarget', { url: 'about:blank' });
      const { sessionId } = await cdp.send<{ sessionId: string }>('Target.attachToTarget', { targetId, flatten: true });
      await cdp.send('Page.enable', {}, sessionId);
      const loaded = cdp.once('Page.loadEventFired', sessionId);
      await cdp.send('Page.navigate', { url }, sessionId);
      await loaded;
      sessions.push(sessionId);
    }
    const [a, b] = sessions;
    for (const s of sessions) await cdp.eval(s, until("document.body && document.body.dataset.ready === 'yes'"));
    const heard = new Queue<string>();
    const carol = new WsClient(`${url.replace('http', 'ws')}chat`);
    carol.on('message', (d) => heard.putNowait(String(d)));
    await wait(new Promise((res, rej) => (carol.once('open', res), carol.once('error', rej))));

    const say = (s: string, text: string) =>
      cdp.eval(s, `document.getElementById('text').value = ${JSON.stringify(text)}; document.getElementById('form').requestSubmit(); true`);
    await say(a, 'hello from page A');
    await cdp.eval(b, until(`document.getElementById('log').textContent.includes('hello from page A')`));
    assert.is(await heard.get(), 'hello from page A');
    await say(b, 'page B here');
    await cdp.eval(a, until(`document.getElementById('log').textContent.includes('page B here')`));
    assert.is(await heard.get(), 'page B here');
    carol.send('and carol');
    for (const s of sessions) await cdp.eval(s, until(`document.getElementById('log').textContent.includes('and carol')`));
    const logA = (await cdp.eval(a, `document.getElementById('log').textContent`)) as string;
    assert.ok(logA.includes('me: hello from page A') && !logA.includes('hello from page Ahello'), logA);
    const closed = new Promise((res) => carol.once('close', res));
    carol.close();
    await wait(closed);
    await cdp.send('Browser.close').catch(() => {});
  } finally {
    sock.close();
    if (browser.exitCode === null) {
      const gone = new Promise((res) => browser.once('exit', res));
      browser.kill('SIGTERM'); // the browser this test started, by its pid
      await wait(gone);
    }
    // Chromium's helper processes can go on writing the profile after the
    // browser exits (clean-clone runs failed with ENOTEMPTY here, retries or
    // not): end its process group, the processes this browser started, and
    // remove the profile once none is left.
    await endGroup(browser.pid!);
    rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    await stop(r);
  }
});

test.run();
