// evy/db_pool: Evy's db_pool. Pooled database connections whose every wait
// (checkout, connect, query, cleanup) is an evy operation, with HikariCP's
// checks on top: validation at checkout, max lifetime, idle timeout,
// connection timeout and leak detection. A driver adapter (db_pool_pg.ts for
// node-postgres, db_pool_sqlite.ts for better-sqlite3 through a tpool proxy)
// plays the role of Evy's DB-API module.
import { GreenletExit, wait } from './green/greenthread';
import { getHub, type Timer } from './hub/hub';
import { Timeout } from './sync/timeout';
import { checkTimeout, WaitList } from './sync/waitlist';

const hub = getHub();

/** What a query gives back, whatever the driver. */
export interface QueryResult<Row = Record<string, unknown>> {
  rows: Row[];
  /** rows changed (INSERT/UPDATE/DELETE) or returned */
  rowCount: number;
}

/**
 * A database driver as db_pool sees it (Evy's DB-API module). `C` is the
 * driver's own connection, `A` what connect() takes.
 */
export interface Driver<C, A> {
  /** for messages */
  readonly name: string;
  /** Opens a connection. `signal` aborts it (a ConnectTimeout, a kill): the driver drops the half-open socket. */
  connect(args: A, signal: AbortSignal): Promise<C>;
  /** Closes a connection for good; must not throw for one already dead. */
  close(conn: C): Promise<void> | void;
  query(conn: C, sql: string, params?: readonly unknown[]): Promise<QueryResult>;
  /** Asks the server to stop the query running on `conn` (called when a Timeout or kill interrupts it). */
  cancel(conn: C): Promise<void> | void;
  /** Whether `conn` is inside a transaction (or a failed one), once its last query has settled. */
  inTransaction(conn: C): boolean | Promise<boolean>;
  rollback(conn: C): Promise<void>;
  /** False once the driver saw the connection die (the server closed it, a socket error). Cheap. */
  alive(conn: C): boolean;
  /** A round trip proving the connection works (`SELECT 1`). */
  ping(conn: C): Promise<void>;
}

/** Thrown by get() when a new connection could not be made within `connectTimeout`. */
export class ConnectTimeout extends Error {
  constructor(seconds: number, driver: string) {
    super(`db_pool: no ${driver} connection within connectTimeout (${seconds} s)`);
    this.name = 'ConnectTimeout';
  }
}

/** Thrown by a PooledConnection used after put() (or close()). */
export class ConnectionReturned extends Error {
  constructor(what: string) {
    super(`db_pool: ${what} on a connection already put back into its pool; get() a new one`);
    this.name = 'ConnectionReturned';
  }
}

export interface ConnectionPoolOptions {
  /** connections opened up front (default 0) */
  minSize?: number;
  /** most connections open at once (default 4) */
  maxSize?: number;
  /** seconds a free connection may stay idle before it is closed; 0 closes it when put back (default 10) */
  maxIdle?: number;
  /** seconds a connection may live; one put back older than that is closed; 0 closes it when put back (default 30) */
  maxAge?: number;
  /** seconds get() may spend opening a connection before it throws ConnectTimeout (default 5; null: no limit) */
  connectTimeout?: number | null;
  /** a free connection idle longer than this many seconds is pinged at checkout (default 0.5, HikariCP's) */
  validateAfter?: number;
  /** report a connection held longer than this many seconds, with the taker's stack (default null: off) */
  leakDetection?: number | null;
  /** what reports a leak (default: a message on stderr) */
  onLeak?: (report: LeakReport) => void;
}

/** A connection held past `leakDetection`. */
export interface LeakReport {
  /** seconds it has been held */
  held: number;
  /** the stack of the get() that took it */
  stack: string;
}

interface Entry<C> {
  conn: C;
  created: number;
  lastUsed: number;
}

function now(): number {
  return performance.now() / 1000;
}

function seconds(v: unknown, what: string, nullable: boolean): number | null {
  if (v === null && nullable) return null;
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0) throw new RangeError(`ConnectionPool ${what} must be a number of seconds ≥ 0${nullable ? ' or null' : ''}, got ${String(v)}`);
  return v;
}

function count(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new RangeError(`ConnectionPool ${what} must be a non-negative integer, got ${String(v)}`);
  return v;
}

