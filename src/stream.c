/* evy's native hub: TCP, UDP and Unix-domain sockets on raw uv_tcp_t /
 * uv_udp_t / uv_pipe_t handles of Node's own loop.
 *
 * - Each handle is napi_wrap()ed onto its JS owner (a GreenSocket). The native
 *   side keeps only the wrap's weak reference, so an owner nobody holds can be
 *   collected; its finalizer closes the handle. The uv handle is freed once it
 *   has been closed, finalized and its queued events delivered: exactly once.
 * - Events are batched: each libuv callback appends a record (kind, value,
 *   slab offset) to a shared Int32Array, and one call into JS per loop turn
 *   (from a uv_check handle, or sooner when the batch fills) delivers them all
 *   to flush(owners, start, end). One JS entry, one microtask checkpoint, for
 *   every socket that became ready in that turn.
 * - Reads land in one shared slab at increasing offsets; the batch is flushed
 *   before the slab could run short, so a read never waits for room. JS copies
 *   out what it keeps: an idle connection holds no read buffer.
 * - Writes try uv_try_write first and queue only what did not go out.
 * - A stream with a TLS session attached (tls.c) reads and writes plaintext:
 *   its reads are decrypted in the slab, its writes encrypted on the way. */
#include "evy.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* K_WRITE also reports a queued UDP send. */
enum { K_READ = 1, K_CONNECTION = 2, K_CONNECT = 3, K_WRITE = 4, K_SHUTDOWN = 5, K_DGRAM = 6 };

#define SLAB_SIZE (1024 * 1024)
#define READ_CHUNK (64 * 1024) /* the most one read takes; any UDP datagram fits */
#define EV_MAX 2048            /* records per batch */
#define EV_INTS 3              /* kind, value, slab offset */

struct evy_stream;

typedef struct evy_env {
  napi_env env;
  evy_instance *in;
  napi_ref dispatch;
  napi_ref slab;
  char *slab_data;
  size_t slab_pos; /* next free byte; at least READ_CHUNK are always free */
  napi_ref events_ref;
  int32_t *events;
  struct evy_stream *sources[EV_MAX];
  struct sockaddr_storage *froms; /* sender of each K_DGRAM record */
  napi_value argv[EV_MAX + 1];    /* flush()'s arguments */
  /* Slots: JS names a handle by a small integer in the hot calls (write), which
   * is cheaper than napi_unwrap()ing its owner. A slot lives as long as its
   * handle; the owner holds the number, and the handle outlives the owner. */
  struct evy_stream **slots;
  int *next_free;
  int nslots, free_slot;
  int live;     /* handles not yet freed: they read slots, so e outlives them */
  int released; /* the environment is gone (its instance data finalized) */
  int check_open;
  int nev;
  uv_check_t check;
  /* Slots of TLS streams with records to send that no write took yet (what
   * OpenSSL wrote during a read: session tickets, alerts, key updates): sent
   * at the end of the turn unless the application's next write takes them. */
  int *tls_out;
  int ntls_out, tls_out_cap;
} evy_env;

typedef struct evy_stream {
  union {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_tcp_t tcp;
    uv_pipe_t pipe;
    uv_udp_t udp;
  } h;
  napi_env env;
  evy_env *e;
  napi_ref owner; /* weak: the wrap's reference */
  int is_pipe;
  int is_udp;
  int queued; /* records in the current batch */
  int slot;
  int closing, closed, finalized;
  evy_tls *tls;   /* the TLS session decrypting its reads (tlsAttach), or NULL */
  int tls_gone;   /* it had one, freed while the stream is open: reads fail */
  int tls_listed; /* in e->tls_out */
} evy_stream;

typedef struct {
  union {
    uv_write_t write;
    uv_connect_t connect;
    uv_shutdown_t shutdown;
    uv_udp_send_t send;
  } req;
  evy_stream *s;
  napi_ref buf; /* keeps a queued write's Buffer alive */
  char *mem;    /* or owns its bytes (TLS records), freed when done */
  int silent;   /* JS did not ask for it: no K_WRITE */
} evy_req;

