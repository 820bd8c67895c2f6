/*
 * transport.c - reading and writing the two stdio descriptors on libuv.
 * See transport.h for what it does; the notes here are about how.
 *
 * Stream handles (pipe, tcp, tty) read into one buffer owned by the
 * transport: the owner consumes each chunk before on_read returns, and
 * libuv never holds two read buffers of one stream at a time. File
 * descriptors use one uv_fs_t for reading (a read is issued after the last
 * one completed) and a FIFO of write items of which only the head is in
 * flight, so output stays in order with offset -1.
 *
 * Output is gathered, not written at once (issue 9: one write(2) per answer
 * was most of the dispatch overhead). transport_write() appends the framed
 * answer to one buffer; the first append of a loop pass starts a uv_check
 * handle, whose callback (after the poll phase, where most answers are
 * produced) submits everything gathered as one write. An answer produced
 * after the check phase (a timer, a close callback) would wait for the next
 * check, and the loop could meanwhile block in poll: so the first append
 * also starts a uv_idle handle, which makes that poll return at once (libuv
 * computes a zero poll timeout while an idle handle is active; node's
 * setImmediate uses the same pair). Both are stopped by the flush.
 *
 * The gather buffer is capped at GATHER_MAX: an append that would pass it
 * submits what is gathered first. An answer of COPY_MAX bytes or more is
 * not copied: what is gathered is submitted, then the answer as a write of
 * its own. So a pass makes one write unless its answers pass GATHER_MAX
 * or one is large, and bytes leave in the order they were given either way.
 * The gather buffer is allocated as the trailing data of its write item,
 * so submitting it allocates nothing (and cannot fail and reorder output);
 * the item of a completed write is kept as the next gather buffer (one
 * spare), so a busy session allocates nothing per pass.
 *
 * Lifetimes follow libuv's rule: the transport is freed only once every
 * handle's close callback ran and no fs request is in flight.
 */
#include "transport.h"

#include "protocol.h"

#include <assert.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_READ_SIZE (64 * 1024)
#define FILE_READ_SIZE   (256 * 1024)
/* Answers gathered in one pass are written together up to this size. */
#define GATHER_MAX   ((size_t)256 * 1024)
#define GATHER_FIRST ((size_t)16 * 1024)
/* An answer this large is written from its own memory, not copied. */
#define COPY_MAX ((size_t)64 * 1024)

typedef union any_stream {
    uv_handle_t handle;
    uv_stream_t stream;
    uv_pipe_t pipe;
    uv_tcp_t tcp;
    uv_tty_t tty;
} any_stream;

/* One write: either a pass's gathered answers, in data[] (data_alloc
 * bytes, allocated with the item: submitting them allocates nothing), or
 * one large answer (prefix, body, suffix). */
typedef struct write_item {
    union {
        uv_write_t write;
        uv_fs_t fs;
    } req;
    transport *t;
    struct write_item *next;
    char prefix[TRANSPORT_PREFIX_MAX];
    char *body;
    uv_buf_t bufs[3];
    unsigned nbufs;    /* bufs in use */
    unsigned first;    /* first buf not fully written (files) */
    size_t size;       /* total bytes, for the backlog count */
    size_t data_alloc; /* gathered: room in data[]; 0 for a large answer */
    char data[];
} write_item;

struct transport {
    uv_loop_t *loop;
    transport_callbacks cbs;
    uv_file in_fd, out_fd;
    bool in_is_stream, out_is_stream;
    any_stream in, out;
    bool in_open, out_open; /* handle initialised, needs uv_close */
    /* flush_check submits what a pass gathered; flush_idle, active while
     * something is gathered, keeps the loop from blocking in poll before
     * that. Both are always closed, so the transport is always freed from
     * a close callback, never inside a call into it. */
    uv_check_t flush_check;
    uv_idle_t flush_idle;
    bool flush_scheduled;

    /* Reading. */
    char *read_buf;
    size_t read_size;
    bool reading;        /* the owner wants input (started, not stopped, not ended) */
    bool paused;         /* input paused: backlog_paused or held */
    bool backlog_paused; /* backpressure: too much output waiting */
    bool held;           /* the owner asked to hold input (transport_hold_input) */
    bool read_active;    /* stream: uv_read_start in effect; file: a read in flight */
    uv_fs_t read_req;

