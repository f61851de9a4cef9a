/* evy's native hub: plain descriptors (pipes) for the fd listeners and green os. */
#define _GNU_SOURCE
#include "evy.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

/* pipe() -> [readFd, writeFd], both non-blocking and close-on-exec. */
static napi_value make_pipe(napi_env env, napi_callback_info info) {
  int fds[2];
  if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) return evy_throw_uv(env, uv_translate_sys_error(errno), "pipe");
  napi_value arr, v;
  EVY_CALL(env, napi_create_array_with_length(env, 2, &arr));
  for (uint32_t i = 0; i < 2; i++) {
    napi_create_int32(env, fds[i], &v);
    napi_set_element(env, arr, i, v);
  }
  return arr;
}

napi_status evy_init_fd(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"pipe", NULL, make_pipe, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
