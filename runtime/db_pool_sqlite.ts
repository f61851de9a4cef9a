// The SQLite adapter of evy/db_pool: better-sqlite3 (synchronous) running in
// a tpool worker through a proxy, so that its queries block only the green
// thread that made them. One connection is one Database object pinned to one
// worker. An interrupted query cannot be stopped (SQLite runs it to its end in
// the worker); the caller's wait ends at once and the result is dropped.
import type { Driver, QueryResult } from './db_pool';
import { proxy, type Remote } from './tpool';

/** What better-sqlite3's Database takes. */
export interface SqliteConnectArgs {
  /** a file path, or ':memory:' */
  filename: string;
  /** better-sqlite3's options (readonly, timeout...) */
  options?: Record<string, unknown>;
}

interface Statement {
  readonly reader: boolean;
  all(...params: unknown[]): Record<string, unknown>[];
  run(...params: unknown[]): { changes: number };
}

/** The part of better-sqlite3's Database that db_pool uses. */
export interface SqliteDatabase {
  prepare(sql: string): Statement;
  exec(sql: string): unknown;
  close(): unknown;
  readonly inTransaction: boolean;
  readonly open: boolean;
}

/** A Database living in a tpool worker. */
export type SqliteConnection = Remote<SqliteDatabase>;

const closed = new WeakSet<object>();

/**
 * The better-sqlite3 driver (`npm install better-sqlite3`: you bring it),
 * each connection a tpool proxy of a Database.
 */
export function sqliteDriver(module = 'better-sqlite3'): Driver<SqliteConnection, SqliteConnectArgs> {
  return {
    name: 'sqlite',
    connect: (args) => proxy<SqliteDatabase>(module, 'default', args.filename, args.options ?? {}),
    async close(db) {
      if (closed.has(db)) return;
      closed.add(db);
      try {
        await db.close();
      } finally {
        db.$release();
      }
    },
    async query(db, sql, params = []): Promise<QueryResult> {
      const st = await db.prepare(sql);
      try {
        if (await st.$get('reader')) {
          const rows = (await st.all(...params)) as Record<string, unknown>[];
          return { rows, rowCount: rows.length };
        }
        const r = (await st.run(...params)) as { changes: number };
        return { rows: [], rowCount: r.changes };
      } finally {
        st.$release();
      }
    },
    cancel: () => {},
    inTransaction: (db) => db.$get('inTransaction') as Promise<boolean>,
    async rollback(db) {
      await db.exec('ROLLBACK');
    },
    alive: (db) => !closed.has(db),
    ping: async () => {},
  };
}