static int slot_take(evy_env *e, evy_stream *s) {
  if (e->free_slot < 0) {
    int n = e->nslots ? e->nslots * 2 : 1024;
    evy_stream **slots = realloc(e->slots, n * sizeof *slots);
    if (!slots) return -1;
    e->slots = slots;
    int *next = realloc(e->next_free, n * sizeof *next);
    if (!next) return -1;
    e->next_free = next;
    for (int i = e->nslots; i < n; i++) {
      slots[i] = NULL;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    e->free_slot = e->nslots;
    e->nslots = n;
  }
  int i = e->free_slot;
  e->free_slot = e->next_free[i];
  e->slots[i] = s;
  return i;
}

static void env_free(evy_env *e) {
  free(e->tls_out);
  free(e->froms);
  free(e->slots);
  free(e->next_free);
  free(e);
}

static void stream_free_if_done(evy_stream *s) {
  if (s->closed && s->finalized && s->queued == 0) {
    evy_env *e = s->e;
    if (s->slot >= 0) {
      e->slots[s->slot] = NULL;
      e->next_free[s->slot] = e->free_slot;
      e->free_slot = s->slot;
    }
    free(s);
    if (--e->live == 0 && e->released) env_free(e);
  }
}

static void on_close(uv_handle_t *h) {
  evy_stream *s = h->data;
  evy_instance *in = s->e->in;
  s->closed = 1;
  stream_free_if_done(s);
  evy_handle_closed(in);
}

static void stream_close(evy_stream *s) {
  if (s->closing) return;
  s->closing = 1;
  if (s->tls) evy_tls_link(s->tls, NULL);
  s->tls = NULL;
  uv_close(&s->h.handle, on_close);
}

static void on_finalize(napi_env env, void *data, void *hint) {
  evy_stream *s = data;
  s->finalized = 1;
  if (s->owner) napi_delete_reference(env, s->owner);
  s->owner = NULL;
  if (!s->closing) stream_close(s); /* collected without close() */
  else stream_free_if_done(s);
}

/* Delivers the batch to JS: flush(start, ...owners) with the owners of
 * records start.. as arguments (undefined where one was collected): passing
 * them as arguments costs no array stores. Events queued while JS runs go in
 * another round. */
static void flush(evy_env *e) {
  napi_env env = e->env;
  int start = 0;
  while (start < e->nev) {
    int end = e->nev;
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return;
    napi_value fn, recv, result, undef;
    napi_get_undefined(env, &undef);
    napi_value *argv = e->argv;
    napi_create_int32(env, start, &argv[0]);
    for (int i = start; i < end; i++) {
      evy_stream *s = e->sources[i];
      napi_value owner = NULL;
      if (s->owner != NULL) napi_get_reference_value(env, s->owner, &owner);
      argv[1 + i - start] = owner != NULL ? owner : undef;
    }
    napi_get_reference_value(env, e->dispatch, &fn);
    napi_get_global(env, &recv);
    if (napi_make_callback(env, NULL, recv, fn, (size_t)(1 + end - start), argv, &result) == napi_pending_exception) {
      napi_value err;
      napi_get_and_clear_last_exception(env, &err);
      napi_fatal_exception(env, err);
    }
    napi_close_handle_scope(env, scope);
    for (int i = start; i < end; i++) {
      evy_stream *s = e->sources[i];
      s->queued--;
      stream_free_if_done(s);
    }
    start = end;
  }
  e->nev = 0;
  e->slab_pos = 0;
}

/* Appends an event; flushes at once when the batch or the slab is full. */
static int queue_event(evy_stream *s, int kind, int value, size_t offset) {
  evy_env *e = s->e;
  if (e->dispatch == NULL) return -1;
  int i = e->nev++;
  int32_t *r = e->events + i * EV_INTS;
  r[0] = kind;
  r[1] = value;
  r[2] = (int32_t)offset;
  e->sources[i] = s;
  s->queued++;
  return i;
}

static void maybe_flush(evy_env *e) {
  if (e->nev == EV_MAX || SLAB_SIZE - e->slab_pos < READ_CHUNK) flush(e);
}

static void dispatch(evy_stream *s, int kind, int value) {
  if (queue_event(s, kind, value, 0) >= 0) maybe_flush(s->e);
}

static void tls_send_listed(evy_env *e);

static void on_check(uv_check_t *h) {
  evy_env *e = h->data;
  if (e->nev > 0) flush(e);
  if (e->ntls_out > 0) tls_send_listed(e);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  evy_env *e = ((evy_stream *)h->data)->e;
  *buf = uv_buf_init(e->slab_data + e->slab_pos, READ_CHUNK);
}

static void tls_on_read(evy_stream *s, size_t nread);

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  if (nread == 0) return; /* EAGAIN */
  evy_stream *s = st->data;
  evy_env *e = s->e;
  if (nread > 0 && s->tls != NULL) {
    tls_on_read(s, (size_t)nread);
    return;
  }
  if (nread > 0 && s->tls_gone) {
    /* its session was freed with the stream still open: no ciphertext as plaintext */
    uv_read_stop(st);
    nread = UV_EPROTO;
  }
  if (queue_event(s, K_READ, (int)nread, e->slab_pos) < 0) return;
  if (nread > 0) e->slab_pos += (size_t)nread;
  /* A read that filled its chunk is a bulk transfer: deliver it now, so JS can
   * pause a slow reader's socket before libuv reads the next chunk for it. */
  if (nread == READ_CHUNK) flush(e);
  else maybe_flush(e);
}

static void on_connection(uv_stream_t *st, int status) { dispatch(st->data, K_CONNECTION, status); }

static void on_connect(uv_connect_t *req, int status) {
  evy_req *r = (evy_req *)req;
  dispatch(r->s, K_CONNECT, status);
  free(r);
}

/* A queued write or datagram is done: its Buffer may go, JS hears K_WRITE. */
static void write_done(evy_req *r, int status) {
  if (r->buf) napi_delete_reference(r->s->env, r->buf);
  free(r->mem);
  if (!r->silent) dispatch(r->s, K_WRITE, status);
  free(r);
}

static void on_write(uv_write_t *req, int status) { write_done((evy_req *)req, status); }

static void on_shutdown(uv_shutdown_t *req, int status) {
  evy_req *r = (evy_req *)req;
  dispatch(r->s, K_SHUTDOWN, status);
  free(r);
}

static void on_udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr, unsigned flags) {
  evy_stream *s = h->data;
  evy_env *e = s->e;
  if (nread == 0 && addr == NULL) return; /* nothing more this time */
  int i = queue_event(s, K_DGRAM, (int)nread, e->slab_pos);
  if (i < 0) return;
  memset(&e->froms[i], 0, sizeof e->froms[i]);
  if (addr != NULL) {
    size_t len = addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    memcpy(&e->froms[i], addr, len);
  }
  if (nread > 0) e->slab_pos += (size_t)nread;
  maybe_flush(e);
}

static void on_udp_send(uv_udp_send_t *req, int status) { write_done((evy_req *)req, status); }

/* ---- argument helpers ---------------------------------------------------- */

