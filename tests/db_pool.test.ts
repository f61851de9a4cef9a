// evy/db_pool against a real PostgreSQL server (a throwaway cluster made by
// tests/fixtures/postgres.ts, installed by tests/setup/postgres.sh), and
// against SQLite through a tpool proxy.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getHub, kill, listen, sleep, spawn, Timeout, withTimeout, type GreenSocket } from 'evy';
import {
  ConnectionPool,
  ConnectionReturned,
  ConnectTimeout,
  DatabaseConnector,
  pgDriver,
  sqliteDriver,
  type ConnectionPoolOptions,
  type LeakReport,
  type PgClient,
  type PgConnectArgs,
} from 'evy/db_pool';
import { killall } from 'evy/tpool';
import { startPostgres, type Postgres } from './fixtures/postgres';
import { openFds, rejection } from './helpers';

let server: Postgres;
let args: PgConnectArgs;
const pools: ConnectionPool<unknown, unknown>[] = [];

function pgPool(opts: ConnectionPoolOptions = {}, extra: PgConnectArgs = {}): ConnectionPool<PgClient, PgConnectArgs> {
  const p = new ConnectionPool(pgDriver(), { ...args, ...extra }, opts);
  pools.push(p as ConnectionPool<unknown, unknown>);
  return p;
}

