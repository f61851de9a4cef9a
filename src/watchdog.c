/* evy's native hub: the blocking watchdog (evy/tools/debug hubBlockingDetection).
 *
 * A thread of its own pings the loop every resolution/8 through a uv_async_t;
 * the loop answers in the async callback. An idle loop answers at once (the
 * ping wakes its poll), a busy one within its turn. (Marking turns with
 * prepare/check handles cannot work: socket callbacks run inside the poll
 * phase, between the two.) When a ping has gone unanswered for `resolution`
 * or more, the thread reports a block: how long, the id of
 * the green thread that last got the turn (slot[0], written by the hub), and
 * the JS stack, which V8 hands over in an interrupt (watchdog_stack.cc) that
 * runs on the JS thread at its next check, source-mapped when the script has
 * an inline map. It reports again every `resolution` while the block goes on,
 * and the async callback reports the end with the total once the loop answers.
 *
 * Reports are written to stderr at once (no JS can run while the loop is
 * blocked) and queued to JS through a threadsafe function, delivered once the
 * loop turns.
 *
 * Ownership: one evy_watch per start, freed when its async handle is closed.
 * An interrupt V8 has not run yet cannot be cancelled, and may never run (the
 * thread's JS ended), so it carries no pointer: a token into `pending`, the
 * one table shared by every environment (static, so it outlives them all),
 * which stop clears; an interrupt whose token is gone does nothing. The watchdog
 * thread is joined before the handles close, so after stop only the JS thread
 * touches it. An environment that ends with the watchdog on stops it
 * (evy_watchdog_teardown). */
#include "evy.h"
#include "watchdog.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#define STACK_MAX 8192
#define PENDING_MAX 64

/* Interrupts requested and not yet run: slot i holds its watch while its token
 * (generation << 8 | i) is live. */
static uv_once_t pending_once = UV_ONCE_INIT;
static uv_mutex_t pending_mu;
static struct {
  evy_watch *w;
  uintptr_t gen;
} pending[PENDING_MAX];
static uintptr_t pending_gen;

static void pending_init(void) { uv_mutex_init(&pending_mu); }

/* A token for `w`'s interrupt, or 0 when the table is full. */
static uintptr_t pending_put(evy_watch *w) {
  uv_once(&pending_once, pending_init);
  uintptr_t tok = 0;
  uv_mutex_lock(&pending_mu);
  for (int i = 0; i < PENDING_MAX; i++) {
    if (pending[i].w == NULL) {
      pending[i].w = w;
      pending[i].gen = ++pending_gen;
      tok = (pending[i].gen << 8) | (uintptr_t)i;
      break;
    }
  }
  uv_mutex_unlock(&pending_mu);
  return tok;
}

evy_watch *evy_watchdog_claim(uintptr_t tok) {
  uv_once(&pending_once, pending_init);
  size_t i = tok & 0xff;
  evy_watch *w = NULL;
  uv_mutex_lock(&pending_mu);
  if (i < PENDING_MAX && pending[i].w != NULL && pending[i].gen == tok >> 8) {
    w = pending[i].w;
    pending[i].w = NULL;
  }
  uv_mutex_unlock(&pending_mu);
  return w;
}

/* Forgets every interrupt of `w` still pending (it stops). */
static void pending_drop(evy_watch *w) {
  uv_once(&pending_once, pending_init);
  uv_mutex_lock(&pending_mu);
  for (int i = 0; i < PENDING_MAX; i++)
    if (pending[i].w == w) pending[i].w = NULL;
  uv_mutex_unlock(&pending_mu);
}
#define TEXT_MAX 9216

