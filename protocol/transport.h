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
 * Writes never block the loop: each is queued and completes in order. When
 * more than TRANSPORT_HIGH_WATER bytes wait to be written, reading pauses
 * until the backlog falls under TRANSPORT_LOW_WATER, so a reader that stops
 * reading our output cannot make us buffer without bound. After a write
 * fails (the reader went away: EPIPE), output is switched off: later writes
 * are dropped, reading goes on. SIGPIPE is ignored process-wide, so such a
 * write fails with EPIPE instead of killing the process.
 */
#ifndef PROTOCOL_TRANSPORT_H
#define PROTOCOL_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#define TRANSPORT_HIGH_WATER ((size_t)64 * 1024 * 1024)
#define TRANSPORT_LOW_WATER  ((size_t)16 * 1024 * 1024)
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
/* Queues prefix + body + suffix as one write. prefix is copied (at most
 * TRANSPORT_PREFIX_MAX bytes), body is stolen (malloc'd; freed once written
 * or dropped), suffix must be a static string. Returns 0, or UV_EPIPE when
 * output is off (the body is freed). */
int transport_write(transport *t, const char *prefix, size_t prefix_len, char *body,
                    size_t body_len, const char *suffix, size_t suffix_len);
/* True when no write is queued or in flight. */
bool transport_is_flushed(const transport *t);
/* Closes everything. `on_closed` runs once every handle is closed and
 * every request is done; the transport is freed just before. */
void transport_close(transport *t, void (*on_closed)(void *arg), void *arg);

#endif /* PROTOCOL_TRANSPORT_H */
