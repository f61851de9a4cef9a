/* evy's native hub: module entry and the helpers every handle kind shares. */
#include "evy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void evy_throw_last(napi_env env, const char *what) {
  const napi_extended_error_info *info = NULL;
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return;
  napi_get_last_error_info(env, &info);
  char msg[256];
  snprintf(msg, sizeof msg, "evy native: %s failed: %s", what,
           info && info->error_message ? info->error_message : "unknown error");
  napi_throw_error(env, NULL, msg);
}

napi_value evy_throw_uv(napi_env env, int err, const char *syscall) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s %s: %s", syscall, uv_err_name(err), uv_strerror(err));
  napi_value m, e, v;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, NULL, m, &e);
  napi_create_string_utf8(env, uv_err_name(err), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, e, "code", v);
  napi_create_int32(env, err, &v);
  napi_set_named_property(env, e, "errno", v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, e, "syscall", v);
  napi_throw(env, e);
  return NULL;
}

uv_loop_t *evy_loop(napi_env env) {
  uv_loop_t *loop = NULL;
  napi_get_uv_event_loop(env, &loop);
  return loop;
}

int evy_arg_int(napi_env env, napi_value v, const char *name, int32_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be a number", name);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return -1;
  }
  napi_get_value_int32(env, v, out);
  return 0;
}

evy_instance *evy_instance_of(napi_env env) {
  evy_instance *in = NULL;
  napi_get_instance_data(env, (void **)&in);
  return in;
}

static void teardown_done(evy_instance *in) {
  napi_async_cleanup_hook_handle hook = in->hook;
  in->hook = NULL;
  if (hook) napi_remove_async_cleanup_hook(hook);
}

void evy_handle_opened(evy_instance *in) { in->open++; }

void evy_handle_closed(evy_instance *in) {
  if (--in->open == 0 && in->ending) teardown_done(in);
}

static void on_teardown(napi_async_cleanup_hook_handle hook, void *arg) {
  evy_instance *in = arg;
  in->ending = 1;
  evy_watchdog_teardown(in);
  evy_poll_teardown(in); /* first: a poll may watch a socket's fd */
  evy_stream_teardown(in);
  if (in->open == 0) teardown_done(in);
}

static void on_instance_finalize(napi_env env, void *data, void *hint) {
  evy_instance *in = data;
  evy_stream_release(in);
  evy_tls_release(in);
  free(in);
}

static napi_value init(napi_env env, napi_value exports) {
  evy_instance *in = calloc(1, sizeof *in);
  if (!in) {
    napi_throw_error(env, NULL, "evy native: out of memory");
    return NULL;
  }
  in->env = env;
  if (napi_set_instance_data(env, in, on_instance_finalize, NULL) != napi_ok) {
    free(in);
    evy_throw_last(env, "napi_set_instance_data");
    return NULL;
  }
  EVY_CALL(env, napi_add_async_cleanup_hook(env, on_teardown, in, &in->hook));
  if (evy_init_poll(env, exports) != napi_ok) return NULL;
  if (evy_init_fd(env, exports) != napi_ok) return NULL;
  if (evy_init_stream(env, exports) != napi_ok) return NULL;
  if (evy_init_watchdog(env, exports) != napi_ok) return NULL;
  if (evy_init_tls(env, exports) != napi_ok) return NULL;
  if (evy_init_context(env, exports) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