struct evy_watch {
  evy_instance *in;
  uv_async_t ping;
  uv_thread_t thread;
  uv_mutex_t mu;
  uv_cond_t cv;
  int stopping;                /* under mu */
  int refs;                    /* handles open */
  uint64_t resolution;         /* ns */
  int quiet;
  int32_t main_id;
  void *isolate;
  int32_t *slot;               /* [0] the thread with the turn, [1] the thread to raise into, [2] the main thread */
  char *skip;                  /* frames of files under this prefix (evy's own) are left out */
  napi_ref slot_ref;
  napi_threadsafe_function tsfn;
  /* pings sent (watchdog thread) and answered (the loop) */
  _Atomic uint64_t pinged;
  _Atomic uint64_t ponged;
  uint64_t ping_time;          /* when the unanswered ping was sent (watchdog thread) */
  /* the block being reported (watchdog thread; read by the async callback under mu) */
  uint64_t block_start;
  int reports;
  int block_reported;          /* under mu: prepare reports the end */
  int32_t block_thread;
  /* the stack the interrupt caught (under mu) */
  int interrupt_pending;
  int stack_ready;
  char stack[STACK_MAX];
};

typedef struct report {
  int kind; /* 0 blocking, 1 ended */
  double seconds;
  int32_t thread;
  char *stack;
  char *text;
} report;

static void watch_unref(evy_watch *w) {
  if (--w->refs > 0) return;
  free(w->skip);
  uv_mutex_destroy(&w->mu);
  uv_cond_destroy(&w->cv);
  free(w);
}

/* ---- to JS and to stderr ---- */

static void call_js(napi_env env, napi_value cb, void *context, void *data) {
  report *r = data;
  if (env != NULL && cb != NULL) {
    napi_value argv[5], undefined;
    napi_create_int32(env, r->kind, &argv[0]);
    napi_create_double(env, r->seconds, &argv[1]);
    napi_create_int32(env, r->thread, &argv[2]);
    napi_create_string_utf8(env, r->stack, NAPI_AUTO_LENGTH, &argv[3]);
    napi_create_string_utf8(env, r->text, NAPI_AUTO_LENGTH, &argv[4]);
    napi_get_undefined(env, &undefined);
    napi_call_function(env, undefined, cb, 5, argv, NULL);
  }
  free(r->stack);
  free(r->text);
  free(r);
}

static void write_all(const char *s) {
  size_t n = strlen(s);
  while (n > 0) {
    ssize_t k = write(2, s, n);
    if (k <= 0) return;
    s += k;
    n -= (size_t)k;
  }
}

/* Formats, prints and queues one report. `stack` may be empty. */
static void emit(evy_watch *w, int kind, double seconds, int32_t thread, const char *stack) {
  char *text = malloc(TEXT_MAX);
  report *r = malloc(sizeof *r);
  char *st = strdup(stack);
  if (!text || !r || !st) {
    free(text);
    free(r);
    free(st);
    return;
  }
  char who[48];
  if (thread > 0 && thread != w->main_id) snprintf(who, sizeof who, "green thread %d", thread);
  else snprintf(who, sizeof who, "the main green thread");
  if (kind == 0) {
    snprintf(text, TEXT_MAX, "evy: the loop has been blocked for %.3f s, in %s%s\n%s", seconds, who,
             stack[0] ? ":" : " (no JS stack yet: it is in native code, a synchronous call such as execSync or a *Sync fs call)",
             stack);
  } else {
    snprintf(text, TEXT_MAX, "evy: the loop was blocked for %.3f s in all, in %s%s\n%s", seconds, who,
             stack[0] ? ", at:" : "", stack);
  }
  if (!w->quiet) write_all(text);
  r->kind = kind;
  r->seconds = seconds;
  r->thread = thread;
  r->stack = st;
  r->text = text;
  if (napi_call_threadsafe_function(w->tsfn, r, napi_tsfn_nonblocking) != napi_ok) {
    free(st);
    free(text);
    free(r);
  }
}

/* ---- the stack, from the interrupt (JS thread) ---- */

/* Called by watchdog_stack.cc on the JS thread, inside V8's interrupt. */
void evy_watchdog_stack_caught(evy_watch *w, const char *stack) {
  uv_mutex_lock(&w->mu);
  w->interrupt_pending = 0;
  snprintf(w->stack, sizeof w->stack, "%s", stack);
  w->stack_ready = 1;
  uv_cond_broadcast(&w->cv);
  uv_mutex_unlock(&w->mu);
}

