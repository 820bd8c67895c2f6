/*
 * transport.h - bytes in from one file descriptor and out to another, on a
 * libuv loop, whatever kind of file they are (internal to the protocol
 * library).
 *
 * uv_guess_handle() picks the way: pipes and unix sockets go through
 * uv_pipe_t, TCP sockets through uv_tcp_t, terminals through uv_tty_t, and
 * regular files and character devices (/dev/null) through uv_fs_read() and
 * uv_fs_write() at offset -1 (the file's own position, so reads and writes
 * are sequential), one request in flight at a time.
 *
 * Writes never block the loop and leave in the order they were given. The
 * answers given during one pass of the loop are gathered and written
 * together, in one write, from a check handle at the end of the pass (see
 * transport.c): one write(2) per answer was most of the cost of a busy
 * session (issue 9).
 *
 * When more than TRANSPORT_HIGH_WATER bytes wait to be written (gathered,
 * queued or in flight), reading pauses until the backlog falls under
 * TRANSPORT_LOW_WATER, so a reader that stops reading our output cannot
 * make us buffer without bound. 1 MiB is sixteen times a pipe's buffer
 * (64 KiB on Linux) and some thirty times what one pass of the busiest
 * dispatch gathers (about 35 KiB of answers for a 64 KiB read of small
 * requests), so a reader that keeps up never makes input pause; one that
 * does not costs us at most that much (plus the answers of what is already
 * in flight, which the server bounds), not the 64 MiB allowed before.
 * Resuming at 256 KiB leaves four pipe-fulls to write while input refills.
 * After a write
 * fails (the reader went away: EPIPE), output is switched off: later writes
 * are dropped, reading goes on. SIGPIPE is ignored process-wide, so such a
 * write fails with EPIPE instead of killing the process.
 */
#ifndef PROTOCOL_TRANSPORT_H
#define PROTOCOL_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define TRANSPORT_HIGH_WATER ((size_t)1024 * 1024)
#define TRANSPORT_LOW_WATER  ((size_t)256 * 1024)
#define TRANSPORT_PREFIX_MAX 64

typedef struct transport transport;

typedef struct transport_callbacks {
    /* Bytes read from the input; borrowed for the duration of the call. */
    void (*on_read)(void *arg, const char *data, size_t len);
    /* The input ended by itself: status 0 at end of file, else a negative
     * libuv error code. Called at most once; not called after
     * transport_stop_reading(). */
    void (*on_end)(void *arg, int status);
    /* Every queued write has completed (whether or not it succeeded). */
    void (*on_flushed)(void *arg);
    /* The output backlog passed TRANSPORT_HIGH_WATER and has now fallen
     * under TRANSPORT_LOW_WATER (transport_output_full() turned false). May
     * be NULL. */
    void (*on_output_ready)(void *arg);
    void *arg;
} transport_callbacks;

/* Sets up handles for in_fd and out_fd (which must differ). Nothing is read
 * until transport_start(). Returns 0 or a negative libuv error code. On
 * failure, handles already set up are being closed: run the loop to let
 * them go. */
int transport_new(uv_loop_t *loop, uv_file in_fd, uv_file out_fd, const transport_callbacks *cbs,
                  transport **out);
/* Starts reading. Returns 0 or a negative libuv error code. */
int transport_start(transport *t);
/* Holds input (hold true) or lets it flow again: the owner's own
 * backpressure, e.g. too many requests in flight. Data already read is
 * still delivered. */
void transport_hold_input(transport *t, bool hold);
/* Stops reading for good. A read already in flight is discarded. */
void transport_stop_reading(transport *t);
/* Queues prefix + body + suffix, to be written with the rest of this
 * pass's output. prefix (at most TRANSPORT_PREFIX_MAX bytes) and suffix are
 * copied; body is stolen (malloc'd; freed once written, copied or dropped:
 * a large body is written from its own memory). Returns 0, UV_ENOMEM, or
 * UV_EPIPE when output is off (the body is freed). */
int transport_write(transport *t, const char *prefix, size_t prefix_len, char *body,
                    size_t body_len, const char *suffix, size_t suffix_len);
/* The same with a borrowed body, copied before this returns: for answers
 * formatted into a buffer the caller reuses. */
int transport_write_copy(transport *t, const char *prefix, size_t prefix_len, const char *body,
                         size_t body_len, const char *suffix, size_t suffix_len);
/* True from when the output backlog passes TRANSPORT_HIGH_WATER until it
 * falls under TRANSPORT_LOW_WATER: the owner should start no new work whose
 * answers would add to it (input is paused meanwhile anyway). */
bool transport_output_full(const transport *t);
/* True when nothing is gathered, queued or in flight. */
bool transport_is_flushed(const transport *t);

/* Counters for tests and benchmarks. */
typedef struct transport_stats {
    uint64_t reads;      /* chunks read from the input */
    uint64_t writes;     /* writes submitted (each may hold many answers) */
    size_t backlog;      /* bytes waiting to be written now */
    size_t backlog_peak; /* the most that ever waited */
} transport_stats;
void transport_get_stats(const transport *t, transport_stats *out);
/* Closes everything. `on_closed` runs once every handle is closed and
 * every request is done; the transport is freed just before. */
void transport_close(transport *t, void (*on_closed)(void *arg), void *arg);

#endif /* PROTOCOL_TRANSPORT_H */