async function pid(p: ConnectionPool<PgClient, PgConnectArgs>): Promise<number> {
  return p.item(async (c) => (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
}

/** Backends of our test user other than the one asking. */
async function backends(where = ''): Promise<number> {
  const p = pgPool({ maxSize: 1, maxIdle: 0 });
  const r = await p.item((c) => c.query<{ n: string }>(`SELECT count(*) AS n FROM pg_stat_activity WHERE usename = 'evy' AND pid <> pg_backend_pid() ${where}`));
  return Number(r.rows[0]!.n);
}

/** Waits (bounded) until `cond` holds. */
async function until(cond: () => boolean | Promise<boolean>, what: string, seconds = 10): Promise<void> {
  const end = Date.now() + seconds * 1000;
  while (!(await cond())) {
    if (Date.now() > end) assert.unreachable(`never: ${what}`);
    await sleep(0.02);
  }
}

test.before(async () => {
  server = await startPostgres();
  args = { host: server.host, port: server.port, user: server.user, database: 'postgres' };
  const setup = new ConnectionPool(pgDriver(), args, { maxIdle: 0 });
  await setup.item(async (c) => {
    await c.query('CREATE DATABASE db1');
    await c.query('CREATE DATABASE db2');
    await c.query('CREATE TABLE kv (k int PRIMARY KEY, v text)');
  });
});

test.after(async () => {
  for (const p of pools) p.close();
  await killall();
  await server.stop();
});

test('get, query, put, item, free and waiting; a returned wrapper is unusable', async () => {
  const p = pgPool({ maxSize: 2 });
  assert.is(p.free(), 2);
  const a = await p.get();
  assert.equal((await a.query('SELECT $1::int + 1 AS n', [41])).rows, [{ n: 42 }]);
  assert.is(p.free(), 1);
  p.put(a);
  assert.is(a.usable, false);
  const err = await rejection(a.query('SELECT 1'));
  assert.instance(err, ConnectionReturned);
  assert.match((err as Error).message, /already put back into its pool/);
  assert.throws(() => a.raw, /already put back/);
  assert.throws(() => p.put(a), /already put back/);
  assert.throws(() => p.put({} as never), /not a connection of this pool/);
  assert.is(await p.item(async (c) => (await c.query('SELECT 7 AS x')).rows[0]!.x), 7);
  assert.throws(() => new ConnectionPool({} as never, {}), /must be a db_pool Driver/);
  assert.throws(() => new ConnectionPool(pgDriver(), args, { minSize: 3, maxSize: 2 }), /minSize \(3\) is above maxSize \(2\)/);
  assert.throws(() => new ConnectionPool(pgDriver(), args, { maxIdle: -1 }), /maxIdle must be a number of seconds/);
});

test('the concurrency limit: maxSize 5, 50 green threads querying', async () => {
  const p = pgPool({ maxSize: 5 });
  let inUse = 0;
  let most = 0;
  let sawWaiting = 0;
  const gts = Array.from({ length: 50 }, (_, i) =>
    spawn(() =>
      p.item(async (c) => {
        inUse++;
        most = Math.max(most, inUse);
        sawWaiting = Math.max(sawWaiting, p.waiting());
        const r = await c.query<{ i: number }>('SELECT $1::int AS i, pg_sleep(0.01)', [i]);
        inUse--;
        return r.rows[0]!.i;
      }),
    ),
  );
  const got = await Promise.all(gts.map((g) => g.wait()));
  assert.equal(got, Array.from({ length: 50 }, (_, i) => i));
  assert.is(most, 5);
  assert.ok(sawWaiting > 0, 'threads queued in get()');
  assert.is(p.currentSize, 5);
  assert.is(p.waiting(), 0);
});

test('get(timeout) when all are in use; kill while waiting leaves the queue', async () => {
  const p = pgPool({ maxSize: 1 });
  const a = await p.get();
  assert.match(String(await rejection(p.get(0.05))), /timed out after 0.05 seconds: all 1 connections in use/);
  const waiter = spawn(() => p.get());
  await sleep(0.01);
  assert.is(p.waiting(), 1);
  kill(waiter);
  await waiter.wait();
  assert.is(p.waiting(), 0);
  const b = spawn(() => p.get());
  await sleep(0.01);
  p.put(a);
  const got = await b.wait();
  assert.ok(got.usable, 'the next waiter got it');
  p.put(got);
});

test('maxIdle and maxAge: 0 closes on put, an old one is closed on put, the idle timer reaps', async () => {
  const zeroIdle = pgPool({ maxIdle: 0 });
  const p1 = await pid(zeroIdle);
  await until(() => zeroIdle.currentSize === 0, 'maxIdle 0 closed it');
  assert.is.not(await pid(zeroIdle), p1, 'a new connection each time');

  const zeroAge = pgPool({ maxAge: 0 });
  await pid(zeroAge);
  await until(() => zeroAge.currentSize === 0, 'maxAge 0 closed it');

  const aged = pgPool({ maxAge: 0.2, maxIdle: 60 });
  const c = await aged.get();
  const old = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  await sleep(0.3);
  aged.put(c);
  await until(() => aged.currentSize === 0, 'put back past maxAge: closed');
  assert.is.not(await pid(aged), old);

  const idle = pgPool({ maxIdle: 0.15, maxAge: 60 });
  await pid(idle);
  assert.is(idle.currentSize, 1);
  await until(() => idle.currentSize === 0, 'the idle timer closed it');
  assert.is(idle.free(), idle.maxSize);
});

test('connectTimeout against a listener that never answers', async () => {
  const silent = listen(['127.0.0.1', 0]);
  const held: GreenSocket[] = [];
  const acceptor = spawn(async () => {
    for (;;) held.push((await silent.accept())[0]);
  });
  const p = pgPool({ connectTimeout: 0.2 }, { host: '127.0.0.1', port: silent.getsockname()[1] as number });
  const t0 = Date.now();
  const err = await rejection(p.get());
  assert.instance(err, ConnectTimeout);
  assert.match((err as Error).message, /no pg connection within connectTimeout \(0.2 s\)/);
  assert.ok(Date.now() - t0 < 5000);
  assert.is(p.currentSize, 0, 'its place is free again');
  // The half-open connection was dropped: the silent server sees EOF.
  await until(() => held.length === 1, 'the server accepted it');
  // (pg's startup message, then EOF when the ConnectTimeout destroyed the socket)
  await withTimeout(5, async () => {
    while ((await held[0]!.recv(4096)).length > 0);
  });
  kill(acceptor);
  for (const h of held) h.close();
  silent.close();
});

test('a query interrupted by Timeout is cancelled on the server; the connection goes back clean', async () => {
  const p = pgPool({ maxSize: 1 });
  const c = await p.get();
  const before = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const t0 = Date.now();
  assert.instance(await rejection(withTimeout(0.2, () => c.query('SELECT pg_sleep(30)'))), Timeout);
  assert.ok(Date.now() - t0 < 10_000);
  p.put(c);
  await until(async () => (await backends("AND query LIKE 'SELECT pg_sleep(30)%' AND state = 'active'")) === 0, 'the server stopped the query');
  // Same connection, clean: not in a transaction, answering.
  const again = await p.get();
  assert.is((await again.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid, before);
  assert.is(again.raw.getTransactionStatus?.(), 'I');
  p.put(again);
});

test('a connection put back inside a transaction is rolled back; an interrupted one in a transaction too', async () => {
  const p = pgPool({ maxSize: 1 });
  const c = await p.get();
  await c.query('BEGIN');
  await c.query("INSERT INTO kv VALUES (1, 'left open')");
  p.put(c);
  const d = await p.get();
  assert.is(d.raw.getTransactionStatus?.(), 'I');
  assert.equal((await d.query('SELECT * FROM kv WHERE k = 1')).rows, []);
  await d.query('BEGIN');
  await d.query("INSERT INTO kv VALUES (2, 'interrupted')");
  assert.instance(await rejection(withTimeout(0.1, () => d.query('SELECT pg_sleep(30)'))), Timeout);
  p.put(d);
  const e = await p.get();
  assert.equal((await e.query('SELECT * FROM kv')).rows, []);
  p.put(e);
});

test('no leak after 10,000 get/put', async () => {
  const p = pgPool({ maxSize: 3 });
  const cycle = async (): Promise<void> => {
    const c = await p.get();
    await c.query('SELECT 1');
    p.put(c);
  };
  await cycle();
  await sleep(0.05);
  const fds = openFds();
  const timers = getHub().counts().timers;
  for (let i = 0; i < 10_000; i++) {
    const c = await p.get();
    if (i % 1000 === 0) await c.query('SELECT 1');
    p.put(c);
  }
  await sleep(0.05);
  assert.is(p.currentSize, 1, 'get/put one at a time reuses one connection');
  assert.is(p.free(), 3);
  assert.is(openFds(), fds, 'no descriptor left');
  assert.is(getHub().counts().timers, timers, 'no timer left');
});

test('PostgreSQL restarted mid-run: the pool recovers and never hands out a dead connection', async () => {
  const p = pgPool({ maxSize: 5 });
  const held = await Promise.all(Array.from({ length: 5 }, () => p.get()));
  for (const c of held) await c.query('SELECT 1');
  for (const c of held) p.put(c);
  const oldPids = new Set<number>();
  await server.restart();
  const failures: unknown[] = [];
  const gts = Array.from({ length: 20 }, () =>
    spawn(async () => {
      const c = await p.get();
      try {
        oldPids.add((await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
      } catch (err) {
        failures.push(err);
      } finally {
        p.put(c);
      }
    }),
  );
  for (const g of gts) await g.wait();
  assert.equal(failures, [], 'a caller got a dead connection');
  assert.ok(oldPids.size >= 1 && oldPids.size <= 5);
});

test('DatabaseConnector: a pool per (host, database), credentials per host with a default', async () => {
  const dc = new DatabaseConnector(pgDriver(), { default: { port: server.port, user: server.user }, 'nowhere.invalid': { port: 1 } }, { maxSize: 2 });
  const one = dc.get(server.host, 'db1');
  const two = dc.get(server.host, 'db2');
  pools.push(one as ConnectionPool<unknown, unknown>, two as ConnectionPool<unknown, unknown>);
  assert.is(dc.get(server.host, 'db1'), one, 'one pool per (host, database)');
  assert.equal((await one.item((c) => c.query('SELECT current_database() AS d'))).rows, [{ d: 'db1' }]);
  assert.equal((await two.item((c) => c.query('SELECT current_database() AS d'))).rows, [{ d: 'db2' }]);
  const strict = new DatabaseConnector(pgDriver(), { 'db.example': { user: 'x' } });
  assert.throws(() => strict.get('other.example', 'db'), /no credentials for host "other.example" and no default entry/);
  dc.clear();
});

test('leak detection reports a connection held too long, with the stack of its taker', async () => {
  const reports: LeakReport[] = [];
  const p = pgPool({ leakDetection: 0.1, onLeak: (r) => reports.push(r) });
  const quick = await p.get();
  p.put(quick);
  const c = await (async function takerOfTheLeak() {
    return p.get();
  })();
  await until(() => reports.length === 1, 'a leak report');
  assert.match(reports[0]!.stack, /takerOfTheLeak/);
  assert.match(reports[0]!.stack, /db_pool\.test\.ts/);
  assert.ok(reports[0]!.held >= 0.1);
  p.put(c);
  await sleep(0.15);
  assert.is(reports.length, 1, 'the quick one was never reported');
});

test('SQLite through a tpool proxy: a green pool over better-sqlite3', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'evy-sqlite-'));
  try {
    const p = new ConnectionPool(sqliteDriver(), { filename: join(dir, 'db.sqlite') }, { maxSize: 2 });
    await p.item(async (c) => {
      await c.query('CREATE TABLE t (x INTEGER)');
      for (let i = 0; i < 10; i++) await c.query('INSERT INTO t VALUES (?)', [i]);
    });
    const sums = await Promise.all(Array.from({ length: 6 }, () => spawn(() => p.item((c) => c.query('SELECT sum(x) AS s FROM t'))).wait()));
    for (const r of sums) assert.equal(r.rows, [{ s: 45 }]);
    const c = await p.get();
    await c.query('BEGIN');
    await c.query('INSERT INTO t VALUES (100)');
    p.put(c);
    assert.equal((await p.item((d) => d.query('SELECT count(*) AS n FROM t'))).rows, [{ n: 10 }], 'rolled back on put');
    const bad = await rejection(p.item((d) => d.query('SELEKT')));
    assert.match(String(bad), /syntax error/);
    p.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pg under monkeyPatch(): green net underneath, the same results', async () => {
  const { monkeyPatch } = await import('evy');
  monkeyPatch();
  const p = pgPool({ maxSize: 2 });
  const rows = await Promise.all(Array.from({ length: 4 }, (_, i) => spawn(() => p.item((c) => c.query<{ i: number }>('SELECT $1::int AS i', [i]))).wait()));
  assert.equal(
    rows.map((r) => r.rows[0]!.i),
    [0, 1, 2, 3],
  );
});

test.run();