/* ---- the loop's answer (JS thread) ---- */

static void on_ping(uv_async_t *h) {
  evy_watch *w = h->data;
  atomic_store(&w->ponged, atomic_load(&w->pinged));
  uv_mutex_lock(&w->mu);
  int ended = w->block_reported;
  uint64_t start = w->block_start;
  int32_t thread = w->block_thread;
  w->block_reported = 0;
  char *stack = NULL;
  if (ended && w->stack_ready) stack = strdup(w->stack);
  uv_mutex_unlock(&w->mu);
  if (ended) {
    emit(w, 1, (double)(uv_hrtime() - start) / 1e9, thread, stack ? stack : "");
    free(stack);
  }
}

/* ---- the watchdog thread ---- */

static void watch_thread(void *arg) {
  evy_watch *w = arg;
#ifdef __linux__
  prctl(PR_SET_NAME, "evy-watchdog", 0, 0, 0); /* so tools (and tests) can tell it from V8's threads */
#endif
  uint64_t period = w->resolution / 8;
  if (period < 1000000) period = 1000000; /* 1 ms */
  uv_mutex_lock(&w->mu);
  while (!w->stopping) {
    uv_cond_timedwait(&w->cv, &w->mu, period);
    if (w->stopping) break;
    uint64_t turns = atomic_load(&w->pinged);
    if (atomic_load(&w->ponged) == turns) {
      /* the loop answered: ping again */
      w->reports = 0;
      w->ping_time = uv_hrtime();
      atomic_store(&w->pinged, turns + 1);
      uv_async_send(&w->ping);
      continue;
    }
    uint64_t start = w->ping_time;
    uint64_t now = uv_hrtime();
    if (now - start < (uint64_t)(w->reports + 1) * w->resolution) continue;
    /* Blocked: ask V8 for the stack, and wait a little for it. */
    if (!w->interrupt_pending) {
      uintptr_t tok = pending_put(w);
      if (tok != 0) {
        w->interrupt_pending = 1;
        w->stack_ready = 0;
        evy_watchdog_request_stack(w->isolate, tok);
      }
    }
    uint64_t wait = w->resolution / 2 < 100000000 ? w->resolution / 2 : 100000000;
    uint64_t until = uv_hrtime() + wait;
    while (!w->stack_ready && !w->stopping) {
      uint64_t t = uv_hrtime();
      if (t >= until) break;
      uv_cond_timedwait(&w->cv, &w->mu, until - t);
    }
    if (w->stopping) break;
    if (atomic_load(&w->ponged) == turns) continue; /* it ended meanwhile */
    int32_t thread = w->slot ? w->slot[0] : 0;
    if (w->reports == 0) {
      w->block_start = start;
      w->block_thread = thread;
      if (w->slot) w->slot[1] = thread > 0 ? thread : -1; /* the hub names it, and may raise in it */
    }
    w->reports++;
    w->block_reported = 1;
    char *stack = strdup(w->stack_ready ? w->stack : "");
    uv_mutex_unlock(&w->mu);
    if (stack) emit(w, 0, (double)(uv_hrtime() - start) / 1e9, thread, stack);
    free(stack);
    uv_mutex_lock(&w->mu);
  }
  uv_mutex_unlock(&w->mu);
}

/* ---- start and stop ---- */

static void on_handle_closed(uv_handle_t *h) {
  evy_watch *w = h->data;
  evy_handle_closed(w->in);
  watch_unref(w);
}

static void watch_stop(evy_instance *in) {
  evy_watch *w = in->watchdog;
  if (!w) return;
  in->watchdog = NULL;
  uv_mutex_lock(&w->mu);
  w->stopping = 1;
  uv_cond_broadcast(&w->cv);
  uv_mutex_unlock(&w->mu);
  uv_thread_join(&w->thread);
  pending_drop(w);
  uv_close((uv_handle_t *)&w->ping, on_handle_closed);
  if (w->slot_ref) napi_delete_reference(in->env, w->slot_ref);
  w->slot_ref = NULL;
  w->slot = NULL;
  napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
}

