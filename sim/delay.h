/*
 * delay.h - delayed answers without blocking MHD's worker threads.
 *
 * A delayed request's connection is suspended (MHD_suspend_connection) and
 * handed to one timer thread, which resumes it when its time is up; MHD then
 * calls the access handler again and the request carries on. Forty delayed
 * requests therefore cost forty list entries, not forty blocked threads, and
 * a fast request is never queued behind a slow one.
 *
 * Shutdown (delay_stop) resumes every waiting connection at once and refuses
 * new delays, then waits until each of those requests has completed: MHD
 * forbids stopping a daemon while connections are still suspended, and a
 * client that was promised a late answer should still get it.
 */
#ifndef SIM_DELAY_H
#define SIM_DELAY_H

#include <microhttpd.h>

typedef struct delay_timer delay_timer;

/* Starts the timer thread. Returns 0 or -1. */
int delay_new(delay_timer **out);

/* Called from the access handler: suspends `conn` and schedules its resume
 * in `ms` milliseconds. Returns 0, or -1 when the timer is stopping or out of
 * memory (then the connection is NOT suspended and the caller carries on at
 * once). */
int delay_suspend(delay_timer *t, struct MHD_Connection *conn, long ms);

/* Called when a request that was suspended here has completed (its answer
 * sent, or its connection closed). */
void delay_returned(delay_timer *t);

/* Resumes everything, refuses further delays, and waits (at most
 * `wait_ms`) until every suspended request has completed. */
void delay_stop(delay_timer *t, long wait_ms);

/* Joins the thread and frees. Call after delay_stop and MHD_stop_daemon. */
void delay_free(delay_timer *t);

#endif /* SIM_DELAY_H */