static evy_stream *unwrap(napi_env env, napi_value owner, int allow_closed) {
  void *p = NULL;
  if (napi_unwrap(env, owner, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "not a native socket");
    return NULL;
  }
  evy_stream *s = p;
  if (!allow_closed && s->closing) {
    napi_value m, e, c;
    napi_create_string_utf8(env, "socket is closed", NAPI_AUTO_LENGTH, &m);
    napi_create_error(env, NULL, m, &e);
    napi_create_string_utf8(env, "EBADF", NAPI_AUTO_LENGTH, &c);
    napi_set_named_property(env, e, "code", c);
    napi_throw(env, e);
    return NULL;
  }
  return s;
}

static int get_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return -1;
  for (size_t i = argc; i < n; i++) napi_get_undefined(env, &argv[i]);
  return 0;
}

static int get_string(napi_env env, napi_value v, const char *name, char *out, size_t len) {
  size_t got;
  if (napi_get_value_string_utf8(env, v, out, len, &got) != napi_ok) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a string", name);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return -1;
  }
  return 0;
}

/* The bytes of a Buffer argument; a TypeError when it is not one. */
static int get_buffer(napi_env env, napi_value v, char **data, size_t *len) {
  bool is_buf = false;
  napi_is_buffer(env, v, &is_buf);
  if (!is_buf || napi_get_buffer_info(env, v, (void **)data, len) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "data must be a Buffer");
    return -1;
  }
  return 0;
}

/* A request for a queued write of Buffer `buf`, which it keeps alive until
 * write_done(). NULL with an exception pending when it cannot be made. */
static evy_req *write_req(napi_env env, evy_stream *s, napi_value buf, const char *syscall) {
  evy_req *r = calloc(1, sizeof *r);
  if (!r) {
    evy_throw_uv(env, UV_ENOMEM, syscall);
    return NULL;
  }
  r->s = s;
  if (napi_create_reference(env, buf, 1, &r->buf) != napi_ok) {
    free(r);
    evy_throw_last(env, syscall);
    return NULL;
  }
  return r;
}

/* Undoes write_req() when libuv refused the request. */
static napi_value write_refused(napi_env env, evy_req *r, int err, const char *syscall) {
  napi_delete_reference(env, r->buf);
  free(r);
  return evy_throw_uv(env, err, syscall);
}

/* "1.2.3.4" or "::1" and a port -> sockaddr. */
static int make_addr(napi_env env, napi_value host, napi_value port, struct sockaddr_storage *ss) {
  char ip[64];
  int32_t p;
  if (get_string(env, host, "host", ip, sizeof ip) < 0 || evy_arg_int(env, port, "port", &p) < 0) return -1;
  if (p < 0 || p > 65535) {
    napi_throw_range_error(env, "ERR_SOCKET_BAD_PORT", "port must be between 0 and 65535");
    return -1;
  }
  int err = strchr(ip, ':') ? uv_ip6_addr(ip, p, (struct sockaddr_in6 *)ss) : uv_ip4_addr(ip, p, (struct sockaddr_in *)ss);
  if (err < 0) {
    evy_throw_uv(env, err, "inet_pton");
    return -1;
  }
  return 0;
}

static evy_stream *stream_new(napi_env env, napi_value owner, int is_pipe, int family, int is_udp) {
  evy_env *e = evy_instance_of(env)->streams;
  if (e->dispatch == NULL) {
    napi_throw_error(env, NULL, "evy native: streamInit() was not called");
    return NULL;
  }
  evy_stream *s = calloc(1, sizeof *s);
  if (!s) {
    evy_throw_uv(env, UV_ENOMEM, "socket");
    return NULL;
  }
  int err = is_udp    ? uv_udp_init_ex(evy_loop(env), &s->h.udp, family)
            : is_pipe ? uv_pipe_init(evy_loop(env), &s->h.pipe, 0)
                      : uv_tcp_init_ex(evy_loop(env), &s->h.tcp, family);
  if (err < 0) {
    free(s);
    evy_throw_uv(env, err, "socket");
    return NULL;
  }
  s->h.handle.data = s;
  s->env = env;
  s->e = e;
  e->live++;
  evy_handle_opened(e->in);
  s->is_pipe = is_pipe;
  s->is_udp = is_udp;
  s->slot = slot_take(e, s);
  if (s->slot < 0) {
    s->finalized = 1;
    stream_close(s); /* freed by on_close */
    evy_throw_uv(env, UV_ENOMEM, "socket");
    return NULL;
  }
  if (napi_wrap(env, owner, s, on_finalize, NULL, &s->owner) != napi_ok) {
    s->finalized = 1;
    stream_close(s);
    evy_throw_last(env, "napi_wrap");
    return NULL;
  }
  return s;
}

/* The slot number of a new handle, for JS (NULL: an exception is pending). */
static napi_value slot_value(napi_env env, evy_stream *s) {
  napi_value v;
  if (s == NULL || napi_create_int32(env, s->slot, &v) != napi_ok) return NULL;
  return v;
}

/* ---- JS functions -------------------------------------------------------- */

static void on_check_closed(uv_handle_t *h) {
  evy_env *e = h->data;
  evy_handle_closed(e->in);
}

/* streamInit(flush) -> [slab, events]: the shared read slab (a Buffer) and the
 * event records (an Int32Array, EV_INTS per record). */
