// evy: green threads for Node.js on libuv. The public surface (API.md).
export {
  cede,
  getCurrent,
  GreenletExit,
  GreenThread,
  kill,
  sleep,
  spawn,
  spawnAfter,
  spawnAfterLocal,
  spawnN,
  wait,
  waitall,
} from './green/greenthread';
export { GreenPile, GreenPool } from './green/greenpool';
export { local } from './green/corolocal';
export { Timeout, withTimeout, type WithTimeoutOptions } from './sync/timeout';
export { Event } from './sync/event';
export { BoundedSemaphore, CappedSemaphore, Semaphore } from './sync/semaphore';
export { Empty, Full, LifoQueue, LightQueue, PriorityQueue, Queue, type Compare } from './sync/queue';
export { Pool, Token, TokenPool, type PoolOptions } from './pools';
export { getHub, trampoline, useHub, type Hub } from './hubs';
export { connect, listen, serve, StopServe, type ConnectOptions, type ListenOptions, type ServeOptions } from './io/convenience';
export { GreenSocket, SocketTimeout, type Address, type AddressLike } from './io/socket';
export { GreenFile, type GreenFileOptions, type RawStream } from './io/file';
export { GreenSSLSocket, GreenStreamSocket, wrapSsl, type WrapSslOptions } from './io/ssl';
export { importPatched, isMonkeyPatched, monkeyPatch, type MonkeyPatchOptions, type Replacement } from './patcher';
