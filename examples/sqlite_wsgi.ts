// A WSGI app answering from SQLite while other requests keep flowing.
// better-sqlite3 is synchronous: each connection of the pool is a Database
// living in a tpool worker (a proxy), so a slow query blocks only the green
// thread that asked, and the rest of the server goes on.
//   npx evy run examples/sqlite_wsgi.ts [port]
//   curl 127.0.0.1:8091/word/7      an indexed read
//   curl 127.0.0.1:8091/slow/3000000 a long recursive query (about a second)
//   curl 127.0.0.1:8091/ping        no database at all
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listen } from 'evy';
import { ConnectionPool, sqliteDriver } from 'evy/db_pool';
import { server, type Environ, type StartResponse } from 'evy/web/wsgi';

const dir = mkdtempSync(join(tmpdir(), 'evy-sqlite-wsgi-'));
const db = new ConnectionPool(sqliteDriver(), { filename: join(dir, 'words.db') }, { maxSize: 4, maxIdle: 60, maxAge: 3600 });
await db.item(async (c) => {
  await c.query('PRAGMA journal_mode = WAL');
  await c.query('CREATE TABLE words (id INTEGER PRIMARY KEY, word TEXT NOT NULL)');
  await c.query("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000) INSERT INTO words SELECT i, 'word-' || i FROM n");
});

async function app(environ: Environ, startResponse: StartResponse): Promise<string[]> {
  const path = String(environ.PATH_INFO);
  let m: RegExpMatchArray | null;
  let body: unknown;
  if (path === '/ping') body = { pong: true };
  else if ((m = path.match(/^\/word\/(\d+)$/))) body = (await db.item((c) => c.query('SELECT word FROM words WHERE id = ?', [Number(m![1])]))).rows[0] ?? null;
  else if ((m = path.match(/^\/slow\/(\d+)$/))) {
    const sql = 'WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) SELECT count(*) AS n FROM n';
    body = (await db.item((c) => c.query(sql, [Number(m![1])]))).rows[0];
  } else {
    startResponse('404 Not Found', [['Content-Type', 'text/plain']]);
    return ['try /ping, /word/7 or /slow/3000000\n'];
  }
  startResponse('200 OK', [['Content-Type', 'application/json']]);
  return [JSON.stringify(body) + '\n'];
}

const sock = listen(['127.0.0.1', Number(process.argv[2] ?? 8091)]);
console.log(`listening on http://127.0.0.1:${(sock.getsockname() as [string, number])[1]}/`);
process.once('SIGTERM', () => {
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
});
await server(sock, app);