static napi_value stream_init(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (get_args(env, info, 1, argv) < 0) return NULL;
  evy_env *e = evy_instance_of(env)->streams;
  if (e->dispatch != NULL || e->in->ending) {
    napi_throw_error(env, NULL, "evy native: streamInit() called twice");
    return NULL;
  }
  napi_value slab, ab, events, ret;
  e->froms = calloc(EV_MAX, sizeof *e->froms);
  if (!e->froms) return evy_throw_uv(env, UV_ENOMEM, "streamInit");
  EVY_CALL(env, napi_create_buffer(env, SLAB_SIZE, (void **)&e->slab_data, &slab));
  EVY_CALL(env, napi_create_reference(env, slab, 1, &e->slab));
  EVY_CALL(env, napi_create_arraybuffer(env, EV_MAX * EV_INTS * sizeof(int32_t), (void **)&e->events, &ab));
  EVY_CALL(env, napi_create_typedarray(env, napi_int32_array, EV_MAX * EV_INTS, ab, 0, &events));
  EVY_CALL(env, napi_create_reference(env, events, 1, &e->events_ref));
  int err = uv_check_init(evy_loop(env), &e->check);
  if (err < 0) return evy_throw_uv(env, err, "streamInit");
  e->check.data = e;
  e->check_open = 1;
  evy_handle_opened(e->in);
  uv_check_start(&e->check, on_check);
  uv_unref((uv_handle_t *)&e->check);
  EVY_CALL(env, napi_create_reference(env, argv[0], 1, &e->dispatch));
  napi_create_array_with_length(env, 2, &ret);
  napi_set_element(env, ret, 0, slab);
  napi_set_element(env, ret, 1, events);
  return ret;
}

/* tcpOpen(owner, family): family 2 (AF_INET), 10 (AF_INET6), or 0 (created at bind/connect). */
static napi_value tcp_open(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t family;
  if (get_args(env, info, 2, argv) < 0 || evy_arg_int(env, argv[1], "family", &family) < 0) return NULL;
  int f = family == 10 ? AF_INET6 : family == 2 ? AF_INET : AF_UNSPEC;
  return slot_value(env, stream_new(env, argv[0], 0, f, 0));
}

/* udpOpen(owner, family): family 2 or 10. */
static napi_value udp_open(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t family;
  if (get_args(env, info, 2, argv) < 0 || evy_arg_int(env, argv[1], "family", &family) < 0) return NULL;
  return slot_value(env, stream_new(env, argv[0], 0, family == 10 ? AF_INET6 : AF_INET, 1));
}

static napi_value pipe_open(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (get_args(env, info, 1, argv) < 0) return NULL;
  return slot_value(env, stream_new(env, argv[0], 1, 0, 0));
}

/* bind(owner, host, port, ipv6only) for TCP; bind(owner, path) for pipes. */
static napi_value stream_bind(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (get_args(env, info, 4, argv) < 0) return NULL;
  evy_stream *s = unwrap(env, argv[0], 0);
  if (!s) return NULL;
  int err;
  if (s->is_pipe) {
    char path[1024];
    if (get_string(env, argv[1], "path", path, sizeof path) < 0) return NULL;
    err = uv_pipe_bind(&s->h.pipe, path);
  } else {
    struct sockaddr_storage ss;
    if (make_addr(env, argv[1], argv[2], &ss) < 0) return NULL;
    bool v6only = false;
    napi_get_value_bool(env, argv[3], &v6only);
    err = s->is_udp ? uv_udp_bind(&s->h.udp, (struct sockaddr *)&ss, (v6only ? UV_UDP_IPV6ONLY : 0) | UV_UDP_REUSEADDR)
                    : uv_tcp_bind(&s->h.tcp, (struct sockaddr *)&ss, v6only ? UV_TCP_IPV6ONLY : 0);
  }
  if (err < 0) return evy_throw_uv(env, err, "bind");
  return NULL;
}

static napi_value stream_listen(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t backlog;
  if (get_args(env, info, 2, argv) < 0) return NULL;
  evy_stream *s = unwrap(env, argv[0], 0);
  if (!s || evy_arg_int(env, argv[1], "backlog", &backlog) < 0) return NULL;
  int err = uv_listen(&s->h.stream, backlog, on_connection);
  if (err < 0) return evy_throw_uv(env, err, "listen");
  return NULL;
}

/* accept(server, newOwner): wraps a new handle onto newOwner and accepts into it. */
static napi_value stream_accept(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (get_args(env, info, 2, argv) < 0) return NULL;
  evy_stream *srv = unwrap(env, argv[0], 0);
  if (!srv) return NULL;
  evy_stream *c = stream_new(env, argv[1], srv->is_pipe, AF_UNSPEC, 0);
  if (!c) return NULL;
  int err = uv_accept(&srv->h.stream, &c->h.stream);
  if (err < 0) {
    stream_close(c);
    return evy_throw_uv(env, err, "accept");
  }
  return slot_value(env, c);
}

/* connect(owner, host, port) for TCP; connect(owner, path) for pipes. */
static napi_value stream_connect(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (get_args(env, info, 3, argv) < 0) return NULL;
  evy_stream *s = unwrap(env, argv[0], 0);
  if (!s) return NULL;
  evy_req *r = calloc(1, sizeof *r);
  if (!r) return evy_throw_uv(env, UV_ENOMEM, "connect");
  r->s = s;
  if (s->is_pipe) {
    char path[1024];
    if (get_string(env, argv[1], "path", path, sizeof path) < 0) {
      free(r);
      return NULL;
    }
    uv_pipe_connect(&r->req.connect, &s->h.pipe, path, on_connect);
    return NULL;
  }
  struct sockaddr_storage ss;
  if (make_addr(env, argv[1], argv[2], &ss) < 0) {
    free(r);
    return NULL;
  }
  int err = uv_tcp_connect(&r->req.connect, &s->h.tcp, (struct sockaddr *)&ss, on_connect);
  if (err < 0) {
    free(r);
    return evy_throw_uv(env, err, "connect");
  }
  return NULL;
}

/* readStart(owner): stream reads, or datagrams for a UDP socket. */
static napi_value stream_read_start(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (get_args(env, info, 1, argv) < 0) return NULL;
  evy_stream *s = unwrap(env, argv[0], 0);
  if (!s) return NULL;
  int err = s->is_udp ? uv_udp_recv_start(&s->h.udp, on_alloc, on_udp_recv) : uv_read_start(&s->h.stream, on_alloc, on_read);
  if (err < 0 && err != UV_EALREADY) return evy_throw_uv(env, err, s->is_udp ? "recvfrom" : "read");
  return NULL;
}

