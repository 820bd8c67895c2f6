/*
 * delay.c - the timer thread that resumes suspended connections.
 */
#include "delay.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

typedef struct pending {
    struct timespec due; /* CLOCK_MONOTONIC */
    struct MHD_Connection *conn;
} pending;

struct delay_timer {
    pthread_mutex_t lock;
    pthread_cond_t wake;     /* timer thread: a new entry or stop */
    pthread_cond_t returned; /* delay_stop: a suspended request came back */
    pending *items;
    size_t n, cap;
    size_t outstanding; /* suspended and not yet completed */
    bool stopping;
    bool thread_started;
    pthread_t thread;
};

static bool ts_before(const struct timespec *a, const struct timespec *b) {
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static struct timespec ts_after_ms(long ms) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/*
 * Sleeps until the earliest entry is due (or a new entry / stop wakes it),
 * then resumes every due entry. Resuming under the lock is safe: it only
 * flags the connection and signals MHD's internal pipe, and delay_suspend
 * holds the same lock while suspending, so a connection is never resumed
 * before it was suspended.
 */
static void *timer_main(void *arg) {
    delay_timer *t = arg;
    pthread_mutex_lock(&t->lock);
    for (;;) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        size_t i = 0;
        while (i < t->n) {
            if (t->stopping || !ts_before(&now, &t->items[i].due)) {
                MHD_resume_connection(t->items[i].conn);
                t->items[i] = t->items[--t->n];
            } else {
                i++;
            }
        }
        if (t->stopping)
            break;
        if (t->n == 0) {
            pthread_cond_wait(&t->wake, &t->lock);
            continue;
        }
        struct timespec earliest = t->items[0].due;
        for (i = 1; i < t->n; i++)
            if (ts_before(&t->items[i].due, &earliest))
                earliest = t->items[i].due;
        pthread_cond_timedwait(&t->wake, &t->lock, &earliest);
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

int delay_new(delay_timer **out) {
    delay_timer *t = calloc(1, sizeof(*t));
    if (!t)
        return -1;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->wake, &attr);
    pthread_cond_init(&t->returned, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&t->thread, NULL, timer_main, t) != 0) {
        delay_free(t);
        return -1;
    }
    t->thread_started = true;
    *out = t;
    return 0;
}

int delay_suspend(delay_timer *t, struct MHD_Connection *conn, long ms) {
    int rc = -1;
    pthread_mutex_lock(&t->lock);
    if (t->stopping)
        goto out;
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        pending *grown = realloc(t->items, cap * sizeof(*grown));
        if (!grown)
            goto out;
        t->items = grown;
        t->cap = cap;
    }
    MHD_suspend_connection(conn);
    t->items[t->n].due = ts_after_ms(ms);
    t->items[t->n].conn = conn;
    t->n++;
    t->outstanding++;
    pthread_cond_signal(&t->wake);
    rc = 0;
out:
    pthread_mutex_unlock(&t->lock);
    return rc;
}

void delay_returned(delay_timer *t) {
    pthread_mutex_lock(&t->lock);
    if (t->outstanding > 0)
        t->outstanding--;
    pthread_cond_broadcast(&t->returned);
    pthread_mutex_unlock(&t->lock);
}

void delay_stop(delay_timer *t, long wait_ms) {
    struct timespec deadline = ts_after_ms(wait_ms);
    pthread_mutex_lock(&t->lock);
    t->stopping = true;
    pthread_cond_signal(&t->wake);
    while (t->outstanding > 0) {
        if (pthread_cond_timedwait(&t->returned, &t->lock, &deadline) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&t->lock);
}

void delay_free(delay_timer *t) {
    if (!t)
        return;
    if (t->thread_started) {
        pthread_mutex_lock(&t->lock);
        t->stopping = true;
        pthread_cond_signal(&t->wake);
        pthread_mutex_unlock(&t->lock);
        pthread_join(t->thread, NULL);
    }
    pthread_cond_destroy(&t->wake);
    pthread_cond_destroy(&t->returned);
    pthread_mutex_destroy(&t->lock);
    free(t->items);
    free(t);
}
