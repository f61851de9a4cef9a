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

/* One per environment (the main thread's, each worker thread's): the addon
 * keeps no globals, so green worlds on different threads never meet.
 *
 * Teardown: when an environment ends (a worker exits, or the process), its
 * handles still open are closed and the environment waits, through an async
 * cleanup hook, until their close callbacks have run. Those callbacks are code
 * in this addon, which Node unloads once the environment is gone. */
typedef struct evy_instance {
  napi_env env;
  napi_async_cleanup_hook_handle hook; /* NULL once teardown has finished */
  int open;                            /* uv handles whose close callback has not run */
  int ending;                          /* teardown has begun: no more calls into JS */
  struct evy_env *streams;             /* stream.c's state */
  struct evy_poll *polls;              /* live poll handles */
  struct evy_watch *watchdog;          /* watchdog.c's, while it runs */
  struct evy_tls_env *tls;             /* tls.c's state */
} evy_instance;

evy_instance *evy_instance_of(napi_env env);
/* Every uv handle the addon opens is counted, and its close callback reports. */
void evy_handle_opened(evy_instance *in);
void evy_handle_closed(evy_instance *in);

napi_status evy_init_poll(napi_env env, napi_value exports);
napi_status evy_init_fd(napi_env env, napi_value exports);
napi_status evy_init_stream(napi_env env, napi_value exports);
napi_status evy_init_watchdog(napi_env env, napi_value exports);
napi_status evy_init_tls(napi_env env, napi_value exports);
void evy_tls_release(evy_instance *in);
/* A TLS session (tls.c) attached to a stream (stream.c): the stream's reads
 * are decrypted as they land and its writes encrypted, with no JS between.
 * Each side names the other; either end's going unlinks both. */
typedef struct evy_tls evy_tls;
struct evy_stream;
enum { EVY_TLS_WAIT = 0, EVY_TLS_MORE = 1, EVY_TLS_EOF = 2, EVY_TLS_FAILED = 3 };
/* The session napi_wrap()ed on owner, or NULL (not one, or freed). */
evy_tls *evy_tls_unwrap(napi_env env, napi_value owner);
void evy_tls_link(evy_tls *t, struct evy_stream *s);
/* stream.c: the session is freed; the stream reads no more. */
void evy_stream_tls_gone(struct evy_stream *s);
/* Ciphertext in, borrowed until evy_tls_keep(), which copies what OpenSSL
 * did not take (0, or -1 out of memory). */
void evy_tls_feed(evy_tls *t, const char *data, size_t len);
int evy_tls_keep(evy_tls *t);
/* Up to cap bytes of plaintext into out (*got): EVY_TLS_WAIT when that is
 * all for now, EVY_TLS_MORE when out is full and more may follow,
 * EVY_TLS_EOF at the peer's close_notify, EVY_TLS_FAILED on an error (kept
 * for evy_tls_error()). */
int evy_tls_decrypt(evy_tls *t, char *out, size_t cap, size_t *got);
/* Encrypts data into the session's out block; NULL with an exception pending on an error. */
napi_value evy_tls_encrypt(napi_env env, evy_tls *t, const char *data, size_t len);
/* The error that ended a native read, as Node names it. */
napi_value evy_tls_error(napi_env env, evy_tls *t);
/* The records waiting to be sent (*data, the count); evy_tls_sent() once they
 * went out, or evy_tls_take_out() to own the block (a queued write frees it). */
size_t evy_tls_out(evy_tls *t, char **data);
void evy_tls_sent(evy_tls *t);
char *evy_tls_take_out(evy_tls *t);
/* context.cc: contextGet/contextSet (the CPED) on Node 20; nothing elsewhere. */
napi_status evy_init_context(napi_env env, napi_value exports);
void evy_watchdog_teardown(evy_instance *in);
/* Teardown, part by part: close what is open, deliver nothing more to JS. */
void evy_poll_teardown(evy_instance *in);
void evy_stream_teardown(evy_instance *in);
/* The environment's last moment (its instance data is finalized). */
void evy_stream_release(evy_instance *in);

#endif