    /* Writing. */
    size_t writes_pending; /* items queued or in flight */
    size_t backlog;        /* their bytes */
    bool output_failed;
    write_item *fs_head, *fs_tail; /* files: queue; the head is in flight */
    /* Answers gathered this pass, not yet submitted; counted in backlog. */
    write_item *gather; /* NULL until the first answer of a pass */
    size_t gather_len;
    write_item *spare; /* a completed gather item, kept for the next pass */
    transport_stats stats;

    /* Closing. */
    bool closing;
    int closes_pending;
    void (*on_closed)(void *arg);
    void *closed_arg;
};

static void maybe_free(transport *t);
static int start_reading(transport *t);
static void file_write_next(transport *t);

/* ------------------------------------------------------------------ */
/* Set-up                                                              */
/* ------------------------------------------------------------------ */

static void setup_close_cb(uv_handle_t *h) {
    transport *t = h->data;
    if (--t->closes_pending == 0) {
        free(t->read_buf);
        free(t);
    }
}

/* Initialises a stream handle for fd of the given type. `readable` only
 * matters for terminals. */
static int open_stream(uv_loop_t *loop, any_stream *s, uv_handle_type type, uv_file fd,
                       bool *opened) {
    int rc;
    switch (type) {
    case UV_NAMED_PIPE:
        rc = uv_pipe_init(loop, &s->pipe, 0);
        if (rc)
            return rc;
        *opened = true;
        return uv_pipe_open(&s->pipe, fd);
    case UV_TCP:
        rc = uv_tcp_init(loop, &s->tcp);
        if (rc)
            return rc;
        *opened = true;
        return uv_tcp_open(&s->tcp, fd);
    case UV_TTY:
        rc = uv_tty_init(loop, &s->tty, fd, 0);
        if (rc)
            return rc;
        *opened = true;
        return 0;
    default:
        return UV_EINVAL;
    }
}

/* Sorts a descriptor: true for a stream handle, false for fs requests.
 * Fails for what we cannot serve (UDP, closed descriptors). */
static int classify(uv_file fd, uv_handle_type *type, bool *is_stream) {
    *type = uv_guess_handle(fd);
    switch (*type) {
    case UV_NAMED_PIPE:
    case UV_TCP:
    case UV_TTY:
        *is_stream = true;
        return 0;
    case UV_FILE:
        *is_stream = false;
        return 0;
    default:
        return UV_EBADF;
    }
}

int transport_new(uv_loop_t *loop, uv_file in_fd, uv_file out_fd, const transport_callbacks *cbs,
                  transport **out) {
    *out = NULL;
    if (in_fd == out_fd || in_fd < 0 || out_fd < 0)
        return UV_EINVAL;
    uv_handle_type in_type, out_type;
    bool in_stream, out_stream;
    int rc = classify(in_fd, &in_type, &in_stream);
    if (rc)
        return rc;
    rc = classify(out_fd, &out_type, &out_stream);
    if (rc)
        return rc;

    transport *t = calloc(1, sizeof(*t));
    if (!t)
        return UV_ENOMEM;
    t->loop = loop;
    t->cbs = *cbs;
    t->in_fd = in_fd;
    t->out_fd = out_fd;
    t->in_is_stream = in_stream;
    t->out_is_stream = out_stream;
    t->read_size = in_stream ? STREAM_READ_SIZE : FILE_READ_SIZE;
    t->read_buf = malloc(t->read_size);
    if (!t->read_buf) {
        free(t);
        return UV_ENOMEM;
    }

    rc = uv_check_init(loop, &t->flush_check);
    if (rc) {
        free(t->read_buf);
        free(t);
        return rc;
    }
    t->flush_check.data = t;
    rc = uv_idle_init(loop, &t->flush_idle);
    if (rc) {
        t->closes_pending++;
        uv_close((uv_handle_t *)&t->flush_check, setup_close_cb);
        return rc;
    }
    t->flush_idle.data = t;
    if (in_stream)
        rc = open_stream(loop, &t->in, in_type, in_fd, &t->in_open);
    if (rc == 0 && out_stream)
        rc = open_stream(loop, &t->out, out_type, out_fd, &t->out_open);
    if (t->in_open)
        t->in.handle.data = t;
    if (t->out_open)
        t->out.handle.data = t;
    if (rc) {
        /* A handle that was initialised must be closed before its memory
         * goes: free in the close callbacks. */
        if (t->in_open)
            t->closes_pending++, uv_close(&t->in.handle, setup_close_cb);
        if (t->out_open)
            t->closes_pending++, uv_close(&t->out.handle, setup_close_cb);
        t->closes_pending += 2;
        uv_close((uv_handle_t *)&t->flush_check, setup_close_cb);
        uv_close((uv_handle_t *)&t->flush_idle, setup_close_cb);
        return rc;
    }

    /* A write to a pipe whose reader is gone must fail with EPIPE, not
     * kill the process. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);

    *out = t;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

static void stream_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)suggested;
    transport *t = h->data;
    buf->base = t->read_buf;
    buf->len = t->read_size;
}

static void input_ended(transport *t, int status) {
    t->reading = false;
    if (t->cbs.on_end)
        t->cbs.on_end(t->cbs.arg, status);
}

static void stream_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
    transport *t = s->data;
    if (nread > 0) {
        t->stats.reads++;
        if (t->reading)
            t->cbs.on_read(t->cbs.arg, buf->base, (size_t)nread);
        return;
    }
    if (nread == 0)
        return; /* EAGAIN */
    uv_read_stop(s);
    t->read_active = false;
    if (t->reading)
        input_ended(t, nread == UV_EOF ? 0 : (int)nread);
}

