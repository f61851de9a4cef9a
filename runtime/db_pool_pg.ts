// The node-postgres adapter of evy/db_pool. pg talks to the server over a
// Node socket, which never blocks the loop; what db_pool adds is that every
// wait on it is an evy operation, and that an interrupted query is cancelled
// on the server with PostgreSQL's own cancel request (a second connection
// carrying the backend's pid and secret key), so the connection comes back clean.
import { connect as netConnect } from 'node:net';
import type { Driver, QueryResult } from './db_pool';

/** pg's client configuration (the fields db_pool relies on; pg takes more). */
export interface PgConnectArgs {
  host?: string;
  port?: number;
  database?: string;
  user?: string;
  password?: string;
  /** any other pg.ClientConfig field */
  [option: string]: unknown;
}

/** The part of a pg.Client that db_pool uses. */
export interface PgClient {
  connect(): Promise<void>;
  query(sql: string, params?: readonly unknown[]): Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }>;
  end(): Promise<void>;
  on(event: 'error' | 'end', fn: (...a: unknown[]) => void): unknown;
  getTransactionStatus?(): string | null;
  readonly processID: number | null;
  readonly secretKey: number | null;
  readonly host: string;
  readonly port: number;
  readonly connection: { stream: { destroy(): void } };
}

interface PgModule {
  Client: new (config: PgConnectArgs) => PgClient;
}

const dead = new WeakSet<PgClient>();

/** Sends PostgreSQL's CancelRequest for the backend behind `c`; resolves once the server closed it. */
function cancelRequest(c: PgClient): Promise<void> {
  return new Promise((resolve, reject) => {
    if (c.processID === null || c.secretKey === null) {
      resolve();
      return;
    }
    const msg = Buffer.alloc(16);
    msg.writeInt32BE(16, 0);
    msg.writeInt32BE(80877102, 4); // the cancel request code
    msg.writeInt32BE(c.processID, 8);
    msg.writeInt32BE(c.secretKey, 12);
    const s = c.host.startsWith('/') ? netConnect(`${c.host}/.s.PGSQL.${c.port}`) : netConnect(c.port, c.host);
    s.setTimeout(5000, () => s.destroy(new Error('db_pool: the PostgreSQL cancel request timed out')));
    s.once('connect', () => s.end(msg));
    s.once('error', reject);
    s.once('close', () => resolve());
    s.resume();
  });
}

/**
 * The node-postgres driver (`npm install pg`: you bring pg). Pass pg itself
 * if it is not resolvable from evy (a bundler, a workspace).
 * @throws Error naming `npm install pg` when pg cannot be loaded
 */
export function pgDriver(pg?: PgModule): Driver<PgClient, PgConnectArgs> {
  let mod = pg ?? null;
  const load = (): PgModule => {
    if (mod === null) {
      try {
        mod = require('pg') as PgModule;
      } catch (err) {
        throw new Error(`db_pool: pgDriver() needs node-postgres: npm install pg (${(err as Error).message})`);
      }
    }
    return mod;
  };
  return {
    name: 'pg',
    async connect(args, signal) {
      const c = new (load().Client)(args);
      c.on('error', () => dead.add(c));
      c.on('end', () => dead.add(c));
      const onAbort = (): void => {
        dead.add(c);
        c.connection.stream.destroy();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        await c.connect();
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
      return c;
    },
    async close(c) {
      if (dead.has(c)) {
        c.connection.stream.destroy();
        return;
      }
      dead.add(c);
      await c.end().catch(() => c.connection.stream.destroy());
    },
    // pg's own Result is a QueryResult already (rows, rowCount): no copy per query.
    query: (c, sql, params) => c.query(sql, params) as Promise<QueryResult>,
    cancel: (c) => cancelRequest(c),
    inTransaction: (c) => {
      const s = c.getTransactionStatus?.() ?? 'I';
      return s === 'T' || s === 'E';
    },
    async rollback(c) {
      await c.query('ROLLBACK');
    },
    alive: (c) => !dead.has(c),
    async ping(c) {
      await c.query('SELECT 1');
    },
  };
}