static napi_value stream_read_stop(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (get_args(env, info, 1, argv) < 0) return NULL;
  evy_stream *s = unwrap(env, argv[0], 1);
  if (s && !s->closing) {
    if (s->is_udp) uv_udp_recv_stop(&s->h.udp);
    else uv_read_stop(&s->h.stream);
  }
  return NULL;
}

/* write(slot, buffer) -> bytes written at once. Less than the length: the
 * rest is queued and a K_WRITE event reports its completion. */
static napi_value stream_write(napi_env env, napi_callback_info info) {
  napi_value argv[2], ret;
  int32_t slot;
  if (get_args(env, info, 2, argv) < 0 || evy_arg_int(env, argv[0], "slot", &slot) < 0) return NULL;
  evy_env *e = evy_instance_of(env)->streams;
  evy_stream *s = slot >= 0 && slot < e->nslots ? e->slots[slot] : NULL;
  if (s == NULL || s->closing) return evy_throw_uv(env, UV_EBADF, "write");
  char *data;
  size_t len;
  if (get_buffer(env, argv[1], &data, &len) < 0) return NULL;
  uv_buf_t b = uv_buf_init(data, (unsigned)len);
  int n = len ? uv_try_write(&s->h.stream, &b, 1) : 0;
  if (n < 0 && n != UV_EAGAIN && n != UV_ENOSYS) return evy_throw_uv(env, n, "write");
  if (n < 0) n = 0;
  if ((size_t)n < len) {
    evy_req *r = write_req(env, s, argv[1], "write");
    if (!r) return NULL;
    b = uv_buf_init(data + n, (unsigned)(len - n));
    int err = uv_write(&r->req.write, &s->h.stream, &b, 1, on_write);
    if (err < 0) return write_refused(env, r, err, "write");
  }
  napi_create_int32(env, n, &ret);
  return ret;
}

static napi_value stream_shutdown(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (get_args(env, info, 1, argv) < 0) return NULL;
  evy_stream *s = unwrap(env, argv[0], 0);
  if (!s) return NULL;
  evy_req *r = calloc(1, sizeof *r);
  if (!r) return evy_throw_uv(env, UV_ENOMEM, "shutdown");
  r->s = s;
  int err = uv_shutdown(&r->req.shutdown, &s->h.stream, on_shutdown);
  if (err < 0) {
    free(r);
    return evy_throw_uv(env, err, "shutdown");
  }
  return NULL;
}

/* close(owner): harmless when already closed. */
static napi_value stream_close_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (get_args(env, info, 1, argv) < 0) return NULL;
  evy_stream *s = unwrap(env, argv[0], 1);
  if (s) stream_close(s);
  return NULL;
}

static napi_value addr_value(napi_env env, struct sockaddr_storage *ss) {
  char ip[64] = "";
  int port = 0;
  if (ss->ss_family == AF_INET6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    uv_ip6_name(a, ip, sizeof ip);
    port = ntohs(a->sin6_port);
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    uv_ip4_name(a, ip, sizeof ip);
    port = ntohs(a->sin_port);
  }
  napi_value arr, v;
  napi_create_array_with_length(env, 2, &arr);
  napi_create_string_utf8(env, ip, NAPI_AUTO_LENGTH, &v);
  napi_set_element(env, arr, 0, v);
  napi_create_int32(env, port, &v);
  napi_set_element(env, arr, 1, v);
  return arr;
}

/* name(owner, peer) -> [host, port] for TCP, a path for pipes. */
static napi_value stream_name(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (get_args(env, info, 2, argv) < 0) return NULL;
  evy_stream *s = unwrap(env, argv[0], 0);
  if (!s) return NULL;
  bool peer = false;
  napi_get_value_bool(env, argv[1], &peer);
  int err;
  if (s->is_pipe) {
    char path[1024];
    size_t len = sizeof path;
    err = peer ? uv_pipe_getpeername(&s->h.pipe, path, &len) : uv_pipe_getsockname(&s->h.pipe, path, &len);
    if (err < 0) return evy_throw_uv(env, err, peer ? "getpeername" : "getsockname");
    napi_value v;
    napi_create_string_utf8(env, path, len, &v);
    return v;
  }
  struct sockaddr_storage ss;
  int len = sizeof ss;
  memset(&ss, 0, sizeof ss);
  if (s->is_udp)
    err = peer ? uv_udp_getpeername(&s->h.udp, (struct sockaddr *)&ss, &len)
               : uv_udp_getsockname(&s->h.udp, (struct sockaddr *)&ss, &len);
  else
    err = peer ? uv_tcp_getpeername(&s->h.tcp, (struct sockaddr *)&ss, &len)
               : uv_tcp_getsockname(&s->h.tcp, (struct sockaddr *)&ss, &len);
  if (err < 0) return evy_throw_uv(env, err, peer ? "getpeername" : "getsockname");
  return addr_value(env, &ss);
}

static napi_value stream_fileno(napi_env env, napi_callback_info info) {
  napi_value argv[1], v;
  if (get_args(env, info, 1, argv) < 0) return NULL;
  evy_stream *s = unwrap(env, argv[0], 0);
  if (!s) return NULL;
  uv_os_fd_t fd;
  int err = uv_fileno(&s->h.handle, &fd);
  napi_create_int32(env, err < 0 ? -1 : fd, &v);
  return v;
}