static void file_read_cb(uv_fs_t *req) {
    transport *t = req->data;
    ssize_t result = req->result;
    uv_fs_req_cleanup(req);
    t->read_active = false;
    if (t->closing) {
        maybe_free(t);
        return;
    }
    if (!t->reading)
        return;
    if (result > 0) {
        t->stats.reads++;
        t->cbs.on_read(t->cbs.arg, t->read_buf, (size_t)result);
        /* on_read may have stopped reading or closed us. */
        if (t->reading && !t->paused && !t->closing) {
            int rc = start_reading(t);
            if (rc)
                input_ended(t, rc);
        }
        return;
    }
    input_ended(t, result == 0 ? 0 : (int)result);
}

/* Starts (or resumes) reading in the way the input needs. */
static int start_reading(transport *t) {
    if (t->read_active)
        return 0;
    int rc;
    if (t->in_is_stream) {
        rc = uv_read_start(&t->in.stream, stream_alloc_cb, stream_read_cb);
    } else {
        uv_buf_t buf = uv_buf_init(t->read_buf, (unsigned)t->read_size);
        t->read_req.data = t;
        rc = uv_fs_read(t->loop, &t->read_req, t->in_fd, &buf, 1, -1, file_read_cb);
    }
    if (rc == 0)
        t->read_active = true;
    return rc;
}

int transport_start(transport *t) {
    if (t->closing)
        return UV_EINVAL;
    t->reading = true;
    int rc = start_reading(t);
    if (rc)
        t->reading = false;
    return rc;
}

void transport_stop_reading(transport *t) {
    t->reading = false;
    if (t->in_is_stream && t->read_active) {
        uv_read_stop(&t->in.stream);
        t->read_active = false;
    }
    /* A file read in flight completes later and is discarded. */
}

/* Pauses or resumes reading: input pauses while the output backlog is
 * above the high-water mark (until it falls under the low one), and while
 * the owner holds it (too many requests in flight). */
static void apply_backpressure(transport *t) {
    bool output_ready = false;
    if (!t->backlog_paused && t->backlog > TRANSPORT_HIGH_WATER) {
        t->backlog_paused = true;
        log_debug("provider.rpc", "output backlog of %zu bytes: pausing input", t->backlog);
    } else if (t->backlog_paused && t->backlog < TRANSPORT_LOW_WATER) {
        t->backlog_paused = false;
        output_ready = true;
        log_debug("provider.rpc", "output backlog down to %zu bytes", t->backlog);
    }
    bool pause = t->backlog_paused || t->held;
    if (pause && !t->paused) {
        t->paused = true;
        if (t->in_is_stream && t->read_active) {
            uv_read_stop(&t->in.stream);
            t->read_active = false;
        }
    } else if (!pause && t->paused) {
        t->paused = false;
        log_debug("provider.rpc", "resuming input");
        if (t->reading && !t->closing) {
            int rc = start_reading(t);
            if (rc)
                input_ended(t, rc);
        }
    }
    if (output_ready && t->cbs.on_output_ready && !t->closing)
        t->cbs.on_output_ready(t->cbs.arg);
}

