// evy/tools/backdoor: an interactive prompt inside a running evy process, over
// TCP or a Unix socket, built on Node's own `repl` module.
//
// Each client gets its own REPLServer, with its own context (`evy`, the
// `locals` given, `_`, `require`), and each input runs in its own green thread:
// `await evy.sleep(1)` or `await queue.get()` parks that thread while the
// application keeps serving. A client that goes away in the middle of a
// statement kills that statement's thread, and nothing else.
//
// Two kinds of client speak to it:
// - plain `nc`/`telnet`: line mode, the socket is the REPL's input and output;
// - `evy backdoor`: it opens with a handshake line, then both sides exchange
//   JSON lines (see `Message`): the client edits lines, keeps the history and
//   asks the process for Tab completions; Ctrl-C is an `interrupt` message.
// The server tells them apart by the first bytes: the handshake, or anything
// else (or nothing within HANDSHAKE_WAIT, for an nc user who waits for a prompt).
//
// A backdoor is remote code execution by design: it binds loopback unless
// told otherwise, a Unix socket gets mode 0600, and no input, however broken,
// may crash or stall the process (MAX_LINE bounds what a client may buffer).
import { chmodSync } from 'node:fs';
import * as net from 'node:net';
import type { REPLEval, REPLServer } from 'node:repl';
import { Duplex, PassThrough, Writable } from 'node:stream';
import { inspect, promisify } from 'node:util';
import * as evy from '../index';
import { GreenletExit, spawn, type GreenThread } from '../green/greenthread';
import { getHub } from '../hub/hub';
import { GreenSocket, type Address } from '../io/socket';
import { formatHub, formatThreads, formatWhere, killThread } from './introspect';
import { loadRepl, ReplDomain, replClosed, startRepl } from './quietrepl';

export { threads, type ThreadInfo, type ThreadState } from './introspect';

/** @internal The first line `evy backdoor` sends: the magic, then JSON options. */
export const HANDSHAKE = '\u0000evy-backdoor 1 ';

/** @internal What a protocol client asks for, after the handshake. */
export interface Hello {
  /** colour the output (the client's stdout is a terminal) */
  colors?: boolean;
  /** the client's terminal width */
  columns?: number;
}

/** @internal One JSON line of the protocol, in either direction. */
export type Message =
  | { t: 'line'; d: string }
  | { t: 'complete'; id: number; d: string }
  | { t: 'interrupt' }
  | { t: 'out'; d: string }
  | { t: 'prompt'; p: string; error: boolean }
  | { t: 'completion'; id: number; items: string[]; sub: string };

/** How long a new client has to send the handshake before it is taken for nc (ms). */
const HANDSHAKE_WAIT = 250;
/** The longest line (or protocol message) a client may send: past it, it is dropped. */
const MAX_LINE = 1 << 20;
const PROMPT = 'evy> ';

/** What backdoor() and backdoorServer() return: the server, until close(). */
export interface Backdoor {
  /** The address bound: `[host, port]`, or the socket path. */
  readonly address: Address;
  /** Clients connected now. */
  readonly clients: number;
  /** Stops listening and disconnects every client (their running statements are killed). */
  close(): Promise<void>;
}

/** How backdoor() may bind. */
export interface BackdoorOptions {
  /** Allow a non-loopback address (with a warning): anyone who can connect runs code here. */
  allowRemote?: boolean;
}

const HELP = `evy backdoor: JavaScript in the running process; each input is its own green thread.
  await works at the top level: await evy.sleep(1), await queue.get()
  evy          the evy module; your locals are in scope too; _ is the last value
  .threads     every live green thread: id, name, state, what it is parked on, for how long
  .where ID    the stacks of a thread's spawn and of its park (evy.getHub().threadStacks = true first)
  .kill ID [message]   throw a GreenletExit into a thread
  .hub         the hub's counts, fd listeners and timers
  .help        this text (Node's own commands: .break .clear .editor .exit .load .save)
  Each is a function too: threads(), where(id), kill(id, message), hub(), help().
`;

/** `.help` as a function. */
export function help(): string {
  return HELP;
}

/** `.threads` as a function: the table of live green threads. */
export function threadsText(): string {
  return formatThreads();
}