/* setsockopt(fd, level, name, value) and getsockopt(fd, level, name): int options. */
static napi_value sock_setopt(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int32_t fd, level, name, value;
  if (get_args(env, info, 4, argv) < 0 || evy_arg_int(env, argv[0], "fd", &fd) < 0 ||
      evy_arg_int(env, argv[1], "level", &level) < 0 || evy_arg_int(env, argv[2], "option", &name) < 0 ||
      evy_arg_int(env, argv[3], "value", &value) < 0)
    return NULL;
  int v = value;
  if (setsockopt(fd, level, name, &v, sizeof v) < 0) return evy_throw_uv(env, uv_translate_sys_error(errno), "setsockopt");
  return NULL;
}

static napi_value sock_getopt(napi_env env, napi_callback_info info) {
  napi_value argv[3], ret;
  int32_t fd, level, name;
  if (get_args(env, info, 3, argv) < 0 || evy_arg_int(env, argv[0], "fd", &fd) < 0 ||
      evy_arg_int(env, argv[1], "level", &level) < 0 || evy_arg_int(env, argv[2], "option", &name) < 0)
    return NULL;
  int v = 0;
  socklen_t len = sizeof v;
  if (getsockopt(fd, level, name, &v, &len) < 0) return evy_throw_uv(env, uv_translate_sys_error(errno), "getsockopt");
  napi_create_int32(env, v, &ret);
  return ret;
}

/* udpFrom(i) -> [host, port]: the sender of record i of the batch being delivered. */
static napi_value udp_from(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t i;
  if (get_args(env, info, 1, argv) < 0 || evy_arg_int(env, argv[0], "index", &i) < 0) return NULL;
  evy_env *e = evy_instance_of(env)->streams;
  if (i < 0 || i >= e->nev) {
    napi_throw_range_error(env, NULL, "udpFrom: no such record");
    return NULL;
  }
  return addr_value(env, &e->froms[i]);
}

/* udpConnect(owner, host, port): the default peer of send(); connect(owner) with no host dissolves it. */
static napi_value udp_connect(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (get_args(env, info, 3, argv) < 0) return NULL;
  evy_stream *s = unwrap(env, argv[0], 0);
  if (!s) return NULL;
  napi_valuetype t;
  napi_typeof(env, argv[1], &t);
  int err;
  if (t == napi_undefined) {
    err = uv_udp_connect(&s->h.udp, NULL);
  } else {
    struct sockaddr_storage ss;
    if (make_addr(env, argv[1], argv[2], &ss) < 0) return NULL;
    err = uv_udp_connect(&s->h.udp, (struct sockaddr *)&ss);
  }
  if (err < 0) return evy_throw_uv(env, err, "connect");
  return NULL;
}

/* udpSend(owner, buffer, host?, port?) -> 1 if sent at once, 0 if queued (a
 * K_WRITE event follows). No host: to the connected peer. */
static napi_value udp_send(napi_env env, napi_callback_info info) {
  napi_value argv[4], ret;
  if (get_args(env, info, 4, argv) < 0) return NULL;
  evy_stream *s = unwrap(env, argv[0], 0);
  if (!s) return NULL;
  char *data;
  size_t len;
  if (get_buffer(env, argv[1], &data, &len) < 0) return NULL;
  struct sockaddr_storage ss;
  struct sockaddr *to = NULL;
  napi_valuetype t;
  napi_typeof(env, argv[2], &t);
  if (t != napi_undefined) {
    if (make_addr(env, argv[2], argv[3], &ss) < 0) return NULL;
    to = (struct sockaddr *)&ss;
  }
  uv_buf_t b = uv_buf_init(data, (unsigned)len);
  int n = uv_udp_try_send(&s->h.udp, &b, 1, to);
  if (n >= 0) {
    napi_create_int32(env, 1, &ret);
    return ret;
  }
  if (n != UV_EAGAIN) return evy_throw_uv(env, n, "sendto");
  evy_req *r = write_req(env, s, argv[1], "sendto");
  if (!r) return NULL;
  int err = uv_udp_send(&r->req.send, &s->h.udp, &b, 1, to, on_udp_send);
  if (err < 0) return write_refused(env, r, err, "sendto");
  napi_create_int32(env, 0, &ret);
  return ret;
}

/* ---- TLS on a stream (tls.c does OpenSSL) --------------------------------- */

void evy_stream_tls_gone(struct evy_stream *s) {
  s->tls = NULL;
  s->tls_gone = 1;
}

static void tls_list(evy_stream *s) {
  evy_env *e = s->e;
  if (s->tls_listed) return;
  if (e->ntls_out == e->tls_out_cap) {
    int n = e->tls_out_cap ? e->tls_out_cap * 2 : 64;
    int *p = realloc(e->tls_out, n * sizeof *p);
    if (!p) return; /* sent with the next write instead */
    e->tls_out = p;
    e->tls_out_cap = n;
  }
  e->tls_out[e->ntls_out++] = s->slot;
  s->tls_listed = 1;
}

/* Sends the records waiting in s's session: what the kernel takes now, the
 * rest in a queued write that owns them. 1: all sent at once, 0: queued
 * (K_WRITE follows unless silent), < 0: a uv error. */
static int tls_send_out(evy_stream *s, int silent) {
  char *p;
  size_t n = evy_tls_out(s->tls, &p);
  if (n == 0) return 1;
  uv_buf_t b = uv_buf_init(p, (unsigned)n);
  int w = uv_try_write(&s->h.stream, &b, 1);
  if (w < 0 && w != UV_EAGAIN && w != UV_ENOSYS) {
    evy_tls_sent(s->tls);
    return w;
  }
  if (w < 0) w = 0;
  if ((size_t)w == n) {
    evy_tls_sent(s->tls);
    return 1;
  }
  evy_req *r = calloc(1, sizeof *r);
  if (!r) return UV_ENOMEM;
  r->s = s;
  r->silent = silent;
  r->mem = evy_tls_take_out(s->tls);
  b = uv_buf_init(r->mem + w, (unsigned)(n - (size_t)w));
  int err = uv_write(&r->req.write, &s->h.stream, &b, 1, on_write);
  if (err < 0) {
    free(r->mem);
    free(r);
    return err;
  }
  return 0;
}

