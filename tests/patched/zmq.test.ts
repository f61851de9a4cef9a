import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Event, Timeout, getHub, isMonkeyPatched, monkeyPatch, sleep, spawn, type GreenThread } from 'evy';
import { selectModules } from 'evy/patcher';
import * as zmq from 'evy/patched/zmq';
import { assertClean, rejection, settle } from '../helpers';

// One context for the suite: libzmq starts its I/O and reaper threads (an
// eventfd each) with a context's first socket, and ends them only when
// zeromq.js's context is collected.
const ctx = new zmq.Context();
let fdsBefore = 0;
/** The test made contexts of its own (their threads' fds stay until they are collected). */
let ownContexts = false;

/** The eventfds of this process: libzmq gives each socket one (its mailbox), closed by its reaper thread after zmq_close. */
function eventfds(): number {
  let n = 0;
  for (const e of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${e}`) === 'anon_inode:[eventfd]') n++;
    } catch {
      // closed between readdir and readlink
    }
  }
  return n;
}

test.before(async () => {
  const before = eventfds();
  ctx.socket(zmq.PAIR).close(); // starts the context's threads
  for (let i = 0; i < 200 && eventfds() !== before + 2; i++) await sleep(0.01);
});

test.before.each(() => {
  fdsBefore = eventfds();
});

// No socket left open, nothing left on the hub, every socket's mailbox fd closed.
test.after.each(async () => {
  assert.is(ctx.socketCount, 0, 'the test closed every socket it made');
  await assertClean();
  if (ownContexts) return;
  for (let i = 0; i < 200 && eventfds() > fdsBefore; i++) await sleep(0.01);
  assert.is(eventfds(), fdsBefore, "libzmq's reaper closed every socket's fd");
});

/** A bound `a` and a connected `b` (tcp on loopback, or inproc). */
function pair(ta: number, tb: number, transport: 'tcp' | 'inproc' = 'tcp', hwm?: number): [zmq.Socket, zmq.Socket] {
  const a = ctx.socket(ta);
  const b = ctx.socket(tb);
  if (hwm !== undefined) {
    // before bind and connect: the high-water marks are the pipes'
    for (const s of [a, b]) for (const o of [zmq.SNDHWM, zmq.RCVHWM]) s.setsockopt(o, hwm);
  }
  if (transport === 'tcp') {
    b.connect(`tcp://127.0.0.1:${a.bindToRandomPort('tcp://127.0.0.1')}`);
  } else {
    const name = `inproc://t${Math.random().toString(36).slice(2)}`;
    a.bind(name);
    b.connect(name);
  }
  return [a, b];
}

function closeAll(...socks: zmq.Socket[]): void {
  for (const s of socks) s.close(0);
}

// ---- a round trip for every socket type -------------------------------------------------

test('PUSH/PULL, PAIR, REQ/REP and DEALER/ROUTER each carry a message there and back as they may', async () => {
  const [pull, push] = pair(zmq.PULL, zmq.PUSH);
  await push.send('to pull');
  assert.is((await pull.recv()).toString(), 'to pull');

  const [p1, p2] = pair(zmq.PAIR, zmq.PAIR);
  await p2.send('ping');
  assert.is(await p1.recvString(), 'ping');
  await p1.send(Buffer.from('pong'));
  assert.is(await p2.recvString(), 'pong');

  const [rep, req] = pair(zmq.REP, zmq.REQ);
  await req.sendJson({ n: 1 });
  assert.equal(await rep.recvJson(), { n: 1 });
  await rep.sendJson({ n: 2 });
  assert.equal(await req.recvJson(), { n: 2 });

  const router = ctx.socket(zmq.ROUTER);
  const dealer = ctx.socket(zmq.DEALER);
  dealer.setsockopt(zmq.ROUTING_ID, 'worker-1'); // before connect: it names the connection
  assert.is(dealer.getsockopt(zmq.ROUTING_ID), 'worker-1');
  dealer.connect(`tcp://127.0.0.1:${router.bindToRandomPort('tcp://127.0.0.1')}`);
  await dealer.sendMultipart(['job', Buffer.from([1, 2, 3])]);
  const [id, job, body] = await router.recvMultipart();
  assert.is(id.toString(), 'worker-1');
  assert.is(job.toString(), 'job');
  assert.equal([...body], [1, 2, 3]);
  await router.sendMultipart([id, 'done']);
  assert.equal((await dealer.recvMultipart()).map(String), ['done']);
  closeAll(pull, push, p1, p2, rep, req, router, dealer);
});

