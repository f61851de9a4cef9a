// The numbers of evy/patched/zmq: libzmq's own (4.3), so code written against
// pyzmq or Evy's green zmq reads the same. Socket types, send/recv flags, poll
// events, socket options, and the errno values ZMQError carries.

// ---- socket types ----------------------------------------------------------------
/** Socket type: one peer, both ways. */
export const PAIR = 0;
/** Socket type: publishes to every subscriber (drops at the high-water mark). */
export const PUB = 1;
/** Socket type: receives the topics it subscribed to. */
export const SUB = 2;
/** Socket type: requests, strictly send then recv. */
export const REQ = 3;
/** Socket type: replies, strictly recv then send. */
export const REP = 4;
/** Socket type: asynchronous requests, round-robin out, fair-queued in. */
export const DEALER = 5;
/** Socket type: addresses peers by routing id (the first frame). */
export const ROUTER = 6;
/** Socket type: receives from PUSH sockets, fair-queued. */
export const PULL = 7;
/** Socket type: sends round-robin to PULL sockets; blocks with no peer. */
export const PUSH = 8;
/** Socket type: PUB that receives subscriptions. */
export const XPUB = 9;
/** Socket type: SUB that subscribes by sending. */
export const XSUB = 10;
/** Socket type: raw TCP peers. */
export const STREAM = 11;

// ---- flags -----------------------------------------------------------------------
/** send/recv: fail with Again instead of waiting. */
export const DONTWAIT = 1;
/** pyzmq's older name for DONTWAIT. */
export const NOBLOCK = DONTWAIT;
/** send: more frames of this message follow. */
export const SNDMORE = 2;

// ---- poll events -----------------------------------------------------------------
/** Poll event: a message can be received. */
export const POLLIN = 1;
/** Poll event: a message can be sent. */
export const POLLOUT = 2;
/** Poll event: the socket is closed. */
export const POLLERR = 4;

// ---- socket options ----------------------------------------------------------------
/** Option: I/O thread affinity (uint64). */
export const AFFINITY = 4;
/** Option: the socket's routing id (bytes). */
export const ROUTING_ID = 5;
/** The older name of ROUTING_ID. */
export const IDENTITY = ROUTING_ID;
/** Option (set only): a SUB topic prefix. */
export const SUBSCRIBE = 6;
/** Option (set only): drops a SUB topic prefix. */
export const UNSUBSCRIBE = 7;
/** Option: multicast data rate (kbit/s). */
export const RATE = 8;
/** Option: multicast recovery interval (ms). */
export const RECOVERY_IVL = 9;
/** Option: kernel send buffer size (bytes). */
export const SNDBUF = 11;
/** Option: kernel receive buffer size (bytes). */
export const RCVBUF = 12;
/** Option (get only): more frames of the message recv() is partway through. */
export const RCVMORE = 13;
/** Option (get only): the socket's ZMQ_FD (edge-triggered). */
export const FD = 14;
/** Option (get only): POLLIN | POLLOUT now. */
export const EVENTS = 15;
/** Option (get only): the socket type. */
export const TYPE = 16;
/** Option: how long unsent messages outlive close() (ms, -1 forever). */
export const LINGER = 17;
/** Option: reconnection interval (ms). */
export const RECONNECT_IVL = 18;
/** Option: listen backlog. */
export const BACKLOG = 19;
/** Option: longest reconnection interval (ms). */
export const RECONNECT_IVL_MAX = 21;
/** Option: largest message accepted (bytes, int64). */
export const MAXMSGSIZE = 22;
/** Option: the send high-water mark (messages). */
export const SNDHWM = 23;
/** Option: the receive high-water mark (messages). */
export const RCVHWM = 24;
/** Option: multicast TTL. */
export const MULTICAST_HOPS = 25;
/** Option: how long recv waits before Again (ms, -1 forever): evy's own. */
export const RCVTIMEO = 27;
/** Option: how long send waits before Again (ms, -1 forever): evy's own. */
export const SNDTIMEO = 28;
/** Option (get only): the endpoint last bound. */
export const LAST_ENDPOINT = 32;
/** Option (set only): ROUTER fails (EHOSTUNREACH) to unknown peers instead of dropping. */
export const ROUTER_MANDATORY = 33;
/** Option: SO_KEEPALIVE (-1 system default, 0 off, 1 on). */
export const TCP_KEEPALIVE = 34;
/** Option: TCP_KEEPCNT. */
export const TCP_KEEPALIVE_CNT = 35;
/** Option: TCP_KEEPIDLE (s). */
export const TCP_KEEPALIVE_IDLE = 36;
/** Option: TCP_KEEPINTVL (s). */
export const TCP_KEEPALIVE_INTVL = 37;
/** Option: queue messages only to completed connections. */
export const IMMEDIATE = 39;
/** Option (set only): XPUB passes on every subscription. */
export const XPUB_VERBOSE = 40;
/** Option: IPv6 on the socket. */
export const IPV6 = 42;
/** Option (set only): announce the routing id on connect. */
export const PROBE_ROUTER = 51;
/** Option (set only): REQ matches replies to requests. */
export const REQ_CORRELATE = 52;
/** Option (set only): REQ may send a new request without a reply. */
export const REQ_RELAXED = 53;
/** Option (set only): keep only the last message. */
export const CONFLATE = 54;
/** Option (set only): a new peer with a known routing id takes it over. */
export const ROUTER_HANDOVER = 56;
/** Option: the ZMTP handshake time limit (ms). */
export const HANDSHAKE_IVL = 66;
/** Option: ZMTP heartbeat interval (ms). */
export const HEARTBEAT_IVL = 75;
/** Option: ZMTP heartbeat TTL (ms). */
export const HEARTBEAT_TTL = 76;
/** Option: ZMTP heartbeat timeout (ms). */
export const HEARTBEAT_TIMEOUT = 77;
/** Option: TCP connect time limit (ms). */
export const CONNECT_TIMEOUT = 79;
/** Option: TCP_USER_TIMEOUT (ms). */
export const TCP_MAXRT = 80;

// ---- errno values (Linux, and libzmq's own above 156384712) -------------------------
/** errno: the operation would have to wait (Again). */
export const EAGAIN = 11;
/** errno: an invalid argument. */
export const EINVAL = 22;
/** errno: the socket is closed. */
export const ENOTSOCK = 88;
/** errno: the socket type cannot do that. */
export const ENOTSUP = 95;
/** errno: a ROUTER_MANDATORY send to an unknown peer. */
export const EHOSTUNREACH = 113;
/** errno: out of turn for the socket's state machine (REQ/REP). */
export const EFSM = 156384763;
/** errno: the transport does not suit the socket type. */
export const ENOCOMPATPROTO = 156384764;
/** errno: the context was terminated. */
export const ETERM = 156384765;