void evy_watchdog_teardown(evy_instance *in) { watch_stop(in); }

const char *evy_watchdog_skip(evy_watch *w) { return w->skip; }

/* watchdogStart(resolution seconds, slot Int32Array(SharedArrayBuffer) of 3, quiet, skip prefix, report) */
static napi_value watchdog_start(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  EVY_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  evy_instance *in = evy_instance_of(env);
  if (argc < 5) {
    napi_throw_type_error(env, NULL, "watchdogStart(resolution, slot, quiet, skip, report)");
    return NULL;
  }
  double res;
  if (napi_get_value_double(env, argv[0], &res) != napi_ok || !(res >= 0.001)) {
    napi_throw_range_error(env, NULL, "watchdogStart: resolution must be a number of seconds >= 0.001");
    return NULL;
  }
  napi_typedarray_type type;
  size_t length;
  void *data;
  bool quiet;
  if (napi_get_typedarray_info(env, argv[1], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_int32_array ||
      length < 3) {
    napi_throw_type_error(env, NULL, "watchdogStart: slot must be an Int32Array of 3");
    return NULL;
  }
  EVY_CALL(env, napi_get_value_bool(env, argv[2], &quiet));
  char skip[4096];
  size_t skip_len = 0;
  EVY_CALL(env, napi_get_value_string_utf8(env, argv[3], skip, sizeof skip, &skip_len));
  watch_stop(in);
  evy_watch *w = calloc(1, sizeof *w);
  if (!w) {
    napi_throw_error(env, NULL, "evy native: out of memory");
    return NULL;
  }
  w->in = in;
  w->resolution = (uint64_t)(res * 1e9);
  w->quiet = quiet;
  w->slot = data;
  w->main_id = w->slot[2];
  w->skip = strdup(skip);
  w->isolate = evy_watchdog_isolate();
  napi_value name;
  napi_create_string_utf8(env, "evy.watchdog", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[4], NULL, name, 0, 1, NULL, NULL, NULL, call_js, &w->tsfn) != napi_ok) {
    free(w->skip);
    free(w);
    evy_throw_last(env, "napi_create_threadsafe_function");
    return NULL;
  }
  napi_unref_threadsafe_function(env, w->tsfn); /* the watchdog keeps nobody alive */
  napi_create_reference(env, argv[1], 1, &w->slot_ref);
  uv_mutex_init(&w->mu);
  uv_cond_init(&w->cv);
  if (uv_async_init(evy_loop(env), &w->ping, on_ping) != 0) {
    napi_delete_reference(env, w->slot_ref);
    napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
    uv_mutex_destroy(&w->mu);
    uv_cond_destroy(&w->cv);
    free(w->skip);
    free(w);
    napi_throw_error(env, NULL, "evy native: cannot make the watchdog's async handle");
    return NULL;
  }
  w->ping.data = w;
  evy_handle_opened(in);
  w->refs = 1;
  uv_unref((uv_handle_t *)&w->ping);
  if (uv_thread_create(&w->thread, watch_thread, w) != 0) {
    w->stopping = 1;
    napi_throw_error(env, NULL, "evy native: cannot start the watchdog thread");
    /* close what was made; the thread was never started */
    uv_close((uv_handle_t *)&w->ping, on_handle_closed);
    napi_delete_reference(env, w->slot_ref);
    napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
    return NULL;
  }
  in->watchdog = w;
  return NULL;
}

static napi_value watchdog_stop(napi_env env, napi_callback_info info) {
  watch_stop(evy_instance_of(env));
  return NULL;
}

napi_status evy_init_watchdog(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"watchdogStart", NULL, watchdog_start, NULL, NULL, NULL, napi_default, NULL},
      {"watchdogStop", NULL, watchdog_stop, NULL, NULL, NULL, napi_default, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