/** `.where ID` as a function. @throws {RangeError} no live thread has that id. */
export function where(id: number): string {
  return formatWhere(id);
}

/** `.kill ID [message]` as a function. @throws {RangeError} no live thread has that id. */
export function kill(id: number, message?: string): string {
  return killThread(id, message);
}

/** `.hub` as a function. */
export function hub(): string {
  return formatHub();
}

// ---- one client ----

/** The client each backdoor input thread belongs to (where its stray errors are shown). */
const inputs = new WeakMap<object, Client>();

/** The ReplDomain of the backdoor input whose code runs now, if any: where Node files an unhandled rejection. */
function inputDomain(): ReplDomain | null {
  const store = getHub().storage.getStore();
  return store === undefined ? null : (inputs.get(store)?.domain ?? null);
}

class Client {
  readonly repl: REPLServer;
  readonly domain = new ReplDomain();
  /** The green thread running the current statement. */
  running: GreenThread<unknown> | null = null;
  private lastError = false;
  /** Ends the running statement's thread (its eval is over). */
  private finish: (() => void) | null = null;
  /** While the eval callback hands a result to the REPL (its error comes back through the domain). */
  private inCallback = false;
  private closed = false;
  /**
   * Lines not yet given to the REPL. One line goes in at a time, once the
   * previous one is done (the prompt is back): a statement runs in a green
   * thread, so its result comes later, and the REPL must not read the next
   * line before it knows whether this one was complete.
   */
  private lines: string[] = [];
  private ready = true;
  private readonly input: PassThrough;

  constructor(
    private readonly conn: Duplex,
    input: PassThrough,
    output: NodeJS.WritableStream,
    colors: boolean,
    locals: Record<string, unknown>,
    onPrompt: ((p: string, error: boolean) => void) | null,
    readonly onGone: (c: Client) => void,
  ) {
    this.input = input;
    // A protocol client gets its prompts as messages, the first one included.
    if (onPrompt !== null) muted = true;
    const repl = loadRepl();
    let r: REPLServer;
    try {
      r = startRepl(
        {
          input,
          output,
          prompt: PROMPT,
          terminal: false,
          useColors: colors,
          useGlobal: false,
          ignoreUndefined: false,
          preview: false,
        },
        this.domain,
        inputDomain,
      );
    } finally {
      muted = false;
    }
    this.repl = r;
    const fill = (ctx: Record<string, unknown>): void => {
      Object.assign(ctx, { evy, threads: threadsText, where, kill, hub, help }, locals);
      guardTimers(ctx, (err) => this.stray(err));
    };
    fill(r.context as Record<string, unknown>);
    r.on('reset', fill); // .clear makes a new context
    this.defineCommands();
    const evaluate = r.eval;
    const self = this;
    (r as { eval: REPLEval }).eval = function (code, context, file, cb) {
      self.lastError = false;
      const gt = spawn(
        function backdoorInput() {
          return new Promise<void>((resolve) => {
            self.finish = resolve;
            evaluate.call(r, code, context, file, (err: Error | null, result: unknown) => {
              resolve();
              self.finish = null;
              if (self.running === gt) self.running = null;
              self.lastError = err !== null && err !== undefined && !(err instanceof repl.Recoverable);
              if (self.closed) return; // the client is gone: nobody to show it to
              self.inCallback = true;
              try {
                cb(err, result);
              } finally {
                self.inCallback = false;
              }
            });
          });
        },
      ).named('backdoor input');
      inputs.set(gt, self);
      self.running = gt as GreenThread<unknown>;
    };
    const display = r.displayPrompt.bind(r);
    r.displayPrompt = (preserveCursor?: boolean) => {
      if (onPrompt !== null) {
        muted = true;
        try {
          display(preserveCursor);
        } finally {
          muted = false;
        }
        onPrompt(r.getPrompt(), this.lastError);
        this.lastError = false;
      } else {
        display(preserveCursor);
      }
      this.ready = true;
      this.next();
    };
    this.domain.onError = (err) => this.routeError(err);
    r.on('exit', () => this.gone());
    if (onPrompt !== null) onPrompt(r.getPrompt(), false);
  }

