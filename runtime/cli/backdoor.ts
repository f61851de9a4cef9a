// `evy backdoor [--host H] [--port P | --socket PATH] [-e CODE]`: the client of
// evy/tools/backdoor. Interactive, it edits lines locally (readline, with the
// history in ~/.evy_backdoor_history), asks the remote process for Tab
// completions, and turns Ctrl-C into an interrupt of the remote statement;
// Ctrl-D leaves. With -e it runs one input, prints what it printed, and exits
// non-zero if it threw. It speaks the JSON-line protocol of tools/backdoor.ts.
import { appendFileSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import { homedir } from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { HANDSHAKE, type Hello, type Message } from '../tools/backdoor';

export interface BackdoorClientOptions {
  host?: string;
  port?: number;
  socket?: string;
  /** one input to run; the client exits after it */
  eval?: string;
}

const HISTORY_SIZE = 1000;

function historyFile(): string {
  return path.join(homedir(), '.evy_backdoor_history');
}

function loadHistory(): string[] {
  try {
    // the file is oldest first; readline wants newest first
    return readFileSync(historyFile(), 'utf8').split('\n').filter((l) => l.length > 0).slice(-HISTORY_SIZE).reverse();
  } catch {
    return [];
  }
}

function saveLine(line: string): void {
  try {
    appendFileSync(historyFile(), `${line.replace(/\n/g, ' ')}\n`, { mode: 0o600 });
  } catch {
    // no history then: a read-only home is no reason to fail
  }
}

/** Connects, or fails with a message that says what was tried. */
function open(opts: BackdoorClientOptions): Promise<net.Socket> {
  const target = opts.socket !== undefined ? opts.socket : `${opts.host ?? '127.0.0.1'}:${opts.port}`;
  return new Promise((resolve, reject) => {
    const sock =
      opts.socket !== undefined ? net.connect(opts.socket) : net.connect({ host: opts.host ?? '127.0.0.1', port: opts.port! });
    sock.once('connect', () => resolve(sock));
    sock.once('error', (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'ECONNREFUSED' || err.code === 'ENOENT'
          ? 'nothing is listening there (is the process running with a backdoor, e.g. evy run --backdoor?)'
          : err.message;
      reject(new Error(`evy backdoor: cannot connect to ${target}: ${why}`));
    });
  });
}

/** Reads JSON-line messages from the socket. */
function onMessages(sock: net.Socket, handle: (m: Message) => void): void {
  let buf = '';
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        handle(JSON.parse(line) as Message);
      } catch {
        // not a message (a line-mode server?): shown as it is
        process.stdout.write(`${line}\n`);
      }
    }
  });
}

/**
 * Runs the client. Resolves with the exit code: 0, or 1 when -e's input threw
 * or the connection failed.
 */
export async function runBackdoorClient(opts: BackdoorClientOptions): Promise<number> {
  if (opts.socket === undefined && (opts.port === undefined || !Number.isInteger(opts.port) || opts.port <= 0 || opts.port > 65535)) {
    process.stderr.write('evy backdoor: give --port P (1-65535) or --socket PATH\n');
    return 2;
  }
  let sock: net.Socket;
  try {
    sock = await open(opts);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 1;
  }
  const tty = process.stdout.isTTY === true;
  const hello: Hello = { colors: tty, columns: tty ? process.stdout.columns : 80 };
  sock.write(`${HANDSHAKE}${JSON.stringify(hello)}\n`);
  const send = (m: Message): void => {
    if (!sock.destroyed) sock.write(`${JSON.stringify(m)}\n`);
  };
  return opts.eval !== undefined ? runOnce(sock, send, opts.eval) : interactive(sock, send);
}

function runOnce(sock: net.Socket, send: (m: Message) => void, code: string): Promise<number> {
  return new Promise((resolve) => {
    const lines = code.split('\n');
    let started = false;
    let prompts = 0;
    let failed = false;
    onMessages(sock, (m) => {
      if (m.t === 'out') {
        if (started) process.stdout.write(m.d);
      } else if (m.t === 'prompt') {
        if (!started) {
          started = true;
          send({ t: 'line', d: code });
          return;
        }
        failed ||= m.error;
        if (++prompts >= lines.length) {
          if (m.p.startsWith('.')) {
            process.stderr.write('evy backdoor: -e: the input is incomplete\n');
            failed = true;
          }
          sock.end();
          resolve(failed ? 1 : 0);
        }
      }
    });
    sock.on('close', () => {
      if (prompts < lines.length) {
        process.stderr.write('evy backdoor: the connection closed before the input finished\n');
        resolve(1);
      }
    });
  });
}

function interactive(sock: net.Socket, send: (m: Message) => void): Promise<number> {
  return new Promise((resolve) => {
    const pending = new Map<number, (r: [string[], string]) => void>();
    let nextId = 1;
    let busy = true; // until the first prompt
    const rl = readline.createInterface({
      input: process.stdin,
      output: process.stdout,
      terminal: process.stdin.isTTY === true,
      history: loadHistory(),
      historySize: HISTORY_SIZE,
      removeHistoryDuplicates: true,
      completer: (line: string, cb: (err: Error | null, r: [string[], string]) => void) => {
        const id = nextId++;
        pending.set(id, (r) => cb(null, r));
        send({ t: 'complete', id, d: line });
      },
    });
    rl.pause();
    let done = false;
    const leave = (code: number): void => {
      if (done) return;
      done = true;
      rl.close();
      sock.end();
      resolve(code);
    };
    onMessages(sock, (m) => {
      if (m.t === 'out') {
        process.stdout.write(m.d);
      } else if (m.t === 'prompt') {
        busy = false;
        rl.setPrompt(m.p);
        rl.resume();
        rl.prompt();
      } else if (m.t === 'completion') {
        const cb = pending.get(m.id);
        pending.delete(m.id);
        cb?.([m.items, m.sub]);
      }
    });
    rl.on('line', (line) => {
      if (line.trim().length > 0) saveLine(line);
      busy = true;
      send({ t: 'line', d: line });
      if (line.trim() === '.exit') leave(0);
    });
    // Ctrl-C: the remote statement is interrupted (or the half-typed input dropped)
    rl.on('SIGINT', () => {
      if (!busy) {
        rl.write(null, { ctrl: true, name: 'u' }); // clear the local line
        process.stdout.write('\n');
      }
      send({ t: 'interrupt' });
    });
    rl.on('close', () => {
      // Ctrl-D
      if (!done) process.stdout.write('\n');
      leave(0);
    });
    sock.on('close', () => {
      if (!done) process.stderr.write('evy backdoor: the connection closed\n');
      leave(0);
    });
    sock.on('error', () => {});
  });
}
