// The numbers of evy/patched/zmq: libzmq's own (4.3), so code written against
// pyzmq or Evy's green zmq reads the same. Socket types, send/recv flags, poll
// events, socket options, and the errno values ZMQError carries.

// ---- socket types ----------------------------------------------------------------
export const PAIR = 0;
export const PUB = 1;
export const SUB = 2;
export const REQ = 3;
export const REP = 4;
export const DEALER = 5;
export const ROUTER = 6;
export const PULL = 7;
export const PUSH = 8;
export const XPUB = 9;
export const XSUB = 10;
export const STREAM = 11;

// ---- flags -----------------------------------------------------------------------
/** send/recv: fail with Again instead of waiting. */
export const DONTWAIT = 1;
/** pyzmq's older name for DONTWAIT. */
export const NOBLOCK = DONTWAIT;
/** send: more frames of this message follow. */
export const SNDMORE = 2;

// ---- poll events -----------------------------------------------------------------
export const POLLIN = 1;
export const POLLOUT = 2;
export const POLLERR = 4;

// ---- socket options ----------------------------------------------------------------
export const AFFINITY = 4;
export const ROUTING_ID = 5;
/** The older name of ROUTING_ID. */
export const IDENTITY = ROUTING_ID;
export const SUBSCRIBE = 6;
export const UNSUBSCRIBE = 7;
export const RATE = 8;
export const RECOVERY_IVL = 9;
export const SNDBUF = 11;
export const RCVBUF = 12;
export const RCVMORE = 13;
export const FD = 14;
export const EVENTS = 15;
export const TYPE = 16;
export const LINGER = 17;
export const RECONNECT_IVL = 18;
export const BACKLOG = 19;
export const RECONNECT_IVL_MAX = 21;
export const MAXMSGSIZE = 22;
export const SNDHWM = 23;
export const RCVHWM = 24;
export const MULTICAST_HOPS = 25;
export const RCVTIMEO = 27;
export const SNDTIMEO = 28;
export const LAST_ENDPOINT = 32;
export const ROUTER_MANDATORY = 33;
export const TCP_KEEPALIVE = 34;
export const TCP_KEEPALIVE_CNT = 35;
export const TCP_KEEPALIVE_IDLE = 36;
export const TCP_KEEPALIVE_INTVL = 37;
export const IMMEDIATE = 39;
export const XPUB_VERBOSE = 40;
export const IPV6 = 42;
export const PROBE_ROUTER = 51;
export const REQ_CORRELATE = 52;
export const REQ_RELAXED = 53;
export const CONFLATE = 54;
export const ROUTER_HANDOVER = 56;
export const HANDSHAKE_IVL = 66;
export const HEARTBEAT_IVL = 75;
export const HEARTBEAT_TTL = 76;
export const HEARTBEAT_TIMEOUT = 77;
export const CONNECT_TIMEOUT = 79;
export const TCP_MAXRT = 80;

// ---- errno values (Linux, and libzmq's own above 156384712) -------------------------
export const EAGAIN = 11;
export const EINVAL = 22;
export const ENOTSOCK = 88;
export const ENOTSUP = 95;
export const EHOSTUNREACH = 113;
export const EFSM = 156384763;
export const ENOCOMPATPROTO = 156384764;
export const ETERM = 156384765;