void transport_hold_input(transport *t, bool hold) {
    if (t->held == hold)
        return;
    t->held = hold;
    apply_backpressure(t);
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */
/* ------------------------------------------------------------------ */

static void output_failed(transport *t, int status) {
    if (!t->output_failed && status != UV_ECANCELED)
        log_warn("provider.rpc", "writing to stdout failed (%s): further output is dropped",
                 uv_strerror(status));
    t->output_failed = true;
}

/* Frees a completed item. A gather item is kept instead, as the spare for
 * the next pass, when there is none. */
static void free_item(transport *t, write_item *item) {
    if (item->data_alloc && !t->spare) {
        size_t alloc = item->data_alloc;
        memset(item, 0, sizeof(*item));
        item->data_alloc = alloc;
        t->spare = item;
        return;
    }
    free(item->body);
    free(item);
}

/* Tells the owner, when nothing is queued, in flight or gathered, that
 * everything is written. */
static void maybe_flushed(transport *t) {
    if (t->writes_pending == 0 && t->gather_len == 0 && t->cbs.on_flushed)
        t->cbs.on_flushed(t->cbs.arg);
}

/* Completes one item: frees it, updates the counts, and tells the owner
 * when everything is written. */
static void write_done(transport *t, write_item *item) {
    t->writes_pending--;
    t->backlog -= item->size;
    free_item(t, item);
    if (t->closing) {
        maybe_free(t);
        return;
    }
    apply_backpressure(t);
    maybe_flushed(t);
}

static void stream_write_cb(uv_write_t *req, int status) {
    write_item *item = req->data;
    transport *t = item->t;
    if (status < 0)
        output_failed(t, status);
    write_done(t, item);
}

static void file_write_cb(uv_fs_t *req) {
    write_item *item = req->data;
    transport *t = item->t;
    ssize_t result = req->result;
    uv_fs_req_cleanup(req);
    if (result < 0) {
        output_failed(t, (int)result);
    } else if (!t->closing && !t->output_failed) {
        /* Skip what was written; a short write continues from there. */
        size_t done = (size_t)result;
        while (item->first < item->nbufs && done >= item->bufs[item->first].len)
            done -= item->bufs[item->first++].len;
        if (item->first < item->nbufs) {
            item->bufs[item->first].base += done;
            item->bufs[item->first].len -= done;
            file_write_next(t); /* the item is still the head: write the rest */
            return;
        }
    }
    t->fs_head = item->next;
    if (!t->fs_head)
        t->fs_tail = NULL;
    bool closing = t->closing;
    write_done(t, item); /* when closing, this may free t */
    if (!closing && t->fs_head)
        file_write_next(t);
}

/* Starts the write at the head of the file queue. Items that cannot be
 * started (output failed) are completed at once. */
static void file_write_next(transport *t) {
    while (t->fs_head) {
        write_item *item = t->fs_head;
        if (!t->output_failed) {
            item->req.fs.data = item;
            int rc = uv_fs_write(t->loop, &item->req.fs, t->out_fd, item->bufs + item->first,
                                 item->nbufs - item->first, -1, file_write_cb);
            if (rc == 0)
                return;
            output_failed(t, rc);
        }
        t->fs_head = item->next;
        if (!t->fs_head)
            t->fs_tail = NULL;
        write_done(t, item);
    }
}

/* Hands one item (its bytes already counted in the backlog) to libuv, or
 * to the file queue. Returns 0, or the error of a write that could not be
 * started (the item is then completed at once). */
static int submit(transport *t, write_item *item) {
    t->writes_pending++;
    t->stats.writes++;
    if (t->out_is_stream) {
        item->req.write.data = item;
        int rc =
            uv_write(&item->req.write, &t->out.stream, item->bufs, item->nbufs, stream_write_cb);
        if (rc) {
            output_failed(t, rc);
            write_done(t, item);
            return rc;
        }
        return 0;
    }
    bool idle = t->fs_head == NULL;
    if (t->fs_tail)
        t->fs_tail->next = item;
    else
        t->fs_head = item;
    t->fs_tail = item;
    if (idle)
        file_write_next(t);
    return 0;
}

/* Submits what this pass gathered as one write. Allocates nothing (the
 * gather buffer is the item), so it cannot fail and output stays in
 * order. */
static void flush_gathered(transport *t) {
    if (t->gather_len == 0)
        return;
    write_item *item = t->gather;
    item->t = t;
    item->bufs[0] = uv_buf_init(item->data, (unsigned)t->gather_len);
    item->nbufs = 1;
    item->size = t->gather_len;
    t->gather = NULL;
    t->gather_len = 0;
    submit(t, item);
}

/* The check phase of a pass in which answers were gathered: write them. */
static void flush_check_cb(uv_check_t *h) {
    transport *t = h->data;
    t->flush_scheduled = false;
    uv_check_stop(&t->flush_check);
    uv_idle_stop(&t->flush_idle);
    flush_gathered(t); /* may end the session: t is not touched after */
}

/* Only its being active matters: the loop does not block in poll. */
static void flush_idle_cb(uv_idle_t *h) {
    (void)h;
}

static void schedule_flush(transport *t) {
    if (t->flush_scheduled)
        return;
    t->flush_scheduled = true;
    uv_check_start(&t->flush_check, flush_check_cb);
    uv_idle_start(&t->flush_idle, flush_idle_cb);
}

/* Makes room for n more gathered bytes (gather_len + n <= GATHER_MAX),
 * taking the spare item first, then doubling. Returns 0 or UV_ENOMEM (what
 * is gathered is kept). */
static int gather_reserve(transport *t, size_t n) {
    size_t need = t->gather_len + n;
    if (!t->gather && t->spare) {
        t->gather = t->spare;
        t->spare = NULL;
    }
    size_t have = t->gather ? t->gather->data_alloc : 0;
    if (need <= have)
        return 0;
    size_t size = have ? have : GATHER_FIRST;
    while (size < need)
        size *= 2;
    if (size > GATHER_MAX)
        size = need > GATHER_MAX ? need : GATHER_MAX;
    write_item *item = realloc(t->gather, sizeof(*item) + size);
    if (!item)
        return UV_ENOMEM;
    if (!t->gather)
        memset(item, 0, sizeof(*item));
    item->data_alloc = size;
    t->gather = item;
    return 0;
}

/* Writes one large answer as an item of its own, without copying `body`
 * (stolen). What was gathered before it is submitted first. */
static int write_large(transport *t, const char *prefix, size_t prefix_len, char *body,
                       size_t body_len, const char *suffix, size_t suffix_len) {
    flush_gathered(t);
    write_item *item = calloc(1, sizeof(*item));
    if (!item) {
        free(body);
        return UV_ENOMEM;
    }
    item->t = t;
    item->body = body;
    if (prefix_len) {
        memcpy(item->prefix, prefix, prefix_len);
        item->bufs[item->nbufs++] = uv_buf_init(item->prefix, (unsigned)prefix_len);
    }
    item->bufs[item->nbufs++] = uv_buf_init(body, (unsigned)body_len);
    if (suffix_len)
        item->bufs[item->nbufs++] = uv_buf_init((char *)suffix, (unsigned)suffix_len);
    item->size = prefix_len + body_len + suffix_len;
    t->backlog += item->size;
    if (t->backlog > t->stats.backlog_peak)
        t->stats.backlog_peak = t->backlog;
    int rc = submit(t, item);
    if (!t->closing)
        apply_backpressure(t);
    return rc;
}

int transport_write_copy(transport *t, const char *prefix, size_t prefix_len, const char *body,
                         size_t body_len, const char *suffix, size_t suffix_len) {
    if (t->output_failed || t->closing)
        return UV_EPIPE;
    assert(prefix_len <= TRANSPORT_PREFIX_MAX);
    if (prefix_len > TRANSPORT_PREFIX_MAX)
        prefix_len = TRANSPORT_PREFIX_MAX;
    if (body_len >= COPY_MAX) {
        char *copy = malloc(body_len ? body_len : 1);
        if (!copy)
            return UV_ENOMEM;
        memcpy(copy, body, body_len);
        return write_large(t, prefix, prefix_len, copy, body_len, suffix, suffix_len);
    }
    size_t total = prefix_len + body_len + suffix_len;
    if (t->gather_len + total > GATHER_MAX)
        flush_gathered(t);
    if (gather_reserve(t, total) != 0)
        return UV_ENOMEM;
    char *p = t->gather->data + t->gather_len;
    memcpy(p, prefix, prefix_len);
    memcpy(p + prefix_len, body, body_len);
    memcpy(p + prefix_len + body_len, suffix, suffix_len);
    t->gather_len += total;
    t->backlog += total;
    if (t->backlog > t->stats.backlog_peak)
        t->stats.backlog_peak = t->backlog;
    schedule_flush(t);
    apply_backpressure(t);
    return 0;
}

int transport_write(transport *t, const char *prefix, size_t prefix_len, char *body,
                    size_t body_len, const char *suffix, size_t suffix_len) {
    if (t->output_failed || t->closing) {
        free(body);
        return UV_EPIPE;
    }
    if (prefix_len > TRANSPORT_PREFIX_MAX)
        prefix_len = TRANSPORT_PREFIX_MAX;
    if (body_len >= COPY_MAX)
        return write_large(t, prefix, prefix_len, body, body_len, suffix, suffix_len);
    int rc = transport_write_copy(t, prefix, prefix_len, body, body_len, suffix, suffix_len);
    free(body);
    return rc;
}

bool transport_output_full(const transport *t) {
    return t->backlog_paused;
}

bool transport_is_flushed(const transport *t) {
    return t->writes_pending == 0 && t->gather_len == 0;
}

void transport_get_stats(const transport *t, transport_stats *out) {
    *out = t->stats;
    out->backlog = t->backlog;
}

/* ------------------------------------------------------------------ */
/* Closing                                                             */
/* ------------------------------------------------------------------ */

/* Frees the transport once nothing refers to it any more. */
static void maybe_free(transport *t) {
    if (t->closes_pending > 0 || t->read_active || t->writes_pending > 0)
        return;
    void (*cb)(void *) = t->on_closed;
    void *arg = t->closed_arg;
    free(t->read_buf);
    free(t->gather);
    free(t->spare);
    free(t);
    if (cb)
        cb(arg);
}

static void close_cb(uv_handle_t *h) {
    transport *t = h->data;
    t->closes_pending--;
    maybe_free(t);
}

void transport_close(transport *t, void (*on_closed)(void *arg), void *arg) {
    if (t->closing)
        return;
    t->closing = true;
    t->reading = false;
    t->on_closed = on_closed;
    t->closed_arg = arg;
    if (t->in_is_stream) {
        t->read_active = false; /* uv_close stops reading */
    } else if (t->read_active) {
        uv_cancel((uv_req_t *)&t->read_req); /* completes with UV_ECANCELED */
    }
    if (t->in_open) {
        t->closes_pending++;
        uv_close(&t->in.handle, close_cb);
    }
    if (t->out_open) {
        t->closes_pending++;
        uv_close(&t->out.handle, close_cb); /* pending writes complete with UV_ECANCELED */
    }
    t->closes_pending += 2;
    uv_close((uv_handle_t *)&t->flush_check, close_cb);
    uv_close((uv_handle_t *)&t->flush_idle, close_cb);
    /* Answers gathered but not submitted are dropped, like writes queued
     * on a stream being closed. */
    t->backlog -= t->gather_len;
    t->gather_len = 0;
    /* File writes still queued behind the one in flight are dropped. */
    if (!t->out_is_stream && t->fs_head) {
        write_item *rest = t->fs_head->next;
        t->fs_head->next = NULL;
        t->fs_tail = t->fs_head;
        while (rest) {
            write_item *next = rest->next;
            t->writes_pending--;
            t->backlog -= rest->size;
            free(rest->body);
            free(rest);
            rest = next;
        }
    }
    maybe_free(t);
}