/* The turn's end: records no write took go out on their own. */
static void tls_send_listed(evy_env *e) {
  for (int i = 0; i < e->ntls_out; i++) {
    int slot = e->tls_out[i];
    evy_stream *s = slot < e->nslots ? e->slots[slot] : NULL;
    if (s == NULL) continue;
    s->tls_listed = 0;
    if (s->tls != NULL && !s->closing) (void)tls_send_out(s, 1);
  }
  e->ntls_out = 0;
}

/* What a TLS stream read: its session reads the ciphertext where it landed
 * in the slab, and the plaintext, written after it, is delivered as any read
 * is, in its place. */
static void tls_on_read(evy_stream *s, size_t nread) {
  evy_env *e = s->e;
  int bulk = nread == READ_CHUNK, end = 0;
  evy_tls *t = s->tls;
  evy_tls_feed(t, e->slab_data + e->slab_pos, nread);
  e->slab_pos += nread;
  for (;;) {
    if (SLAB_SIZE - e->slab_pos < READ_CHUNK) {
      /* no room after the ciphertext: what OpenSSL has not read of it is
       * copied, and the batch goes to JS to free the slab */
      if (evy_tls_keep(t) < 0) end = UV_ENOMEM;
      flush(e);
      if (s->closing || s->tls == NULL) return;
      if (end) break;
    }
    size_t got = 0;
    int r = evy_tls_decrypt(t, e->slab_data + e->slab_pos, READ_CHUNK, &got);
    if (got > 0) {
      if (queue_event(s, K_READ, (int)got, e->slab_pos) < 0) break;
      e->slab_pos += got;
    }
    /* nothing after close_notify counts; nothing after an error can */
    if (r == EVY_TLS_EOF || r == EVY_TLS_FAILED) end = r == EVY_TLS_EOF ? UV_EOF : UV_EPROTO;
    if (r != EVY_TLS_MORE) break;
  }
  char *p;
  if (evy_tls_out(t, &p) > 0) tls_list(s);
  if (evy_tls_keep(t) < 0 && !end) end = UV_ENOMEM;
  if (end) {
    uv_read_stop(&s->h.stream);
    dispatch(s, K_READ, end);
  } else if (bulk)
    flush(e);
  else
    maybe_flush(e);
}

/* tlsAttach(slot, tlsOwner): from now on the stream's reads are decrypted by
 * the session on tlsOwner (tls.c) and tlsSend() encrypts its writes. */
static napi_value tls_attach(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t slot;
  if (get_args(env, info, 2, argv) < 0 || evy_arg_int(env, argv[0], "slot", &slot) < 0) return NULL;
  evy_env *e = evy_instance_of(env)->streams;
  evy_stream *s = slot >= 0 && slot < e->nslots ? e->slots[slot] : NULL;
  if (s == NULL || s->closing || s->is_udp) return evy_throw_uv(env, UV_EBADF, "tlsAttach");
  evy_tls *t = evy_tls_unwrap(env, argv[1]);
  if (t == NULL || s->tls != NULL) {
    napi_throw_error(env, "EINVAL", "tlsAttach: not a live TLS session, or the stream has one");
    return NULL;
  }
  s->tls = t;
  evy_tls_link(t, s);
  char *p;
  if (evy_tls_out(t, &p) > 0) tls_list(s); /* the handshake's last flight */
  return NULL;
}

/* The TLS stream on slot v, or NULL with an exception pending. */
static evy_stream *tls_stream(napi_env env, napi_value v, const char *what) {
  int32_t slot;
  if (evy_arg_int(env, v, "slot", &slot) < 0) return NULL;
  evy_env *e = evy_instance_of(env)->streams;
  evy_stream *s = slot >= 0 && slot < e->nslots ? e->slots[slot] : NULL;
  if (s == NULL || s->closing) {
    evy_throw_uv(env, UV_EBADF, what);
    return NULL;
  }
  if (s->tls == NULL) {
    napi_throw_error(env, "EBADF", "TLS: the connection is closed");
    return NULL;
  }
  return s;
}

/* tlsSend(slot, buffer) -> buffer's length when its records (and any waiting
 * before them) went out at once, -1 when they were queued: a K_WRITE event
 * reports their completion. */
static napi_value tls_send(napi_env env, napi_callback_info info) {
  napi_value argv[2], ret;
  if (get_args(env, info, 2, argv) < 0) return NULL;
  evy_stream *s = tls_stream(env, argv[0], "write");
  if (!s) return NULL;
  char *data;
  size_t len;
  if (get_buffer(env, argv[1], &data, &len) < 0 || evy_tls_encrypt(env, s->tls, data, len) == NULL) return NULL;
  int r = tls_send_out(s, 0);
  if (r < 0) return evy_throw_uv(env, r, "write");
  napi_create_int32(env, r == 1 ? (int32_t)len : -1, &ret);
  return ret;
}

/* tlsError(slot) -> the error that ended the stream's TLS reads (EPROTO), as
 * Node names it; an EPROTO error when its session is gone. */