/**
 * A connection handed out by a ConnectionPool. Its queries are evy
 * operations: a Timeout or kill interrupts the wait and cancels the query on
 * the server. After put() it is unusable (ConnectionReturned).
 */
export class PooledConnection<C> {
  /** @internal */
  entry: Entry<C> | null;
  /** @internal the query in flight, if any */
  inflight: Promise<unknown> | null = null;
  /** @internal */
  leakTimer: Timer | null = null;
  private readonly pool: ConnectionPool<C, unknown>;

  /** @internal */
  constructor(pool: ConnectionPool<C, unknown>, entry: Entry<C>) {
    this.pool = pool;
    this.entry = entry;
  }

  /** The driver's own connection (a pg Client, a better-sqlite3 proxy), for what the adapter does not cover. */
  get raw(): C {
    if (this.entry === null) throw new ConnectionReturned('raw');
    return this.entry.conn;
  }

  /** False once put back or closed. */
  get usable(): boolean {
    return this.entry !== null;
  }

  /**
   * Runs one query. Interrupted by a Timeout or kill, it asks the server to
   * cancel the statement; the connection then goes back clean (or is discarded) on put().
   * @throws ConnectionReturned after put(); the driver's error when the query fails
   */
  async query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>> {
    const e = this.entry;
    if (e === null) throw new ConnectionReturned(`query(${JSON.stringify(sql.slice(0, 40))})`);
    const driver = this.pool.driver;
    const p = driver.query(e.conn, sql, params);
    let settled = false;
    const done = p.then(
      () => (settled = true),
      () => (settled = true),
    );
    this.inflight = done;
    try {
      return (await wait(p)) as QueryResult<Row>;
    } catch (err) {
      if (!settled) {
        // Interrupted: stop it on the server; put() waits for it to settle.
        try {
          await driver.cancel(e.conn);
        } catch {
          // the connection is discarded on put if the cancel could not be sent
        }
      }
      throw err;
    } finally {
      if (this.inflight === done && settled) this.inflight = null;
    }
  }

  /** Puts the connection back into its pool (same as pool.put(this)). */
  release(): void {
    this.pool.put(this);
  }

  /** Closes the connection instead of putting it back; its place in the pool is freed. */
  close(): void {
    this.pool.discard(this);
  }
}

/**
 * Evy's ConnectionPool: up to `maxSize` connections made by `driver` from
 * `connectArgs`, handed out by get() and returned by put(). A connection is
 * never handed out dead (a driver-detected death or a failed ping at
 * checkout replaces it), never handed out twice, and comes back clean (an
 * open transaction is rolled back, an interrupted query cancelled).
 *
 * @example
 * ```ts
 * import { ConnectionPool } from 'evy/db_pool';
 * import { pgDriver } from 'evy/db_pool';
 * const pool = new ConnectionPool(pgDriver(), { host: '127.0.0.1', database: 'app' }, { maxSize: 10 });
 * const { rows } = await pool.item((c) => c.query('SELECT now() AS t'));
 * ```
 */
export class ConnectionPool<C, A> {
  readonly driver: Driver<C, A>;
  readonly connectArgs: A;
  readonly minSize: number;
  maxSize: number;
  readonly maxIdle: number;
  readonly maxAge: number;
  readonly connectTimeout: number | null;
  readonly validateAfter: number;
  readonly leakDetection: number | null;
  /** connections open or being opened, free or handed out */
  currentSize = 0;
  private readonly freeItems: Entry<C>[] = [];
  private readonly waiters = new WaitList<Entry<C>>();
  private readonly onLeak: (r: LeakReport) => void;
  private reaper: Timer | null = null;
  private closed = false;

