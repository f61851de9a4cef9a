/* evy's native hub: uv_poll_t listeners on arbitrary file descriptors.
 *
 * JS owns a poll through a plain object the poll is wrapped onto; the uv
 * handle is freed once it has been closed (uv_close's callback ran) and the
 * object has been finalized, in whichever order those happen, so a handle is
 * closed and freed exactly once whether JS calls pollClose() or simply drops
 * the object. (A wrap, not an external: the wrap's reference is ours to
 * delete, where an external's would leak when it is still alive at the
 * environment's teardown.) */
#include "evy.h"

#include <stdlib.h>

typedef struct evy_poll {
  uv_poll_t handle;
  napi_env env;
  evy_instance *in;
  struct evy_poll *prev, *next; /* the environment's open polls */
  napi_ref cb;
  napi_ref owner; /* weak: the wrap's reference */
  napi_async_context ctx;
  int closing;   /* uv_close requested */
  int closed;    /* uv_close callback ran */
  int finalized; /* the JS external was collected */
} evy_poll;

static void poll_free_if_done(evy_poll *p) {
  if (p->closed && p->finalized) free(p);
}

/* Runs on the loop (never inside GC), so the JS side is released here for both
 * ways of closing: pollClose() and a finalized external. */
static void on_close(uv_handle_t *h) {
  evy_poll *p = h->data;
  evy_instance *in = p->in;
  if (p->prev) p->prev->next = p->next;
  else in->polls = p->next;
  if (p->next) p->next->prev = p->prev;
  if (p->cb) napi_delete_reference(p->env, p->cb);
  p->cb = NULL;
  if (p->ctx) napi_async_destroy(p->env, p->ctx);
  p->ctx = NULL;
  p->closed = 1;
  poll_free_if_done(p);
  evy_handle_closed(in);
}

static void poll_close(evy_poll *p) {
  if (p->closing) return;
  p->closing = 1; /* on_poll ignores events from here on */
  uv_close((uv_handle_t *)&p->handle, on_close);
}

static void on_finalize(napi_env env, void *data, void *hint) {
  evy_poll *p = data;
  p->finalized = 1;
  if (p->owner) napi_delete_reference(env, p->owner);
  p->owner = NULL;
  if (!p->closing) poll_close(p); /* dropped without pollClose() */
  else poll_free_if_done(p);
}

void evy_poll_teardown(evy_instance *in) {
  for (evy_poll *p = in->polls; p; p = p->next) poll_close(p);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  evy_poll *p = h->data;
  if (p->closing || !p->cb || p->in->ending) return;
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, argv[2], result;
  napi_get_reference_value(env, p->cb, &cb);
  napi_get_global(env, &recv); /* make_callback needs an object receiver */
  napi_create_int32(env, status < 0 ? 0 : events, &argv[0]);
  napi_create_int32(env, status, &argv[1]);
  /* make_callback (not call_function) so that microtasks and nextTicks queued by
   * the callback run before libuv moves on, as after any Node callback. */
  if (napi_make_callback(env, p->ctx, recv, cb, 2, argv, &result) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
}

static evy_poll *poll_arg(napi_env env, napi_value v) {
  void *data = NULL;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_object || napi_unwrap(env, v, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "poll handle expected");
    return NULL;
  }
  return data;
}

/* pollOpen(fd, cb(events, status)) -> an object owning the poll, which starts idle. */
static napi_value poll_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  EVY_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  if (evy_arg_int(env, argv[0], "fd", &fd) < 0) return NULL;
  napi_valuetype t;
  napi_typeof(env, argv[1], &t);
  if (t != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "callback must be a function");
    return NULL;
  }
  evy_poll *p = calloc(1, sizeof *p);
  if (!p) return evy_throw_uv(env, UV_ENOMEM, "uv_poll_init");
  int err = uv_poll_init(evy_loop(env), &p->handle, fd);
  if (err < 0) {
    free(p);
    return evy_throw_uv(env, err, "uv_poll_init");
  }
  p->handle.data = p;
  p->env = env;
  p->in = evy_instance_of(env);
  p->next = p->in->polls;
  if (p->next) p->next->prev = p;
  p->in->polls = p;
  evy_handle_opened(p->in);
  napi_value name, obj;
  napi_create_string_utf8(env, "evy.poll", NAPI_AUTO_LENGTH, &name);
  if (napi_create_reference(env, argv[1], 1, &p->cb) != napi_ok ||
      napi_async_init(env, argv[1], name, &p->ctx) != napi_ok ||
      napi_create_object(env, &obj) != napi_ok || napi_wrap(env, obj, p, on_finalize, NULL, &p->owner) != napi_ok) {
    p->finalized = 1;
    poll_close(p);
    evy_throw_last(env, "pollOpen");
    return NULL;
  }
  return obj;
}

/* pollStart(handle, events): events 0 stops polling without closing. */
static napi_value poll_start(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  EVY_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  evy_poll *p = poll_arg(env, argv[0]);
  if (!p) return NULL;
  int32_t events;
  if (evy_arg_int(env, argv[1], "events", &events) < 0) return NULL;
  if (p->closing) {
    napi_throw_error(env, "ERR_EVY_CLOSED", "poll handle is closed");
    return NULL;
  }
  int err = events ? uv_poll_start(&p->handle, events, on_poll) : uv_poll_stop(&p->handle);
  if (err < 0) return evy_throw_uv(env, err, "uv_poll_start");
  return NULL;
}

static napi_value poll_close_js(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  EVY_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  evy_poll *p = poll_arg(env, argv[0]);
  if (!p) return NULL;
  poll_close(p);
  return NULL;
}

napi_status evy_init_poll(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"pollOpen", NULL, poll_open, NULL, NULL, NULL, napi_default, NULL},
      {"pollStart", NULL, poll_start, NULL, NULL, NULL, napi_default, NULL},
      {"pollClose", NULL, poll_close_js, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_status s = napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  if (s != napi_ok) return s;
  const struct { const char *name; int value; } consts[] = {
      {"READABLE", UV_READABLE}, {"WRITABLE", UV_WRITABLE}, {"DISCONNECT", UV_DISCONNECT}};
  for (size_t i = 0; i < sizeof consts / sizeof consts[0]; i++) {
    napi_value v;
    napi_create_int32(env, consts[i].value, &v);
    s = napi_set_named_property(env, exports, consts[i].name, v);
    if (s != napi_ok) return s;
  }
  return napi_ok;
}
