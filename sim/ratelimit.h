/*
 * ratelimit.h - Cloudflare-style request limit: at most `limit` API
 * requests in any sliding window of `window_s` seconds.
 *
 * A sliding log (a ring of the accepted requests' times) rather than a fixed
 * window, so a burst at the end of one window and the start of the next is
 * still capped, and Retry-After says exactly when the oldest request leaves
 * the window.
 */
#ifndef SIM_RATELIMIT_H
#define SIM_RATELIMIT_H

#include <stdbool.h>

#define RATELIMIT_MAX_LIMIT  1000000
#define RATELIMIT_MAX_WINDOW 86400

typedef struct ratelimit ratelimit;

/* Parses "N/SECONDS" (e.g. "1200/300"). Returns 0 or -1. */
int ratelimit_parse(const char *spec, unsigned *limit, unsigned *window_s);

int ratelimit_new(ratelimit **out, unsigned limit, unsigned window_s);
void ratelimit_free(ratelimit *rl);

/* Counts one request at monotonic time now_ms. Returns true when it is
 * allowed. *remaining is what is left in the window after it; *reset_s the
 * seconds (rounded up, at least 1 when refused) until a slot frees. */
bool ratelimit_take(ratelimit *rl, long long now_ms, unsigned *remaining, unsigned *reset_s);

unsigned ratelimit_limit(const ratelimit *rl);
unsigned ratelimit_window(const ratelimit *rl);

/* Forgets every counted request. */
void ratelimit_reset(ratelimit *rl);

#endif /* SIM_RATELIMIT_H */
