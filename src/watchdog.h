/* evy's native hub: what watchdog.c (C) and watchdog_stack.cc (C++, V8's
 * interrupt API, which N-API has no equivalent for) share. */
#ifndef EVY_WATCHDOG_H
#define EVY_WATCHDOG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evy_watch evy_watch;

/* The isolate of the calling (JS) thread, for evy_watchdog_request_stack. */
void *evy_watchdog_isolate(void);
/* From any thread: asks V8 to run, on the JS thread at its next check, a
 * callback that formats the JS stack and passes it to evy_watchdog_stack_caught. */
void evy_watchdog_request_stack(void *isolate, uintptr_t token);
/* In the interrupt: the watch its token stands for, or NULL if it stopped meanwhile. */
evy_watch *evy_watchdog_claim(uintptr_t token);
/* On the JS thread, inside the interrupt: the stack, one "    at ..." line a frame. */
void evy_watchdog_stack_caught(evy_watch *w, const char *stack);
/* Frames of files under this prefix (evy's own code) are left out of the stack. */
const char *evy_watchdog_skip(evy_watch *w);
/* Maps a generated position through an inline source map (a data: URL);
 * 1-based line and column, in and out. Returns 1 when it mapped. */
int evy_sourcemap_lookup(const char *url, size_t url_len, int *line, int *col);

#ifdef __cplusplus
}
#endif

#endif