  constructor(driver: Driver<C, A>, connectArgs: A, opts: ConnectionPoolOptions = {}) {
    if (driver === null || typeof driver !== 'object' || typeof driver.connect !== 'function') throw new TypeError('ConnectionPool: driver must be a db_pool Driver (pgDriver(), sqliteDriver(), or your own)');
    this.driver = driver;
    this.connectArgs = connectArgs;
    this.minSize = count(opts.minSize ?? 0, 'minSize');
    this.maxSize = count(opts.maxSize ?? 4, 'maxSize');
    if (this.minSize > this.maxSize) throw new RangeError(`ConnectionPool minSize (${this.minSize}) is above maxSize (${this.maxSize})`);
    this.maxIdle = seconds(opts.maxIdle ?? 10, 'maxIdle', false)!;
    this.maxAge = seconds(opts.maxAge ?? 30, 'maxAge', false)!;
    this.connectTimeout = seconds(opts.connectTimeout === undefined ? 5 : opts.connectTimeout, 'connectTimeout', true);
    this.validateAfter = seconds(opts.validateAfter ?? 0.5, 'validateAfter', false)!;
    this.leakDetection = seconds(opts.leakDetection ?? null, 'leakDetection', true);
    this.onLeak = opts.onLeak ?? ((r) => process.stderr.write(`evy.db_pool: a ${driver.name} connection has been held for ${r.held.toFixed(1)} s without put(); taken at:\n${r.stack}\n`));
    for (let i = 0; i < this.minSize; i++) {
      this.currentSize++;
      this.opened().then(
        (e) => this.release(e),
        () => this.currentSize--,
      );
    }
  }

  /** Connections get() can hand out without waiting: free ones plus ones it may still open. */
  free(): number {
    return this.freeItems.length + Math.max(0, this.maxSize - this.currentSize);
  }

  /** Green threads waiting in get(). */
  waiting(): number {
    return this.waiters.length;
  }

  /**
   * A connection: a free one (checked: alive, young enough, pinged if idle a
   * while), a new one if the pool is below maxSize, or else the next one put back.
   * @param timeout seconds to wait for a put() when all are in use (default: forever)
   * @throws ConnectTimeout when opening a connection takes longer than connectTimeout; Error when `timeout` expires
   */
  async get(timeout?: number | null): Promise<PooledConnection<C>> {
    const secs = checkTimeout(timeout, 'ConnectionPool.get');
    if (this.closed) throw new Error('ConnectionPool.get: the pool was cleared for good (close())');
    const stack = this.leakDetection !== null ? new Error('taken here').stack!.replace(/^Error: taken here\n/, '') : '';
    for (;;) {
      const pending = hub.check();
      if (pending !== null) return pending;
      const e = this.freeItems.pop();
      if (e !== undefined) {
        const ok = this.checkOut(e);
        if (ok === true || (ok !== false && (await ok))) return this.handOut(e, stack);
        continue;
      }
      if (this.currentSize < this.maxSize) {
        this.currentSize++;
        let made: Entry<C>;
        try {
          made = await this.opened();
        } catch (err) {
          this.currentSize--;
          this.refill();
          throw err;
        }
        return this.handOut(made, stack);
      }
      const got = await this.waiters.wait(secs, {
        error: () => new Error(`ConnectionPool.get() timed out after ${secs} seconds: all ${this.maxSize} connections in use`),
      });
      return this.handOut(got, stack);
    }
  }

  /** Takes a free connection out: false (and it is closed) if it is dead, too old or fails its ping. */
  private checkOut(e: Entry<C>): boolean | Promise<boolean> {
    const t = now();
    if (!this.driver.alive(e.conn) || t - e.created >= this.maxAge || t - e.lastUsed >= this.maxIdle) {
      this.drop(e);
      return false;
    }
    // Used a moment ago: no round trip (HikariCP's bypass window).
    return t - e.lastUsed < this.validateAfter || this.validate(e);
  }

  /** A ping, bounded by connectTimeout: false (and it is closed) if it fails. */
  private async validate(e: Entry<C>): Promise<boolean> {
    try {
      await wait(this.bounded(this.driver.ping(e.conn)));
    } catch (err) {
      this.drop(e);
      if (err instanceof Timeout || err instanceof GreenletExit) throw err;
      return false;
    }
    return true;
  }

  private bounded<T>(p: Promise<T>): Promise<T> {
    if (this.connectTimeout === null) return p;
    return Promise.race([p, new Promise<never>((_r, rej) => setTimeout(() => rej(new Error('ping timed out')), this.connectTimeout! * 1000).unref())]);
  }

  /** Opens a connection, within connectTimeout. */
  private async opened(): Promise<Entry<C>> {
    const ac = new AbortController();
    const p = this.driver.connect(this.connectArgs, ac.signal);
    let settled = false;
    p.then(
      (c) => {
        settled = true;
        // Interrupted before it was made: close it when it is.
        if (ac.signal.aborted) void this.driver.close(c);
      },
      () => (settled = true),
    );
    const t = this.connectTimeout === null ? null : new Timeout(this.connectTimeout, new ConnectTimeout(this.connectTimeout, this.driver.name));
    try {
      const conn = await wait(p);
      const at = now();
      return { conn, created: at, lastUsed: at };
    } catch (err) {
      if (!settled) ac.abort();
      throw err;
    } finally {
      t?.cancel();
    }
  }