  /**
   * Every error the REPL would print passes here first. The REPL's own: the
   * statement's (through the eval callback), or one it reports through the
   * domain while the statement's thread runs (which ends the statement).
   * Anything else is stray: an unhandled rejection from an input's code, a
   * throw in a timer callback an input set.
   */
  private routeError(err: unknown): boolean {
    if (this.inCallback) {
      this.lastError = true;
      return true;
    }
    const store = getHub().storage.getStore();
    if (this.finish !== null && store !== undefined && store === this.running) {
      this.lastError = true;
      const finish = this.finish;
      this.finish = null;
      this.running = null;
      finish();
      return true;
    }
    return this.stray(err);
  }

  /** An error from an input's code, outside its statement: shown to this client, and nothing else happens. */
  stray(err: unknown): boolean {
    if (this.closed) {
      process.stderr.write(`evy backdoor: uncaught, from a disconnected client's code: ${inspect(err)}\n`);
      return false;
    }
    if (this.running === null && this.finish === null && this.ready && this.lines.length === 0) {
      // at the prompt: the REPL prints it, and a new prompt, as Node does
      this.lastError = true;
      if (this.domain.onError === null) return true;
      const route = this.domain.onError;
      this.domain.onError = null;
      try {
        this.domain.emit('error', err);
      } finally {
        this.domain.onError = route;
      }
      return false;
    }
    // a statement runs: its prompt comes when it ends
    this.repl.output.write(`Uncaught ${this.repl.writer(err)}\n`);
    return false;
  }

  private defineCommands(): void {
    const r = this.repl;
    const cmd = (name: string, help: string, run: (arg: string) => string): void => {
      r.defineCommand(name, {
        help,
        action(arg: string) {
          try {
            this.output.write(run(arg.trim()));
          } catch (err) {
            this.output.write(`${(err as Error).message}\n`);
          }
          this.displayPrompt();
        },
      });
    };
    cmd('threads', 'every live green thread', () => formatThreads());
    cmd('where', 'the spawn and park stacks of a thread: .where ID', (a) => formatWhere(parseId(a)));
    cmd('kill', 'kill a green thread: .kill ID [message]', (a) => {
      const [id, ...msg] = a.split(/\s+/);
      return killThread(parseId(id), msg.length > 0 ? msg.join(' ') : undefined);
    });
    cmd('hub', "the hub's counts, listeners and timers", () => formatHub());
    r.defineCommand('help', { help: 'the backdoor commands', action() {
      this.output.write(HELP);
      this.displayPrompt();
    } });
  }

  /** Queues one line of input. */
  feed(line: string): void {
    this.lines.push(line);
    this.next();
  }

  private next(): void {
    if (!this.ready || this.closed || this.lines.length === 0) return;
    this.ready = false;
    // after the current call stack: displayPrompt may be called in the middle of the REPL's own line handling
    const line = this.lines.shift()!;
    process.nextTick(() => {
      if (!this.closed) this.input.write(`${line}\n`);
    });
  }

  /** Ctrl-C: kills the running statement, or drops the half-typed one. */
  interrupt(): void {
    const gt = this.running;
    if (gt !== null && !gt.dead) {
      gt.kill(new KeyboardInterrupt());
      return;
    }
    this.repl.clearBufferedCommand();
    this.repl.displayPrompt();
  }

  complete(line: string, done: (items: string[], sub: string) => void): void {
    const r = this.repl as unknown as { complete(line: string, cb: (err: Error | null, res?: [string[], string]) => void): void };
    r.complete(line, (err, res) => {
      if (err || !res) done([], line);
      else done(res[0], res[1]);
    });
  }

  /** The connection ended or broke: the running statement dies with it. */
  gone(): void {
    if (this.closed) return;
    this.closed = true;
    const gt = this.running; // kept: the GreenletExit comes back as the statement's error
    if (gt !== null && !gt.dead) gt.kill(new GreenletExit('the backdoor client disconnected'));
    this.repl.close();
    replClosed();
    this.conn.destroy();
    this.onGone(this);
  }
}

/**
 * The context's timer functions, whose callbacks' errors go to `report`
 * instead of killing the process: what the REPL's domain did for them.
 */