test('PUB/SUB and XPUB/XSUB: a subscriber gets the topics it subscribed to, in order, and nothing else', async () => {
  const [pub, sub] = pair(zmq.PUB, zmq.SUB);
  sub.subscribe('a.');
  sub.subscribe('sync');
  // PUB drops what it sends before the subscription reached it: send until one arrives.
  const poller = new zmq.Poller();
  poller.register(sub, zmq.POLLIN);
  do await pub.send('sync');
  while ((await poller.poll(20)).length === 0);
  while (sub.events() & zmq.POLLIN) await sub.recv();
  for (const t of ['a.1', 'b.1', 'a.2', 'ab', 'b.2', 'a.3']) await pub.send(t);
  await pub.send('sync end');
  const got: string[] = [];
  for (let m = await sub.recvString(); m !== 'sync end'; m = await sub.recvString()) got.push(m);
  assert.equal(got, ['a.1', 'a.2', 'a.3'], 'only the a. topic, in order');
  sub.unsubscribe('a.');
  await sleep(0.05);
  await pub.send('a.4');
  await pub.send('sync end');
  assert.is(await sub.recvString(), 'sync end', 'unsubscribed: a.4 is filtered out');

  const [xpub, xsub] = pair(zmq.XPUB, zmq.XSUB);
  await xsub.send(Buffer.from('\x01news', 'latin1')); // an XSUB subscribes by sending
  assert.is((await xpub.recv()).toString('latin1'), '\x01news', 'XPUB sees the subscription');
  await xpub.send('news: hi');
  assert.is(await xsub.recvString(), 'news: hi');
  closeAll(pub, sub, xpub, xsub);
});

test('multipart: SNDMORE frames go as one message; recv returns them one by one with RCVMORE', async () => {
  const [pull, push] = pair(zmq.PULL, zmq.PUSH, 'inproc');
  await push.send('a', zmq.SNDMORE);
  await push.send('b', zmq.SNDMORE);
  assert.equal(pull.events() & zmq.POLLIN, 0, 'nothing goes before the last frame');
  await push.send('c');
  await push.sendMultipart(['x'], zmq.SNDMORE);
  await push.sendMultipart(['y', 'z']);
  assert.is(await pull.recvString(), 'a');
  assert.is(pull.getsockopt(zmq.RCVMORE), 1);
  assert.is(await pull.recvString(), 'b');
  assert.is(await pull.recvString(), 'c');
  assert.is(pull.getsockopt(zmq.RCVMORE), 0);
  assert.is(await pull.recvString(), 'x');
  assert.equal((await pull.recvMultipart()).map(String), ['y', 'z'], 'recvMultipart: the rest of the message');
  closeAll(pull, push);
});