  private handOut(e: Entry<C>, stack: string): PooledConnection<C> {
    const pc = new PooledConnection<C>(this as ConnectionPool<C, unknown>, e);
    if (this.leakDetection !== null) {
      const since = now();
      pc.leakTimer = hub.scheduleCallGlobal(this.leakDetection, () => {
        pc.leakTimer = null;
        if (pc.entry !== null) this.onLeak({ held: now() - since, stack });
      });
    }
    return pc;
  }

  /**
   * Returns a connection. The wrapper becomes unusable at once; the
   * connection itself rejoins the pool once clean: a query still running is
   * awaited (it was cancelled), an open transaction rolled back. One that is
   * dead, older than maxAge, or in a pool with maxIdle or maxAge 0 is closed.
   * @throws TypeError for something that is not this pool's connection; ConnectionReturned for a second put
   */
  put(pc: PooledConnection<C>): void {
    const e = this.takeBack(pc, 'put()');
    const inflight = pc.inflight;
    pc.inflight = null;
    if (inflight === null && this.driver.alive(e.conn)) {
      // The common case, decided at once: nothing running, no transaction open.
      const tx = this.driver.inTransaction(e.conn);
      if (tx === false) {
        this.release(e);
        return;
      }
    }
    void this.cleaned(e, inflight).then(
      (ok) => (ok ? this.release(e) : this.drop(e)),
      () => this.drop(e),
    );
  }

  /** @internal close() of a PooledConnection: the connection is closed, its place freed. */
  discard(pc: PooledConnection<C>): void {
    this.drop(this.takeBack(pc, 'close()'));
  }

  private takeBack(pc: PooledConnection<C>, what: string): Entry<C> {
    if (!(pc instanceof PooledConnection) || (pc as unknown as { pool: unknown }).pool !== this) throw new TypeError(`ConnectionPool.${what}: not a connection of this pool`);
    const e = pc.entry;
    if (e === null) throw new ConnectionReturned(what);
    pc.entry = null;
    if (pc.leakTimer !== null) {
      pc.leakTimer.cancel();
      pc.leakTimer = null;
    }
    return e;
  }

  /** Whether a returned connection is fit to reuse; a transaction left open is rolled back first. */
  private async cleaned(e: Entry<C>, inflight: Promise<unknown> | null): Promise<boolean> {
    if (inflight !== null) await inflight;
    if (!this.driver.alive(e.conn)) return false;
    if (await this.driver.inTransaction(e.conn)) {
      await this.driver.rollback(e.conn);
      return !(await this.driver.inTransaction(e.conn));
    }
    return true;
  }

  /** A clean connection: to the longest waiter, to the free list, or closed if its time is up. */
  private release(e: Entry<C>): void {
    const t = now();
    if (this.closed || this.maxIdle === 0 || this.maxAge === 0 || t - e.created >= this.maxAge || this.currentSize > this.maxSize || !this.driver.alive(e.conn)) {
      this.drop(e);
      return;
    }
    e.lastUsed = t;
    if (this.waiters.wakeOne(e, this.giveBack)) return;
    this.freeItems.push(e);
    this.armReaper();
  }

  /** A connection handed to a getter that a throw reached first. */
  private readonly giveBack = (e: Entry<C>): void => {
    if (!this.waiters.wakeOne(e, this.giveBack)) {
      this.freeItems.push(e);
      this.armReaper();
    }
  };

  /** Closes a connection and frees its place (a waiter then gets a new one). */
  private drop(e: Entry<C>): void {
    this.currentSize--;
    try {
      void Promise.resolve(this.driver.close(e.conn)).catch(() => {});
    } catch {
      // already dead
    }
    this.refill();
  }

  /** Opens connections for waiters that a dropped one left without. */
  private refill(): void {
    while (!this.closed && this.waiters.length > 0 && this.currentSize < this.maxSize) {
      this.currentSize++;
      this.opened().then(
        (e) => this.release(e),
        (err: unknown) => {
          this.currentSize--;
          // Nothing will come: the first waiter learns why.
          const w = this.waiters.peek();
          if (w !== null) {
            this.waiters.unlink(w);
            hub.throwInto(w, err);
          }
        },
      );
    }
  }

