/*
 * ratelimit.c - the sliding-log request limit.
 */
#include "ratelimit.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

struct ratelimit {
    pthread_mutex_t lock;
    unsigned limit, window_s;
    long long *ring; /* times (ms) of accepted requests, oldest at head */
    unsigned head, n;
};

static int parse_uint(const char *s, char end, unsigned max, unsigned *out, const char **rest) {
    char *e;
    errno = 0;
    if (*s < '0' || *s > '9')
        return -1;
    unsigned long v = strtoul(s, &e, 10);
    if (errno || *e != end || v == 0 || v > max)
        return -1;
    *out = (unsigned)v;
    *rest = e;
    return 0;
}

int ratelimit_parse(const char *spec, unsigned *limit, unsigned *window_s) {
    const char *rest;
    if (!spec || parse_uint(spec, '/', RATELIMIT_MAX_LIMIT, limit, &rest) < 0)
        return -1;
    return parse_uint(rest + 1, '\0', RATELIMIT_MAX_WINDOW, window_s, &rest);
}

int ratelimit_new(ratelimit **out, unsigned limit, unsigned window_s) {
    ratelimit *rl = calloc(1, sizeof(*rl));
    if (!rl)
        return -1;
    rl->ring = calloc(limit, sizeof(*rl->ring));
    if (!rl->ring) {
        free(rl);
        return -1;
    }
    rl->limit = limit;
    rl->window_s = window_s;
    pthread_mutex_init(&rl->lock, NULL);
    *out = rl;
    return 0;
}

void ratelimit_free(ratelimit *rl) {
    if (!rl)
        return;
    pthread_mutex_destroy(&rl->lock);
    free(rl->ring);
    free(rl);
}

unsigned ratelimit_limit(const ratelimit *rl) {
    return rl->limit;
}

unsigned ratelimit_window(const ratelimit *rl) {
    return rl->window_s;
}

void ratelimit_reset(ratelimit *rl) {
    pthread_mutex_lock(&rl->lock);
    rl->head = rl->n = 0;
    pthread_mutex_unlock(&rl->lock);
}

/* Seconds, rounded up, from now until `until` (both ms). */
static unsigned ceil_seconds(long long until, long long now) {
    long long ms = until - now;
    if (ms <= 0)
        return 0;
    return (unsigned)((ms + 999) / 1000);
}

bool ratelimit_take(ratelimit *rl, long long now_ms, unsigned *remaining, unsigned *reset_s) {
    long long window_ms = (long long)rl->window_s * 1000;
    bool allowed;
    pthread_mutex_lock(&rl->lock);
    while (rl->n > 0 && rl->ring[rl->head] <= now_ms - window_ms) {
        rl->head = (rl->head + 1) % rl->limit;
        rl->n--;
    }
    allowed = rl->n < rl->limit;
    if (allowed) {
        rl->ring[(rl->head + rl->n) % rl->limit] = now_ms;
        rl->n++;
    }
    *remaining = rl->limit - rl->n;
    *reset_s = ceil_seconds(rl->ring[rl->head] + window_ms, now_ms);
    if (!allowed && *reset_s == 0)
        *reset_s = 1;
    pthread_mutex_unlock(&rl->lock);
    return allowed;
}