test('sends and recvs that complete at once still yield to the hub, keep the REQ/REP turn, and a woken recv beaten to its message waits again', async () => {
  // inproc with room for every message: each send and recv completes at once
  const [pull, push] = pair(zmq.PULL, zmq.PUSH, 'inproc', 10_000);
  let ticks = 0;
  const ticker = spawn(async () => {
    for (;;) {
      await sleep(0);
      ticks++;
    }
  });
  await settle();
  let before = ticks;
  for (let i = 0; i < 3000; i++) await push.send(String(i));
  assert.ok(ticks - before >= 3, `a sending loop let the ticker run (${ticks - before} ticks)`);
  before = ticks;
  for (let i = 0; i < 3000; i++) assert.is(await pull.recvString(), String(i));
  assert.ok(ticks - before >= 3, `a receiving loop let the ticker run (${ticks - before} ticks)`);
  ticker.kill();

  const [rep, req] = pair(zmq.REP, zmq.REQ, 'inproc');
  await req.send('q');
  assert.is(((await rejection(req.send('again'))) as zmq.ZMQError).code, 'EFSM', 'REQ: a second send before the reply');
  assert.is(await rep.recvString(), 'q');
  assert.is(((await rejection(rep.recv())) as zmq.ZMQError).code, 'EFSM', 'REP: a second recv before the reply');
  await rep.send('r');
  assert.is(await req.recvString(), 'r');

  // A parked reader is woken for a message that another thread takes before it
  // resumes: it must wait again, not fail, and get the next message.
  const [d1, d2] = pair(zmq.DEALER, zmq.DEALER, 'inproc');
  const parked = spawn(() => d1.recvString());
  await settle();
  await d2.send('first');
  await d1.send('x'); // afterOp: d1 looks at its events, sees POLLIN and wakes the parked reader
  assert.is(await d1.recvString(), 'first', 'taken at once, ahead of the woken reader');
  await settle();
  assert.is(parked.dead, false, 'the woken reader found nothing and waits again');
  await d2.send('second');
  assert.is(await parked.wait(), 'second');
  assert.is(await d2.recvString(), 'x');
  closeAll(pull, push, rep, req, d1, d2);
});

// ---- non-blocking, timeouts, errors ---------------------------------------------------

test('DONTWAIT/NOBLOCK, RCVTIMEO and SNDTIMEO throw Again instead of waiting', async () => {
  const [pull, push] = pair(zmq.PULL, zmq.PUSH, 'inproc');
  const again = await rejection(pull.recv(zmq.NOBLOCK));
  assert.instance(again, zmq.Again);
  assert.is((again as zmq.Again).errno, zmq.EAGAIN);
  pull.setsockopt(zmq.RCVTIMEO, 30);
  assert.is(pull.getsockopt(zmq.RCVTIMEO), 30);
  const t0 = performance.now();
  assert.instance(await rejection(pull.recv()), zmq.Again);
  assert.ok(performance.now() - t0 >= 25, 'waited RCVTIMEO first');
  // A PUSH with no peer cannot take a message.
  const lone = ctx.socket(zmq.PUSH);
  assert.instance(await rejection(lone.send('x', zmq.DONTWAIT)), zmq.Again);
  lone.setsockopt(zmq.SNDTIMEO, 20);
  assert.instance(await rejection(lone.send('x')), zmq.Again);
  await push.send('still fine', zmq.DONTWAIT);
  assert.is(await pull.recvString(zmq.DONTWAIT), 'still fine');
  closeAll(pull, push, lone);
});

