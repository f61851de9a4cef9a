// The stdlib-compat suite's vocabulary: a Scenario exercises a builtin module's
// stock API and records what it observes in a Trace. The runner prints each
// trace as JSON; `evy test` runs every scenario on stock Node and with
// evy.monkeyPatch() applied, and the two traces must be equal.
//
// A trace holds only deterministic, JSON-serialisable values: no ports, pids,
// timestamps or absolute paths (scenarios log `typeof port === 'number'`), and
// errors pass through errorInfo(), which keeps name, code and a message with
// the volatile parts (addresses with ports, temp paths, pids) replaced.
import { tmpdir } from 'node:os';
import * as path from 'node:path';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface ErrorInfo {
  [key: string]: Json;
  name: string;
  code: string | null;
  message: string;
}

export interface Scenario {
  name: string;
  run(t: Trace): Promise<void>;
}

/** The package root (tests/stdlib/lib → ../../..). */
export const ROOT = path.resolve(__dirname, '..', '..', '..');

/** Replaces the parts of an error message that change from run to run. */
export function scrub(message: string): string {
  let m = message;
  for (const [dir, name] of [[process.execPath, '<node>'], [ROOT, '<root>'], [tmpdir(), '<tmp>']] as const) {
    m = m.split(dir).join(name);
  }
  return m
    .replace(/<tmp>\/[\w.-]+/g, '<tmp>/<dir>')
    .replace(/(\d{1,3}(?:\.\d{1,3}){3}|::1|::|localhost|\[[0-9a-f:]+\]):\d+/gi, '$1:<port>')
    .replace(/\bport:? \d+/gi, 'port <port>')
    .replace(/\bpid:? \d+/gi, 'pid <pid>')
    .replace(/\b\d+ ?ms\b/g, '<n>ms')
    .replace(/^[0-9A-F]{8,16}:error:/gm, '<thread>:error:');
}

/** An error as { name, code, message }: what the traces compare. */
export function errorInfo(err: unknown): ErrorInfo {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return {
      name: err.name,
      code: typeof code === 'string' ? code : typeof code === 'number' ? String(code) : null,
      message: scrub(err.message),
    };
  }
  return { name: typeof err, code: null, message: scrub(String(err)) };
}

/** Turns a value into JSON: errors become ErrorInfo, buffers their text. */
export function toJson(value: unknown, depth = 0): Json {
  if (depth > 8) return '<deep>';
  if (value === null) return null;
  switch (typeof value) {
    case 'undefined':
      return '<undefined>';
    case 'boolean':
    case 'string':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'bigint':
      return `${value}n`;
    case 'symbol':
      return value.toString();
    case 'function':
      return '<function>';
    default:
      break;
  }
  if (value instanceof Error) return errorInfo(value);
  if (Buffer.isBuffer(value)) return { buffer: value.toString('latin1') };
  if (Array.isArray(value)) return value.map((v) => toJson(v, depth + 1));
  const out: { [key: string]: Json } = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = toJson(v, depth + 1);
  return out;
}

export class Trace {
  readonly entries: Json[] = [];

  /** Records `label`, or `[label, value]`. */
  log(label: string, value?: unknown): void {
    this.entries.push(arguments.length < 2 ? label : [label, toJson(value)]);
  }

  /** Records an error as [label, { name, code, message }]. */
  error(label: string, err: unknown): void {
    this.entries.push([label, errorInfo(err)]);
  }

  /** Runs `fn`, logging [label, 'ok'] or the error it throws or rejects with. */
  async attempt(label: string, fn: () => unknown): Promise<void> {
    try {
      const v = await fn();
      this.log(label, v === undefined ? 'ok' : v);
    } catch (err) {
      this.error(label, err);
    }
  }
}

/** A scenario-level assertion failure: the runner records it as the scenario's error. */
export function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new Error(`check failed: ${what}`);
}
