// Greens node:stream/promises in place (monkeyPatch; `require('stream').promises`
// and `util.promisify(stream.pipeline)` are the same functions): pipeline()
// and finished() are evy operations whose own signal (which follows the
// caller's) a Timeout or kill aborts. An interrupted pipeline destroys its streams, as
// an aborted one does (their sockets and files close); an interrupted
// finished() removes its listeners and leaves the stream alone.
import { awaitAbortable, followSignal, ownSignal } from './abortable';

type Fn = (...args: unknown[]) => Promise<unknown>;

// Node's own tests for "is this last argument pipeline's options?", restated:
// an object that is not a Node stream, not iterable and not a web stream.
function isNodeStream(o: Record<string, unknown>): boolean {
  return (
    Boolean(o._readableState) ||
    Boolean(o._writableState) ||
    (typeof o.on === 'function' && (typeof o.write === 'function' || typeof o.pipe === 'function'))
  );
}

function isIterable(o: Record<PropertyKey, unknown>): boolean {
  return typeof o[Symbol.asyncIterator] === 'function' || typeof o[Symbol.iterator] === 'function';
}

function isWebStream(o: Record<string, unknown>): boolean {
  return (
    (typeof o.pipeThrough === 'function' && typeof o.getReader === 'function' && typeof o.cancel === 'function') ||
    (typeof o.getWriter === 'function' && typeof o.abort === 'function') ||
    (typeof o.readable === 'object' && typeof o.writable === 'object')
  );
}

function isPipelineOptions(last: unknown): last is { signal?: unknown } {
  if (last === null || typeof last !== 'object') return false;
  const o = last as Record<string, unknown>;
  return !isNodeStream(o) && !isIterable(o) && !isWebStream(o);
}

const greened = new WeakSet<object>();

/**
 * Makes `promises.pipeline` and `promises.finished` (node:stream/promises)
 * evy operations, in place; once per object.
 * @internal
 */
export function greenStreamPromises(promises: { pipeline: unknown; finished: unknown }): void {
  if (greened.has(promises)) return;
  greened.add(promises);
  const stockPipeline = promises.pipeline as Fn;
  const stockFinished = promises.finished as Fn;

  promises.pipeline = function pipeline(...streams: unknown[]): Promise<unknown> {
    const options = isPipelineOptions(streams[streams.length - 1]) ? (streams.pop() as { signal?: unknown }) : undefined;
    const user = options?.signal;
    if (!ownSignal(user)) return awaitAbortable(stockPipeline(...streams, options), null); // Node refuses it, with its own error
    const link = followSignal(user); // both listen to the caller's signal, as the stock ones do
    return awaitAbortable(stockPipeline(...streams, { ...options, signal: link.signal }), link);
  };

  promises.finished = function finished(stream: unknown, opts: unknown): Promise<unknown> {
    const plain = opts === undefined || opts === null || (typeof opts === 'object' && !Array.isArray(opts));
    const user = plain ? (opts as { signal?: unknown } | null | undefined)?.signal : undefined;
    if (!plain || !ownSignal(user)) return awaitAbortable(stockFinished.apply(undefined, arguments as unknown as unknown[]), null);
    const link = followSignal(user);
    return awaitAbortable(stockFinished(stream, { ...(opts as object | null), signal: link.signal }), link);
  };
}