function guardTimers(ctx: Record<string, unknown>, report: (err: unknown) => void): void {
  for (const name of ['setTimeout', 'setInterval', 'setImmediate', 'queueMicrotask'] as const) {
    const real = globalThis[name] as (fn: unknown, ...rest: unknown[]) => unknown;
    const guarded = function (this: unknown, fn: unknown, ...rest: unknown[]): unknown {
      if (typeof fn !== 'function') return real(fn, ...rest); // Node's own error
      return real(function (this: unknown, ...args: unknown[]) {
        try {
          return (fn as (...a: unknown[]) => unknown).apply(this, args);
        } catch (err) {
          report(err);
          return undefined;
        }
      }, ...rest);
    };
    const custom = (real as unknown as Record<symbol, unknown>)[promisify.custom];
    if (custom !== undefined) Object.defineProperty(guarded, promisify.custom, { value: custom });
    Object.defineProperty(guarded, 'name', { value: name });
    Object.defineProperty(ctx, name, { value: guarded, writable: true, configurable: true, enumerable: false });
  }
}

/** While a protocol client's prompt is drawn: its text goes in the `prompt` message, not as output. */
let muted = false;

/** What Ctrl-C throws into the statement running in the backdoor. */
export class KeyboardInterrupt extends Error {
  constructor() {
    super('interrupted (Ctrl-C)');
    this.name = 'KeyboardInterrupt';
    this.stack = `${this.name}: ${this.message}`; // where the Ctrl-C arrived says nothing
  }
}

function parseId(s: string | undefined): number {
  const id = Number(s);
  if (s === undefined || s === '' || !Number.isInteger(id)) throw new TypeError(`expected a green thread id, got '${s ?? ''}'`);
  return id;
}

function banner(): string {
  return `evy backdoor: pid ${process.pid}, node ${process.version}; .help for the commands\n`;
}

// ---- serving a connection ----

/**
 * Takes one connection: waits briefly for the handshake, then serves it in
 * protocol or line mode. Never throws; a broken client is dropped.
 */
function serveConnection(conn: Duplex, locals: Record<string, unknown>, clients: Set<Client>): void {
  conn.on('error', () => {}); // a reset is an ordinary way for a client to leave
  let head = Buffer.alloc(0);
  let decided = false;
  const decide = (protocol: boolean): void => {
    if (decided) return;
    decided = true;
    clearTimeout(timer);
    conn.off('data', onData);
    conn.off('end', onEarlyEnd);
    conn.pause();
    try {
      if (protocol) startProtocol(conn, head, locals, clients);
      else startLineMode(conn, head, locals, clients);
    } catch (err) {
      conn.destroy();
      process.stderr.write(`evy backdoor: a client could not be served: ${(err as Error).message}\n`);
    }
  };
  const onData = (d: Buffer): void => {
    head = Buffer.concat([head, d]);
    const magic = Buffer.from(HANDSHAKE);
    const n = Math.min(head.length, magic.length);
    if (head.subarray(0, n).equals(magic.subarray(0, n))) {
      if (head.includes(0x0a)) decide(true);
      else if (head.length > MAX_LINE) conn.destroy();
      return;
    }
    decide(false);
  };
  const onEarlyEnd = (): void => {
    clearTimeout(timer);
    conn.destroy();
  };
  const timer = setTimeout(() => decide(false), HANDSHAKE_WAIT);
  conn.on('data', onData);
  conn.on('end', onEarlyEnd);
  conn.on('close', () => clearTimeout(timer));
}

function startLineMode(conn: Duplex, head: Buffer, locals: Record<string, unknown>, clients: Set<Client>): void {
  // Feeds the REPL through a PassThrough, so an endless line can be cut off.
  const input = new PassThrough();
  let pending = '';
  const feed = (d: Buffer): void => {
    pending += d.toString('utf8');
    let i: number;
    while ((i = pending.indexOf('\n')) >= 0) {
      client.feed(pending.slice(0, i).replace(/\r$/, ''));
      pending = pending.slice(i + 1);
    }
    if (pending.length > MAX_LINE) conn.destroy();
  };
  const output = new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (!conn.destroyed && conn.writable) conn.write(chunk);
      cb();
    },
  });
  conn.write(banner());
  const client = new Client(conn, input, output, false, locals, null, (c) => clients.delete(c));
  clients.add(client);
  conn.on('data', feed);
  conn.on('end', () => client.gone());
  conn.on('close', () => client.gone());
  if (head.length > 0) feed(head);
  conn.resume();
}