test('bad input and misuse get errors naming the problem', async () => {
  assert.throws(() => ctx.socket(99), /unknown socket type 99 \(zmq\.PAIR, zmq\.PUB/);
  const [rep, req] = pair(zmq.REP, zmq.REQ, 'inproc');
  assert.throws(() => req.setsockopt(12345, 1), /setsockopt: unknown option 12345/);
  assert.throws(() => req.setsockopt(zmq.LINGER, 'x'), /setsockopt\(zmq\.LINGER\): the value must be an integer/);
  assert.throws(() => req.getsockopt(zmq.SUBSCRIBE), /zmq\.SUBSCRIBE can only be set/);
  assert.throws(() => req.bind(5 as unknown as string), /bind: address must be a string/);
  assert.throws(() => req.bind('nonsense'), (e: unknown) => e instanceof zmq.ZMQError && /bind nonsense/.test(e.message));
  assert.match(String(await rejection(req.send(42 as unknown as string))), /send: a frame must be a Buffer, a Uint8Array, an ArrayBuffer or a string, got number/);
  assert.match(String(await rejection(req.send('x', 8))), /send: flags must be 0 or a combination of zmq.DONTWAIT and zmq.SNDMORE/);
  assert.match(String(await rejection(req.sendMultipart([]))), /non-empty array/);
  const efsm = (await rejection(req.recv())) as zmq.ZMQError;
  assert.is(efsm.errno, zmq.EFSM, 'REQ: recv before send');
  assert.match(efsm.message, /must send its request/);
  assert.is((await rejection(rep.send('x')) as zmq.ZMQError).code, 'EFSM', 'REP: send before recv');
  const pull = ctx.socket(zmq.PULL);
  assert.is((await rejection(pull.send('x')) as zmq.ZMQError).errno, zmq.ENOTSUP);
  const pub = ctx.socket(zmq.PUB);
  assert.match(((await rejection(pub.recv())) as Error).message, /a PUB socket cannot receive/);
  pull.close();
  const closed = (await rejection(pull.recv())) as zmq.ZMQError;
  assert.is(closed.errno, zmq.ENOTSOCK);
  assert.match(closed.message, /recv: the zmq socket is closed/);
  pull.close(); // twice: nothing
  const poller = new zmq.Poller();
  assert.throws(() => poller.register({} as zmq.Socket), /must be a zmq Socket/);
  assert.throws(() => poller.unregister(rep), /not registered/);
  assert.match(String(await rejection(poller.poll(-5))), /timeout must be milliseconds/);
  closeAll(rep, req, pub);
});

test('a socket closed while green threads wait on it wakes them with ENOTSOCK', async () => {
  const [pull, push] = pair(zmq.PULL, zmq.PUSH, 'inproc');
  const lone = ctx.socket(zmq.PUSH);
  const r = spawn(() => pull.recv());
  const s = spawn(() => lone.send('never'));
  const poller = new zmq.Poller();
  poller.register(pull, zmq.POLLIN);
  const p = spawn(() => poller.poll());
  await settle();
  pull.close();
  lone.close();
  for (const gt of [r, s]) assert.is(((await rejection(gt.wait())) as zmq.ZMQError).errno, zmq.ENOTSOCK);
  assert.equal(await p.wait(), [[pull, zmq.POLLERR]], 'the poller reports the closed socket');
  closeAll(push);
});

// ---- Timeout and kill: nothing lost, nothing twice ------------------------------------------

test('a recv interrupted by Timeout or kill takes nothing: the next recv gets the message', async () => {
  const [pull, push] = pair(zmq.PULL, zmq.PUSH);
  const t = await rejection((async () => {
    using _t = new Timeout(0.02);
    return await pull.recv();
  })());
  assert.instance(t, Timeout);
  const r = spawn(() => pull.recv());
  await settle();
  r.kill();
  assert.is(await r.wait(), undefined, "killed: GreenletExit ends it quietly");
  assert.ok(r.dead);
  await push.send('one');
  await push.send('two');
  assert.is(await pull.recvString(), 'one', 'the first message went to nobody before');
  assert.is(await pull.recvString(), 'two');
  // REQ: the reply an interrupted recv did not wait for is the next recv's.
  const [rep, req] = pair(zmq.REP, zmq.REQ);
  await req.send('q');
  const served = new Event<void>();
  const server = spawn(async () => {
    const q = await rep.recv();
    await served.wait();
    await rep.send(Buffer.concat([q, Buffer.from('!')]));
  });
  assert.instance(await rejection((async () => {
    using _t = new Timeout(0.02);
    return await req.recv();
  })()), Timeout);
  served.send();
  assert.is(await req.recvString(), 'q!');
  await server.wait();
  closeAll(pull, push, rep, req);
});

test('a send interrupted at the high-water mark sent nothing; the sends that returned all arrive, in order', async () => {
  // inproc: the pipe holds SNDHWM + RCVHWM messages, no kernel buffer behind it.
  const [pull, push] = pair(zmq.PULL, zmq.PUSH, 'inproc', 2);
  const sent: number[] = [];
  let timedOut = 0;
  const reading = new Event<void>();
  const reader = spawn(async () => {
    await reading.wait();
    const got: number[] = [];
    for (;;) {
      const m = await pull.recvString();
      if (m === 'end') return got;
      got.push(Number(m));
      if (got.length % 3 === 0) await sleep(0.002); // slower than the sender
    }
  });
  for (let i = 0; i < 150; i++) {
    if (i === 40) reading.send();
    // (not `using` in a loop: esbuild's lowering for Node 20 rethrows an earlier iteration's error)
    const t = new Timeout(0.001 + (i % 3) * 0.001);
    try {
      await push.send(String(i));
      sent.push(i);
    } catch (err) {
      if (!(err instanceof Timeout)) throw err;
      timedOut++;
    } finally {
      t.cancel();
    }
  }
  // kill while blocked, too
  const blocked = spawn(async () => {
    for (let i = 1000; ; i++) {
      await push.send(String(i));
      sent.push(i);
    }
  });
  await sleep(0.05);
  blocked.kill();
  assert.is(await blocked.wait(), undefined, "killed: GreenletExit ends it quietly");
  assert.ok(blocked.dead);
  await push.send('end');
  const got = await reader.wait();
  assert.ok(timedOut > 10, `the high-water mark held sends back (${timedOut} timed out)`);
  assert.ok(sent.length > 20, `${sent.length} sent`);
  assert.equal(got, sent, 'what arrived is exactly what send() said it sent');
  closeAll(pull, push);
});

test('10,000 messages through PUSH/PULL while receivers are killed and Timeouts fire: none lost, none twice', async () => {
  const [pull, push] = pair(zmq.PULL, zmq.PUSH);
  const N = 10_000;
  const seen = new Uint8Array(N);
  let received = 0;
  let interrupted = 0;
  const done = new Event<void>();
  const receiver = async (): Promise<void> => {
    for (;;) {
      let m: Buffer;
      const t = new Timeout(0.0005 + Math.random() * 0.002);
      try {
        m = await pull.recv();
      } catch (err) {
        if (!(err instanceof Timeout)) throw err;
        interrupted++;
        continue;
      } finally {
        t.cancel();
      }
      seen[m.readUInt32BE(0)]++;
      if (++received === N) done.send();
    }
  };
  const receivers = new Set<GreenThread<void>>();
  const more = (): void => {
    const gt = spawn(receiver);
    receivers.add(gt);
    gt.link(() => receivers.delete(gt));
  };
  for (let i = 0; i < 4; i++) more();
  let kills = 0;
  const killer = spawn(async () => {
    for (;;) {
      await sleep(0.001);
      const victim = [...receivers][Math.floor(Math.random() * receivers.size)];
      victim.kill();
      kills++;
      more();
    }
  });
  const sender = spawn(async () => {
    const b = Buffer.alloc(4);
    for (let i = 0; i < N; i++) {
      b.writeUInt32BE(i, 0);
      await push.send(b);
      if (i % 250 === 0) await sleep(0.002); // let receivers park, so kills and Timeouts find them waiting
    }
  });
  {
    using _t = new Timeout(60);
    await done.wait();
  }
  await sender.wait();
  killer.kill();
  for (const gt of receivers) gt.kill();
  await settle();
  assert.is(received, N);
  assert.ok(seen.every((n) => n === 1), 'every message exactly once');
  assert.ok(kills > 10, `${kills} receivers killed`);
  assert.ok(interrupted > 10, `${interrupted} recvs timed out`);
  assert.is(pull.events() & zmq.POLLIN, 0, 'nothing left behind');
  closeAll(pull, push);
});

// ---- the high-water mark ------------------------------------------------------------

test('the high-water mark blocks a green sender only: other threads and timers run on', async () => {
  const [pull, push] = pair(zmq.PULL, zmq.PUSH, 'inproc', 5);
  let queued = 0;
  const sender = spawn(async () => {
    for (let i = 0; i < 100; i++) {
      await push.send(String(i));
      queued++;
    }
  });
  let ticks = 0;
  const ticker = spawn(async () => {
    for (;;) {
      await sleep(0.001);
      ticks++;
    }
  });
  await sleep(0.1);
  assert.ok(queued >= 5 && queued <= 12, `the sender stopped at the mark (${queued} queued)`);
  assert.ok(ticks > 5, `the hub ran on (${ticks} ticks)`);
  const before = queued;
  await sleep(0.02);
  assert.is(queued, before, 'still blocked');
  const got: string[] = [];
  while (got.length < 100) got.push(await pull.recvString());
  await sender.wait();
  assert.equal(got, Array.from({ length: 100 }, (_, i) => String(i)));
  ticker.kill();
  closeAll(pull, push);
});

test('a PUSH with no peer blocks its sender until a PULL connects, and then delivers', async () => {
  const push = ctx.socket(zmq.PUSH);
  const port = push.bindToRandomPort('tcp://127.0.0.1');
  const sender = spawn(() => push.send('first'));
  await sleep(0.05);
  assert.is(sender.dead, false, 'waiting for a peer');
  const pull = ctx.socket(zmq.PULL);
  pull.connect(`tcp://127.0.0.1:${port}`);
  assert.is(await pull.recvString(), 'first');
  await sender.wait();
  closeAll(pull, push);
});

// ---- the Poller ------------------------------------------------------------------------

test('the Poller over several sockets reports the ready ones; timeout, Timeout and kill end its wait', async () => {
  const [a, pa] = pair(zmq.PULL, zmq.PUSH, 'inproc');
  const [b, pb] = pair(zmq.PULL, zmq.PUSH, 'inproc');
  const [c, pc] = pair(zmq.PULL, zmq.PUSH, 'inproc');
  const poller = new zmq.Poller();
  for (const s of [a, b, c]) poller.register(s, zmq.POLLIN);
  assert.equal(await poller.poll(0), [], 'nothing yet: 0 only looks');
  const t0 = performance.now();
  assert.equal(await poller.poll(30), []);
  assert.ok(performance.now() - t0 >= 25, 'waited the timeout (ms)');
  const waiting = spawn(() => poller.poll());
  await settle();
  assert.is(waiting.dead, false);
  await pb.send('to b');
  assert.equal(await waiting.wait(), [[b, zmq.POLLIN]]);
  await pa.send('to a');
  await pc.send('to c');
  await settle();
  assert.equal(await poller.poll(), [[a, zmq.POLLIN], [b, zmq.POLLIN], [c, zmq.POLLIN]]);
  for (const s of [a, b, c]) await s.recv();
  // POLLOUT: a PUSH with a peer can send
  poller.register(pa, zmq.POLLOUT);
  assert.equal(await poller.poll(0), [[pa, zmq.POLLOUT]]);
  poller.unregister(pa);
  assert.instance(await rejection((async () => {
    using _t = new Timeout(0.02);
    return await poller.poll();
  })()), Timeout);
  const killed = spawn(() => poller.poll());
  await settle();
  killed.kill();
  assert.is(await killed.wait(), undefined, "killed: GreenletExit ends it quietly");
  assert.ok(killed.dead);
  await settle();
  assert.is(getHub().counts().listeners, 0, 'no fd left watched');
  closeAll(a, pa, b, pb, c, pc);
});

// ---- contexts -------------------------------------------------------------------------

test('term() waits for the sockets to close; destroy() closes them; a terminated context makes none', async () => {
  ownContexts = true;
  const own = new zmq.Context();
  const s = own.socket(zmq.PAIR);
  const ending = spawn(() => own.term());
  await settle();
  assert.is(ending.dead, false, 'term waits for the open socket');
  s.close();
  await ending.wait();
  assert.throws(() => own.socket(zmq.PAIR), (e: unknown) => e instanceof zmq.ContextTerminated);
  const other = new zmq.Context();
  const x = other.socket(zmq.PUSH);
  const y = other.socket(zmq.PULL);
  other.destroy(0);
  assert.ok(x.closed && y.closed && other.closed);
  assert.is(other.socketCount, 0);
  assert.is(zmq.Context.instance(), zmq.Context.instance(), 'one shared context');
});

// ---- against zeromq.js itself ---------------------------------------------------------

test("zeromq.js's own sockets, its async API in plain Node, and evy's exchange the same messages and frames", async () => {
  ownContexts = true; // zeromq.js's own context starts threads of its own
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const stock = require('zeromq') as typeof import('zeromq');
  const sent = Array.from({ length: 200 }, (_, i) => (i % 3 === 0 ? [`m${i}`, Buffer.from([i & 255, 0, 255])] : [`m${i}`]));
  const frames = (m: (string | Buffer)[]) => m.map((f) => Buffer.from(f).toString('hex'));

  // zeromq.js PUSH -> evy PULL: every message, multipart ones as their frames, in order
  const spush = new stock.Push();
  const pull = ctx.socket(zmq.PULL);
  spush.connect(`tcp://127.0.0.1:${pull.bindToRandomPort('tcp://127.0.0.1')}`);
  const sending = (async () => {
    for (const m of sent) await spush.send(m);
  })();
  for (const m of sent) assert.equal(frames(await pull.recvMultipart()), frames(m));
  await sending;

  // evy PUSH -> zeromq.js PULL
  const spull = new stock.Pull();
  const push = ctx.socket(zmq.PUSH);
  await spull.bind('tcp://127.0.0.1:*');
  push.connect(spull.lastEndpoint!);
  const got: string[][] = [];
  const receiving = (async () => {
    for (let i = 0; i < sent.length; i++) got.push(frames(await spull.receive()));
  })();
  for (const m of sent) await push.sendMultipart(m);
  await receiving;
  assert.equal(got, sent.map(frames));

  // evy REQ <-> zeromq.js REP: the envelope each side adds is the other's to strip
  const srep = new stock.Reply();
  const req = ctx.socket(zmq.REQ);
  await srep.bind('tcp://127.0.0.1:*');
  req.connect(srep.lastEndpoint!);
  const answering = (async () => {
    for (let i = 0; i < 20; i++) {
      const [q] = await srep.receive();
      await srep.send(['re', q]);
    }
  })();
  for (let i = 0; i < 20; i++) {
    await req.send(`q${i}`);
    assert.equal((await req.recvMultipart()).map(String), ['re', `q${i}`]);
  }
  await answering;
  for (const s of [spush, spull, srep]) s.close();
  closeAll(pull, push, req);
});

test("monkeyPatch({ zmq: true }) and `--patch zmq` choose it; the default set leaves it out (it rests on an optional package)", () => {
  assert.not.ok(selectModules().includes('zmq'));
  assert.not.ok(isMonkeyPatched('zmq'));
  assert.equal(monkeyPatch({ zmq: true }), ['zmq']);
  assert.ok(isMonkeyPatched('zmq') && isMonkeyPatched('evy/patched/zmq'));
  assert.ok(selectModules({ all: true, zmq: true }).includes('zmq'));
});

test('without the zeromq package, importing evy/patched/zmq says what to install', () => {
  // A preload that makes `zeromq` unresolvable, as on an install without optional dependencies.
  const hide = "const M=require('module');const r=M._resolveFilename;M._resolveFilename=function(q,...a){if(q==='zeromq'){const e=new Error(\"Cannot find module 'zeromq'\");e.code='MODULE_NOT_FOUND';throw e}return r.call(this,q,...a)}";
  let out = '';
  try {
    execFileSync(process.execPath, ['-e', `${hide};require(${JSON.stringify(join(__dirname, '..', '..', 'dist', 'patched', 'zmq.js'))})`], { stdio: 'pipe' });
  } catch (err) {
    out = String((err as { stderr: Buffer }).stderr);
  }
  assert.match(out, /evy\/patched\/zmq needs the zeromq package \(an optional dependency of evy\), which is not installed: run `npm install zeromq`/);
});

test.run();
