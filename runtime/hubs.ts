// evy/hubs: the hub, its timers and fd listeners, and trampoline().
import { getHub, type Hub, type TrampolineOptions } from './hub/hub';
import { Timeout } from './sync/timeout';

export { getHub, Hub, IOClosed, Listener, Timer, type HubCounts, type ListenerKind, type TrampolineOptions } from './hub/hub';

/**
 * Selects the hub. evy has one, on the libuv loop Node runs ('uv', also the
 * default); naming another is an error.
 */
export function useHub(name: string | null = null): Hub {
  if (name !== null && name !== 'uv' && name !== 'default') {
    throw new Error(`useHub: evy has one hub, 'uv' (Node's own libuv loop); there is no hub named '${name}'`);
  }
  return getHub();
}

/**
 * Parks the current green thread until `fd` is readable (`read: true`) or
 * writable (`write: true`). With `timeout` seconds, throws `timeoutError`
 * (default: a Timeout) if the fd is not ready by then.
 */
export function trampoline(fd: number, opts: TrampolineOptions): Promise<void> {
  return getHub().trampoline(fd, opts, Timeout.unstarted);
}