static napi_value tls_error(napi_env env, napi_callback_info info) {
  napi_value argv[1], m, err, c;
  int32_t slot;
  if (get_args(env, info, 1, argv) < 0 || evy_arg_int(env, argv[0], "slot", &slot) < 0) return NULL;
  evy_env *e = evy_instance_of(env)->streams;
  evy_stream *s = slot >= 0 && slot < e->nslots ? e->slots[slot] : NULL;
  if (s != NULL && s->tls != NULL) return evy_tls_error(env, s->tls);
  napi_create_string_utf8(env, "TLS: the session was freed with its socket open", NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, NULL, m, &err);
  napi_create_string_utf8(env, "EPROTO", NAPI_AUTO_LENGTH, &c);
  napi_set_named_property(env, err, "code", c);
  return err;
}

/* The environment ends: events not yet delivered are dropped (JS will not run
 * again), and every handle still open is closed. */
void evy_stream_teardown(evy_instance *in) {
  evy_env *e = in->streams;
  if (!e) return;
  for (int i = 0; i < e->nev; i++) e->sources[i]->queued--;
  e->nev = 0;
  if (e->dispatch) napi_delete_reference(e->env, e->dispatch);
  e->dispatch = NULL; /* queue_event() drops from here on */
  if (e->check_open) {
    e->check_open = 0;
    uv_check_stop(&e->check);
    uv_close((uv_handle_t *)&e->check, on_check_closed);
  }
  for (int i = 0; i < e->nslots; i++)
    if (e->slots[i] && !e->slots[i]->closing) stream_close(e->slots[i]);
}

/* After teardown and after every owner's finalizer: the last handle freed, or
 * this, frees the state. */
void evy_stream_release(evy_instance *in) {
  evy_env *e = in->streams;
  if (!e) return;
  napi_env env = e->env;
  if (e->dispatch) napi_delete_reference(env, e->dispatch);
  if (e->slab) napi_delete_reference(env, e->slab);
  if (e->events_ref) napi_delete_reference(env, e->events_ref);
  e->dispatch = e->slab = e->events_ref = NULL;
  e->released = 1;
  if (e->live == 0) env_free(e);
}

/* dupFd(fd, onto): a close-on-exec duplicate of fd, onto -1: a new fd; onto an
 * fd: that fd now refers to fd's socket (dup2), and stays its number. `evy run
 * --workers` shares one listening socket this way: a worker's green socket
 * adopts the supervisor's inherited fd before listen(). */
static napi_value sock_dup(napi_env env, napi_callback_info info) {
  napi_value argv[2], ret;
  int32_t fd, onto;
  if (get_args(env, info, 2, argv) < 0 || evy_arg_int(env, argv[0], "fd", &fd) < 0 ||
      evy_arg_int(env, argv[1], "onto", &onto) < 0)
    return NULL;
  int r = onto < 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : onto == fd ? fd : dup2(fd, onto);
  if (r >= 0 && onto >= 0 && onto != fd && fcntl(r, F_SETFD, FD_CLOEXEC) < 0) r = -1;
  if (r < 0) return evy_throw_uv(env, uv_translate_sys_error(errno), "dup");
  napi_create_int32(env, r, &ret);
  return ret;
}

napi_status evy_init_stream(napi_env env, napi_value exports) {
  evy_env *e = calloc(1, sizeof *e);
  if (!e) return napi_generic_failure;
  e->env = env;
  e->in = evy_instance_of(env);
  e->in->streams = e;
  e->free_slot = -1;
  napi_status st;
#define FN(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_default, NULL}
  napi_property_descriptor props[] = {
      FN("streamInit", stream_init), FN("tcpOpen", tcp_open),       FN("pipeOpen", pipe_open),
      FN("bind", stream_bind),       FN("listen", stream_listen),   FN("accept", stream_accept),
      FN("connect", stream_connect), FN("readStart", stream_read_start), FN("readStop", stream_read_stop),
      FN("write", stream_write),     FN("shutdown", stream_shutdown), FN("close", stream_close_js),
      FN("name", stream_name),       FN("fileno", stream_fileno),   FN("setsockopt", sock_setopt),
      FN("getsockopt", sock_getopt), FN("udpOpen", udp_open),   FN("udpSend", udp_send), FN("udpFrom", udp_from),
      FN("udpConnect", udp_connect),
      FN("dupFd", sock_dup),
      FN("tlsAttach", tls_attach),   FN("tlsSend", tls_send),   FN("tlsError", tls_error),
  };
#undef FN
  st = napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  if (st != napi_ok) return st;
  const struct { const char *name; int value; } consts[] = {
      {"K_READ", K_READ}, {"K_CONNECTION", K_CONNECTION}, {"K_CONNECT", K_CONNECT},
      {"K_WRITE", K_WRITE}, {"K_SHUTDOWN", K_SHUTDOWN}, {"K_DGRAM", K_DGRAM},
      {"UV_EOF", UV_EOF},
      {"AF_INET", AF_INET}, {"AF_INET6", AF_INET6}, {"AF_UNIX", AF_UNIX},
      {"SOCK_STREAM", SOCK_STREAM}, {"SOCK_DGRAM", SOCK_DGRAM},
      {"SOL_SOCKET", SOL_SOCKET}, {"SO_REUSEADDR", SO_REUSEADDR}, {"SO_REUSEPORT", SO_REUSEPORT},
      {"SO_KEEPALIVE", SO_KEEPALIVE}, {"SO_RCVBUF", SO_RCVBUF}, {"SO_SNDBUF", SO_SNDBUF},
      {"SO_ERROR", SO_ERROR}, {"SO_TYPE", SO_TYPE}, {"IPPROTO_TCP", IPPROTO_TCP}, {"TCP_NODELAY", TCP_NODELAY},
  };
  for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++) {
    napi_value v;
    napi_create_int32(env, consts[i].value, &v);
    st = napi_set_named_property(env, exports, consts[i].name, v);
    if (st != napi_ok) return st;
  }
  return napi_ok;
}
