// evy/db_pool against pg-pool (node-postgres's own pool), same server, same
// run: 50 green threads (evy) and 50 async loops (pg-pool) over a pool of 10,
// on `SELECT 1` and on a pgbench-style indexed read (SELECT abalance FROM
// pgbench_accounts WHERE aid = $1, 100,000 rows). Three rounds in alternating
// order, the best of each; prints queries/s and evy/pg-pool.
//   ./bin/evy run bench/db_pool.ts
import pg from 'pg';
import { spawn } from 'evy';
import { ConnectionPool, pgDriver } from 'evy/db_pool';
import { startPostgres } from '../tests/fixtures/postgres';

const CLIENTS = 50;
const POOL = 10;
const QUERIES = 20_000;
const ROWS = 100_000;

const server = await startPostgres(new URL('..', import.meta.url).pathname);
const config = { host: server.host, port: server.port, user: server.user, database: 'postgres' };
const evyPool = new ConnectionPool(pgDriver(), config, { maxSize: POOL, maxIdle: 600, maxAge: 3600 });
const pgPool = new pg.Pool({ ...config, max: POOL });
pgPool.on('error', () => {}); // the server's shutdown at the end reaches its idle clients

await evyPool.item(async (c) => {
  await c.query('CREATE TABLE pgbench_accounts (aid int PRIMARY KEY, bid int, abalance int, filler char(84))');
  await c.query(`INSERT INTO pgbench_accounts SELECT i, 1, 0, '' FROM generate_series(1, ${ROWS}) i`);
  await c.query('VACUUM ANALYZE pgbench_accounts');
});

type Q = [string, () => unknown[] | undefined];
const select1: Q = ['SELECT 1', () => undefined];
const indexed: Q = ['SELECT abalance FROM pgbench_accounts WHERE aid = $1', () => [1 + Math.floor(Math.random() * ROWS)]];

async function evyRate([sql, params]: Q): Promise<number> {
  let left = QUERIES;
  const t0 = process.hrtime.bigint();
  const gts = Array.from({ length: CLIENTS }, () =>
    spawn(async () => {
      while (left-- > 0) await evyPool.item((c) => c.query(sql, params()));
    }),
  );
  for (const g of gts) await g.wait();
  return QUERIES / (Number(process.hrtime.bigint() - t0) / 1e9);
}

async function pgRate([sql, params]: Q): Promise<number> {
  let left = QUERIES;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (left-- > 0) await pgPool.query(sql, params());
    }),
  );
  return QUERIES / (Number(process.hrtime.bigint() - t0) / 1e9);
}

console.log(`db_pool: ${CLIENTS} clients over a pool of ${POOL}, PostgreSQL on 127.0.0.1, node ${process.version} (noisy while other jobs share the machine)`);
for (const [label, q] of [['SELECT 1', select1], ['indexed read', indexed]] as const) {
  await evyRate(q);
  await pgRate(q); // warm both
  let e = 0;
  let p = 0;
  for (const evyFirst of [true, false, true]) {
    const runs = [async () => (e = Math.max(e, await evyRate(q))), async () => (p = Math.max(p, await pgRate(q)))];
    if (!evyFirst) runs.reverse();
    for (const r of runs) await r();
  }
  console.log(`${label.padEnd(14)} evy ${e.toFixed(0).padStart(6)} q/s  pg-pool ${p.toFixed(0).padStart(6)} q/s  evy/pg-pool = ${(e / p).toFixed(2)}`);
}
evyPool.close();
await pgPool.end();
await server.stop();
