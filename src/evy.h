/* evy's native hub: shared declarations.
 * Every file here registers its functions on the module's exports object. */
#ifndef EVY_H
#define EVY_H

#include <node_api.h>
#include <uv.h>

/* Evaluates a napi call; on failure throws a JS error naming the call and returns NULL. */
#define EVY_CALL(env, call)                                                   \
  do {                                                                        \
    if ((call) != napi_ok) {                                                  \
      evy_throw_last(env, #call);                                             \
      return NULL;                                                            \
    }                                                                         \
  } while (0)

void evy_throw_last(napi_env env, const char *what);
/* Throws a Node-style error: message "<syscall> <CODE>", with code, errno, syscall. */
napi_value evy_throw_uv(napi_env env, int err, const char *syscall);
uv_loop_t *evy_loop(napi_env env);
/* Reads an int32 argument, throwing a TypeError naming it when it is not a number. */
int evy_arg_int(napi_env env, napi_value v, const char *name, int32_t *out);

napi_status evy_init_poll(napi_env env, napi_value exports);
napi_status evy_init_fd(napi_env env, napi_value exports);
napi_status evy_init_stream(napi_env env, napi_value exports);

#endif