function startProtocol(conn: Duplex, head: Buffer, locals: Record<string, unknown>, clients: Set<Client>): void {
  const nl = head.indexOf(0x0a);
  let hello: Hello = {};
  try {
    hello = JSON.parse(head.subarray(HANDSHAKE.length, nl).toString('utf8')) as Hello;
    if (hello === null || typeof hello !== 'object') hello = {};
  } catch {
    hello = {};
  }
  const send = (m: Message): void => {
    if (!conn.destroyed && conn.writable) conn.write(`${JSON.stringify(m)}\n`);
  };
  const input = new PassThrough();
  const output = new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (!muted) send({ t: 'out', d: chunk.toString('utf8') });
      cb();
    },
  });
  if (typeof hello.columns === 'number' && hello.columns > 0) (output as unknown as { columns: number }).columns = hello.columns;
  send({ t: 'out', d: banner() });
  const client = new Client(conn, input, output, hello.colors === true, locals, (p, error) => send({ t: 'prompt', p, error }), (c) =>
    clients.delete(c),
  );
  clients.add(client);
  let buf = head.subarray(nl + 1).toString('utf8');
  const onData = (d: Buffer): void => {
    buf += d.toString('utf8');
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      handle(line);
    }
    if (buf.length > MAX_LINE) conn.destroy();
  };
  const handle = (line: string): void => {
    let m: Message;
    try {
      m = JSON.parse(line) as Message;
    } catch {
      return; // not a message: ignored
    }
    if (m === null || typeof m !== 'object') return;
    if (m.t === 'line' && typeof m.d === 'string') for (const l of m.d.split('\n')) client.feed(l);
    else if (m.t === 'interrupt') client.interrupt();
    else if (m.t === 'complete' && typeof m.d === 'string') {
      client.complete(m.d, (items, sub) => send({ t: 'completion', id: m.id, items, sub }));
    }
  };
  conn.on('data', onData);
  conn.on('end', () => client.gone());
  conn.on('close', () => client.gone());
  onData(Buffer.alloc(0));
  conn.resume();
}

// ---- servers ----

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::ffff:127.0.0.1';
}

function checkLocals(locals: unknown): Record<string, unknown> {
  if (locals === undefined || locals === null) return {};
  if (typeof locals !== 'object') throw new TypeError(`backdoor: locals must be an object, got ${typeof locals}`);
  return locals as Record<string, unknown>;
}

function makeHandle(address: Address, clients: Set<Client>, stop: () => Promise<void>): Backdoor {
  return {
    address,
    get clients() {
      return clients.size;
    },
    async close() {
      for (const c of [...clients]) c.gone();
      await stop();
    },
  };
}

/** A GreenSocket connection as a Node Duplex stream (what the REPL reads and writes). */
function greenDuplex(sock: GreenSocket): Duplex {
  let reader: GreenThread<void> | null = null;
  const d = new Duplex({
    read() {
      if (reader !== null) return;
      reader = spawn(async () => {
        try {
          for (;;) {
            const b = await sock.recv(65536);
            if (b.length === 0) break;
            d.push(b);
          }
        } catch {
          // a reset or a close: the stream ends either way
        }
        d.push(null);
      }).named('backdoor reader');
    },
    write(chunk: Buffer, _enc, cb) {
      sock.writeThen(chunk, (err) => cb(err ?? null));
    },
    destroy(err, cb) {
      if (reader !== null && !reader.dead) reader.kill();
      sock.close();
      cb(err);
    },
  });
  return d;
}

/**
 * Serves backdoor clients on a socket that is already listening: an evy
 * `GreenSocket` (from `listen()`) or a `net.Server`. Returns at once; the
 * server runs until `close()`.
 * @param sock a listening GreenSocket or net.Server.
 * @param locals names put in each client's scope.
 * @throws {TypeError} `sock` is neither, or `locals` is not an object.
 * @example
 * const bd = backdoorServer(evy.listen(['127.0.0.1', 3000]), { app });
 */
