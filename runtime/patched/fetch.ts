// evy/patched/fetch: the global fetch as an evy operation. Each call gets its
// own AbortController, combined with the caller's signal: a Timeout or kill of
// the waiting green thread, while it waits for the response or for its body
// (`text()`, `json()`, `arrayBuffer()`, `blob()`, `formData()`), aborts the
// request, which closes its connection (undici destroys a socket whose request
// is aborted mid-flight) and leaves the pool usable. A response that arrives
// after the thread was interrupted has its body cancelled.
//
// Under monkeyPatch() (so under `evy run`) this function is the global fetch;
// without it, import it from here. Everything else is stock: the caller's own
// signal aborts with its own reason, and undici's errors are its own.
import { awaitAbortable, combineSignal, type Link } from './abortable';

type Fetch = typeof globalThis.fetch;
type FetchInput = Parameters<Fetch>[0];

/** Marks a fetch made here, so that greening the global twice wraps it once. */
const GREEN = Symbol('evy.greenFetch');
type MaybeGreen = Fetch & { [GREEN]?: Fetch };

type BodyMethod = (this: Response) => Promise<unknown>;

/**
 * The body-reading methods of Response (those this Node has), made
 * interruptible per response. Looked up at the first response: the global
 * Response loads undici, which a process that never fetches should not pay for.
 */
let bodyMethods: Array<[string, BodyMethod]> | null = null;

function greenResponse(res: Response, link: Link): Response {
  bodyMethods ??= ['arrayBuffer', 'blob', 'bytes', 'formData', 'json', 'text']
    .map((k): [string, BodyMethod] => [k, (Response.prototype as unknown as Record<string, BodyMethod>)[k]])
    .filter(([, fn]) => typeof fn === 'function');
  for (const [name, stock] of bodyMethods) {
    Object.defineProperty(res, name, {
      configurable: true,
      writable: true,
      enumerable: false,
      value: { [name]: () => awaitAbortable(stock.call(res), link) }[name],
    });
  }
  return res;
}

function cancelBody(res: Response): void {
  res.body?.cancel().catch(() => {});
}

/** The signal the stock fetch would follow: init's if init names one (null: none), else a Request input's. */
function callerSignal(input: FetchInput, init: RequestInit | null | undefined): AbortSignal | null | undefined {
  if (init !== undefined && init !== null && typeof init !== 'string' && init.signal !== undefined) return init.signal;
  return input instanceof Request ? input.signal : undefined;
}

/** A green fetch over `stock`. */
function makeGreen(stock: Fetch): Fetch {
  const inner = (stock as MaybeGreen)[GREEN] ?? stock;
  // Same name and length as Node's own fetch (`function fetch(input, init = undefined)`).
  const green = function fetch(input: FetchInput, init: RequestInit | undefined = undefined): Promise<Response> {
    const signal = callerSignal(input, init);
    const dictionary = init === undefined || init === null || typeof init === 'object' || typeof init === 'function';
    if (arguments.length === 0 || !dictionary || (signal !== null && signal !== undefined && !(signal instanceof AbortSignal))) {
      // What the stock fetch refuses (no argument, an init that is not a
      // dictionary) or takes as it is (a signal-like object that is not an
      // AbortSignal): the stock call as a plain wait, which drops its result.
      return awaitAbortable(inner.apply(undefined, arguments as unknown as Parameters<Fetch>), null, cancelBody);
    }
    // Through AbortSignal.any: the caller's signal must reach the body after
    // fetch returns, and nothing tells when the body is done with.
    const link = combineSignal(signal);
    // init's other members are read through the prototype, as WebIDL reads a dictionary.
    const opts = Object.create(init ?? null) as RequestInit;
    opts.signal = link.signal;
    return awaitAbortable(
      inner(input, opts).then((res) => greenResponse(res, link)),
      link,
      cancelBody,
    );
  } as MaybeGreen;
  green[GREEN] = inner;
  return green;
}

const original = globalThis.fetch as Fetch | undefined;

/**
 * fetch() as an evy operation: a Timeout or kill of the green thread waiting
 * for the response, or in one of its body methods (`text()`, `json()`,
 * `arrayBuffer()`, `blob()`, `formData()`), aborts the request and closes its
 * connection. The caller's `signal` works as on stock Node. Reading
 * `res.body` as a stream is a foreign promise: wrap it in `wait()`.
 * @param input a URL, a string, or a Request
 * @param init Node's RequestInit (method, headers, body, signal, ...)
 * @throws {TypeError} `fetch failed` (the cause says why), as stock; the Timeout or kill error when interrupted.
 * @example
 * import { Timeout } from 'evy';
 * import { fetch } from 'evy/patched/fetch';
 * using _t = new Timeout(5);        // bounds the request and the body
 * const page = await (await fetch('http://127.0.0.1:8000/')).text();
 */
export const fetch: Fetch =
  original === undefined
    ? function fetch(): Promise<Response> {
        return Promise.reject(new TypeError('fetch is not available in this Node (started with --no-experimental-fetch?)'));
      }
    : makeGreen(original);

/**
 * monkeyPatch's installer: makes `target.fetch` (the global one) green, once.
 * A fetch someone else put there (a mock) is wrapped instead.
 * @internal
 */
export function greenGlobalFetch(target: { fetch?: Fetch } = globalThis): void {
  const current = target.fetch as MaybeGreen | undefined;
  if (typeof current !== 'function' || current[GREEN] !== undefined) return;
  target.fetch = current === original ? fetch : makeGreen(current);
}