  /** The idle timer: closes free connections idle past maxIdle or older than maxAge. */
  private armReaper(): void {
    if (this.reaper !== null || this.freeItems.length === 0) return;
    let due = Infinity;
    for (const e of this.freeItems) due = Math.min(due, e.lastUsed + this.maxIdle, e.created + this.maxAge);
    this.reaper = hub.scheduleCallGlobal(Math.max(0, due - now()) + 0.001, () => {
      this.reaper = null;
      const t = now();
      for (let i = this.freeItems.length - 1; i >= 0; i--) {
        const e = this.freeItems[i]!;
        if (t - e.lastUsed >= this.maxIdle || t - e.created >= this.maxAge) {
          this.freeItems.splice(i, 1);
          this.drop(e);
        }
      }
      this.armReaper();
    });
  }

  /** Closes every free connection (handed-out ones are closed when put back only if the pool was closed). */
  clear(): void {
    const items = this.freeItems.splice(0);
    for (const e of items) this.drop(e);
    if (this.reaper !== null) {
      this.reaper.cancel();
      this.reaper = null;
    }
  }

  /** clear(), and for good: connections put back later are closed, get() throws. */
  close(): void {
    this.closed = true;
    this.clear();
    this.waiters.throwAll(new Error('ConnectionPool: the pool was closed while this get() waited'));
  }

  /** get(), run `fn(conn)`, put() it back — whatever `fn` does. */
  async item<R>(fn: (conn: PooledConnection<C>) => R | PromiseLike<R>): Promise<R> {
    const c = await this.get();
    try {
      return await fn(c);
    } finally {
      this.put(c);
    }
  }
}

/** Evy's DatabaseConnector: the credentials of each host, and one pool per (host, database). */
export interface DatabaseConnectorOptions<A> extends ConnectionPoolOptions {
  /** builds a pool's connectArgs (default: the host's credentials plus `{ host, database }`) */
  connectArgs?: (host: string, database: string, credentials: Partial<A>) => A;
}

/**
 * One ConnectionPool per (host, database), made on first use from the
 * host's entry in `credentials`, or its `default` entry for hosts not listed.
 *
 * @example
 * ```ts
 * const dc = new DatabaseConnector(pgDriver(), { default: { user: 'app' }, 'db2.internal': { user: 'ro', password: 's' } });
 * const pool = dc.get('127.0.0.1', 'orders');
 * ```
 */
export class DatabaseConnector<C, A> {
  readonly driver: Driver<C, A>;
  private readonly credentials: Record<string, Partial<A>>;
  private readonly opts: DatabaseConnectorOptions<A>;
  private readonly pools = new Map<string, ConnectionPool<C, A>>();

  constructor(driver: Driver<C, A>, credentials: Record<string, Partial<A>>, opts: DatabaseConnectorOptions<A> = {}) {
    if (credentials === null || typeof credentials !== 'object') throw new TypeError('DatabaseConnector: credentials must be an object of host → connect arguments (with an optional default)');
    this.driver = driver;
    this.credentials = credentials;
    this.opts = opts;
  }

  /**
   * The pool for `database` on `host`.
   * @throws Error when `host` is not in the credentials and there is no `default` entry
   */
  get(host: string, database: string): ConnectionPool<C, A> {
    const key = `${host}\0${database}`;
    let pool = this.pools.get(key);
    if (pool === undefined) {
      const creds = Object.prototype.hasOwnProperty.call(this.credentials, host) ? this.credentials[host]! : this.credentials.default;
      if (creds === undefined) throw new Error(`DatabaseConnector: no credentials for host ${JSON.stringify(host)} and no default entry`);
      const args = this.opts.connectArgs ? this.opts.connectArgs(host, database, creds) : ({ ...creds, host, database } as A);
      pool = new ConnectionPool(this.driver, args, this.opts);
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** clear() of every pool made so far. */
  clear(): void {
    for (const p of this.pools.values()) p.clear();
  }
}

export { pgDriver, type PgConnectArgs } from './db_pool_pg';
export { sqliteDriver, type SqliteConnectArgs } from './db_pool_sqlite';