export function backdoorServer(sock: GreenSocket | net.Server, locals?: Record<string, unknown>): Backdoor {
  const scope = checkLocals(locals);
  const clients = new Set<Client>();
  if (sock instanceof net.Server) {
    const onConn = (c: net.Socket): void => serveConnection(c, scope, clients);
    sock.on('connection', onConn);
    const a = sock.address();
    const address: Address = typeof a === 'string' ? a : a === null ? ['', 0] : [a.address, a.port];
    return makeHandle(address, clients, () => new Promise<void>((res) => {
      sock.off('connection', onConn);
      sock.close(() => res());
    }));
  }
  if (!(sock instanceof GreenSocket)) throw new TypeError('backdoorServer needs a listening GreenSocket or net.Server');
  const acceptor = spawn(async () => {
    for (;;) {
      let conn: GreenSocket;
      try {
        [conn] = await sock.accept();
      } catch (err) {
        if (sock.closed) return;
        throw err;
      }
      serveConnection(greenDuplex(conn), scope, clients);
    }
  }).named('backdoor accept');
  return makeHandle(sock.getsockname(), clients, async () => {
    acceptor.kill();
    sock.close();
    await acceptor.wait().catch(() => {});
  });
}

/**
 * Starts a backdoor on `addr`: a port (on 127.0.0.1), `[host, port]`, or a
 * Unix socket path (created with mode 0600). A non-loopback host is refused
 * unless `opts.allowRemote` is set, and even then a warning is printed.
 * @param addr where to listen; port 0 picks a free one (see `address`).
 * @param locals names put in each client's scope.
 * @throws {Error} a non-loopback host without allowRemote; the listen failed (EADDRINUSE...).
 * @example
 * const bd = await backdoor(3000, { app });
 * // $ npx evy backdoor --port 3000
 */
export async function backdoor(addr: number | Address, locals?: Record<string, unknown>, opts: BackdoorOptions = {}): Promise<Backdoor> {
  const scope = checkLocals(locals);
  const server = net.createServer();
  server.on('error', () => {}); // listen errors are reported below; later ones are not fatal
  let listenArg: net.ListenOptions;
  if (typeof addr === 'number') listenArg = { host: '127.0.0.1', port: addr };
  else if (typeof addr === 'string') listenArg = { path: addr };
  else if (Array.isArray(addr) && typeof addr[0] === 'string' && typeof addr[1] === 'number') {
    const host = addr[0] === '' ? '127.0.0.1' : addr[0];
    if (!isLoopback(host)) {
      if (opts.allowRemote !== true) {
        throw new Error(
          `backdoor: refusing to listen on ${host}, which is not a loopback address: anyone who can connect runs code in this process (pass allowRemote: true, or --backdoor-allow-remote, if you mean it)`,
        );
      }
      process.stderr.write(`evy backdoor: WARNING: listening on ${host}:${addr[1]}; anyone who can reach it can run code in this process\n`);
    }
    listenArg = { host, port: addr[1] };
  } else {
    throw new TypeError('backdoor: addr must be a port, [host, port] or a Unix socket path');
  }
  if (listenArg.port !== undefined && (!Number.isInteger(listenArg.port) || listenArg.port < 0 || listenArg.port > 65535)) {
    throw new RangeError(`backdoor: port must be an integer from 0 to 65535, got ${listenArg.port}`);
  }
  await new Promise<void>((resolve, reject) => {
    const fail = (err: Error): void => reject(err);
    server.once('error', fail);
    // A Unix socket is created under umask 0177, so it is 0600 from its first moment.
    const old = listenArg.path !== undefined ? process.umask(0o177) : null;
    try {
      server.listen(listenArg, () => {
        server.off('error', fail);
        resolve();
      });
    } finally {
      if (old !== null) process.umask(old);
    }
  });
  if (listenArg.path !== undefined) chmodSync(listenArg.path, 0o600);
  server.unref(); // an idle backdoor does not keep the process alive
  return backdoorServer(server, scope);
}
