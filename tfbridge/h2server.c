/*
 * h2server.c - gRPC over HTTP/2 with nghttp2 on libuv, plaintext or TLS.
 *
 * Bytes flow one way per direction. In: uv read -> (TLS: tls_stream_feed,
 * tls_stream_pump) -> nghttp2_session_mem_recv -> stream callbacks, which
 * collect each request's path and body and dispatch it at END_STREAM. Out:
 * nghttp2_session_mem_send -> (TLS: tls_stream_write, take_output) -> one
 * uv_write per flush. nghttp2 is never asked to send from inside its own
 * receive callbacks: an answer given during dispatch only submits frames,
 * and the read path flushes once mem_recv has returned.
 *
 * The server sends its SETTINGS first (grpc-go fails a connection whose
 * first server frame is anything else); with TLS they wait in nghttp2 until
 * the handshake is done. nghttp2 acknowledges SETTINGS and PINGs and sends
 * WINDOW_UPDATEs by itself.
 *
 * An answer is HEADERS (:status 200, content-type application/grpc), one
 * DATA run with the length-prefixed message and NO_END_STREAM, then
 * trailers (grpc-status 0) submitted from the data source callback once the
 * message is out. An error is a "trailers-only" answer: one HEADERS frame
 * with the status and END_STREAM.
 */
#include "h2server.h"

#include "grpc.h"
#include "protocol.h"
#include "tls.h"

#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MODULE               "tfbridge.h2"
#define DEFAULT_MAX_MESSAGE  ((size_t)16 * 1024 * 1024)
#define DEFAULT_MAX_BUFFERED ((size_t)64 * 1024 * 1024)
#define READ_BUFFER_SIZE     65536
#define MAX_STREAMS          1024
#define STREAM_WINDOW        (1 << 20)
#define MAX_HEADER_LIST      16384

typedef struct h2_conn h2_conn;

struct grpc_call {
    h2_conn *conn;
    int32_t stream_id;
    grpc_call *prev, *next; /* the connection's calls */
    char *path;
    uint8_t *body; /* the request body so far (prefix + message) */
    size_t body_len, body_cap;
    bool dispatched, answered;
    /* The answer: prefix + message, sent from resp_off on. */
    uint8_t *resp;
    size_t resp_len, resp_off;
    void (*on_cancel)(grpc_call *call, void *arg);
    void *cancel_arg;
};

struct h2_conn {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_pipe_t pipe;
        uv_tcp_t tcp;
    } io;
    h2_server *server;
    h2_conn *prev, *next;
    nghttp2_session *h2;
    bool use_tls;
    tls_stream tls;
    grpc_call *calls;
    size_t buffered;       /* request body bytes held by this connection */
    int in_recv;           /* > 0 while nghttp2 is reading: no sending */
    size_t writes_pending; /* uv_write requests not completed */
    bool served;           /* dispatched at least one request */
    bool closing;          /* close once writes complete */
    bool closed;           /* uv_close called */
    char rbuf[READ_BUFFER_SIZE];
};

struct h2_server {
    uv_loop_t *loop;
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_pipe_t pipe;
        uv_tcp_t tcp;
    } listener;
    bool is_unix;
    char *unix_path;
    h2_server_options opts;
    h2_conn *conns;
    size_t served_open; /* open connections that served a request */
    bool closing;
    bool listener_closed;
    void (*on_closed)(void *arg);
    void *closed_arg;
};

typedef struct write_req {
    uv_write_t req;
    char *data;
    h2_conn *conn;
} write_req;

static void conn_flush(h2_conn *c);
static void conn_close(h2_conn *c);
static void server_maybe_finish(h2_server *s);

/* ------------------------------------------------------------------ */
/* Calls                                                               */
/* ------------------------------------------------------------------ */

static void call_release_body(grpc_call *call) {
    if (call->body) {
        call->conn->buffered -= call->body_cap;
        free(call->body);
        call->body = NULL;
        call->body_len = call->body_cap = 0;
    }
}

/* Unlinks and frees a call. If it was dispatched and never answered, its
 * handler learns through the cancel callback first. */
static void call_free(grpc_call *call) {
    h2_conn *c = call->conn;
    if (call->dispatched && !call->answered && call->on_cancel) {
        void (*cb)(grpc_call *, void *) = call->on_cancel;
        call->on_cancel = NULL;
        cb(call, call->cancel_arg);
    }
    if (call->prev)
        call->prev->next = call->next;
    else
        c->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    call_release_body(call);
    free(call->path);
    free(call->resp);
    free(call);
}

const char *grpc_call_path(const grpc_call *call) {
    return call->path ? call->path : "";
}

void grpc_call_on_cancel(grpc_call *call, void (*cb)(grpc_call *call, void *arg), void *arg) {
    call->on_cancel = cb;
    call->cancel_arg = arg;
}

/* nghttp2 would not take an answer's frames (memory ran out): reset the
 * stream, so that the client is not left waiting for an answer that will
 * never come. */
static void stream_failed(nghttp2_session *session, int32_t stream_id, const char *what, int rv) {
    log_warn(MODULE, "stream %d: %s: %s; resetting it", (int)stream_id, what, nghttp2_strerror(rv));
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_INTERNAL_ERROR);
}

/* nghttp2's data source: hands out the prefixed message, then ends the DATA
 * run without ending the stream and submits the trailers. */
static ssize_t read_answer(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                           uint32_t *data_flags, nghttp2_data_source *source, void *user_data) {
    (void)user_data;
    grpc_call *call = source->ptr;
    size_t left = call->resp_len - call->resp_off;
    size_t n = left < length ? left : length;
    memcpy(buf, call->resp + call->resp_off, n);
    call->resp_off += n;
    if (call->resp_off == call->resp_len) {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
        static const nghttp2_nv trailers[] = {
            {(uint8_t *)"grpc-status", (uint8_t *)"0", 11, 1, NGHTTP2_NV_FLAG_NONE},
        };
        int rv = nghttp2_submit_trailer(session, stream_id, trailers, 1);
        if (rv != 0)
            stream_failed(session, stream_id, "submitting trailers", rv);
    }
    return (ssize_t)n;
}

#define NV(name, value)                                                                            \
    { (uint8_t *)(name), (uint8_t *)(value), sizeof(name) - 1, strlen(value), NGHTTP2_NV_FLAG_NONE }

void grpc_call_reply(grpc_call *call, const uint8_t *msg, size_t len) {
    if (call->answered)
        return;
    call->answered = true;
    h2_conn *c = call->conn;
    if (len > UINT32_MAX - GRPC_PREFIX_LEN) {
        call->answered = false;
        grpc_call_fail(call, GRPC_RESOURCE_EXHAUSTED, "answer too large");
        return;
    }
    call->resp = malloc(GRPC_PREFIX_LEN + len);
    if (!call->resp) {
        call->answered = false;
        grpc_call_fail(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    grpc_frame_prefix(call->resp, (uint32_t)len);
    if (len)
        memcpy(call->resp + GRPC_PREFIX_LEN, msg, len);
    call->resp_len = GRPC_PREFIX_LEN + len;
    const nghttp2_nv headers[] = {NV(":status", "200"), NV("content-type", "application/grpc")};
    nghttp2_data_provider provider = {.source.ptr = call, .read_callback = read_answer};
    int rv = nghttp2_submit_response(c->h2, call->stream_id, headers, 2, &provider);
    if (rv != 0)
        stream_failed(c->h2, call->stream_id, "submitting the answer", rv);
    conn_flush(c);
}

void grpc_call_fail(grpc_call *call, int status, const char *message) {
    if (call->answered)
        return;
    call->answered = true;
    h2_conn *c = call->conn;
    char code[16];
    snprintf(code, sizeof(code), "%d", status);
    char *encoded = message ? grpc_percent_encode(message) : NULL;
    nghttp2_nv headers[4] = {NV(":status", "200"), NV("content-type", "application/grpc"),
                             NV("grpc-status", code)};
    size_t n = 3;
    if (encoded)
        headers[n++] = (nghttp2_nv)NV("grpc-message", encoded);
    int rv = nghttp2_submit_response(c->h2, call->stream_id, headers, n, NULL);
    if (rv != 0)
        stream_failed(c->h2, call->stream_id, "submitting the status", rv);
    free(encoded);
    call_release_body(call);
    conn_flush(c);
}

/* The request body is complete: find its one message and dispatch it. */
static void call_dispatch(grpc_call *call) {
    h2_conn *c = call->conn;
    if (call->answered)
        return; /* already failed (too large) */
    if (!call->path) {
        grpc_call_fail(call, GRPC_UNIMPLEMENTED, "request without :path");
        return;
    }
    const uint8_t *msg = NULL;
    size_t len = 0;
    grpc_frame_result r = grpc_frame_unary(call->body, call->body_len, &msg, &len);
    if (r == GRPC_FRAME_EMPTY) {
        /* A stream the client half-closed without a message: nothing to do
         * for a unary method, but streaming methods may see it. */
        msg = (const uint8_t *)"";
        len = 0;
    } else if (r != GRPC_FRAME_OK) {
        grpc_call_fail(call, GRPC_INTERNAL, grpc_frame_error_text(r));
        return;
    }
    if (c->server->closing) {
        /* The owner may already be gone (h2server.h): nothing new starts. */
        grpc_call_fail(call, GRPC_UNAVAILABLE, "the plugin is shutting down");
        return;
    }
    call->dispatched = true;
    if (!c->served) {
        c->served = true;
        c->server->served_open++;
    }
    c->server->opts.dispatch(call, call->path, msg, len, c->server->opts.ctx);
    /* The call is still here: calls are freed only when their stream
     * closes, and that happens while sending, which waits until reading
     * is done. The handler has copied what it needs of the message, so the
     * body goes now rather than when the (maybe slow) answer comes. */
    call_release_body(call);
}

/* ------------------------------------------------------------------ */
/* nghttp2 callbacks                                                   */
/* ------------------------------------------------------------------ */

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user_data) {
    h2_conn *c = user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    grpc_call *call = calloc(1, sizeof(*call));
    if (!call)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* the stream is reset */
    call->conn = c;
    call->stream_id = frame->hd.stream_id;
    call->next = c->calls;
    if (c->calls)
        c->calls->prev = call;
    c->calls = call;
    nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, call);
    return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data) {
    (void)flags;
    (void)user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    grpc_call *call = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!call)
        return 0;
    if (namelen == 5 && memcmp(name, ":path", 5) == 0 && !call->path) {
        call->path = strndup((const char *)value, valuelen);
        if (!call->path)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                         const uint8_t *data, size_t len, void *user_data) {
    (void)flags;
    h2_conn *c = user_data;
    grpc_call *call = nghttp2_session_get_stream_user_data(session, stream_id);
    if (!call || call->answered)
        return 0; /* the rest of an answered (failed) request is dropped */
    const h2_server_options *o = &c->server->opts;
    size_t want = call->body_len + len;
    if (want > o->max_message + GRPC_PREFIX_LEN) {
        char why[96];
        snprintf(why, sizeof(why), "request message larger than %zu bytes", o->max_message);
        log_warn(MODULE, "stream %d %s: %s", (int)stream_id, grpc_call_path(call), why);
        grpc_call_fail(call, GRPC_RESOURCE_EXHAUSTED, why);
        return 0;
    }
    if (want > call->body_cap) {
        /* Grow to what the prefix announces when we know it (it is whole
         * in the body so far, or in this chunk when the body is empty), so
         * a message split over many DATA frames is copied once. */
        size_t total = call->body_len >= GRPC_PREFIX_LEN
                           ? grpc_frame_total(call->body, call->body_len)
                       : call->body_len == 0 ? grpc_frame_total(data, len)
                                             : 0;
        size_t cap = call->body_cap ? call->body_cap * 2 : 1024;
        if (total > want && total <= o->max_message + GRPC_PREFIX_LEN)
            cap = total;
        if (cap < want)
            cap = want;
        if (c->buffered - call->body_cap + cap > o->max_buffered) {
            log_warn(MODULE, "stream %d %s: connection holds too many request bytes",
                     (int)stream_id, grpc_call_path(call));
            grpc_call_fail(call, GRPC_RESOURCE_EXHAUSTED,
                           "too many request bytes held on this connection");
            return 0;
        }
        uint8_t *grown = realloc(call->body, cap);
        if (!grown) {
            grpc_call_fail(call, GRPC_RESOURCE_EXHAUSTED, "out of memory");
            return 0;
        }
        c->buffered += cap - call->body_cap;
        call->body = grown;
        call->body_cap = cap;
    }
    memcpy(call->body + call->body_len, data, len);
    call->body_len += len;
    return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data) {
    (void)user_data;
    if ((frame->hd.type != NGHTTP2_DATA && frame->hd.type != NGHTTP2_HEADERS) ||
        !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    grpc_call *call = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (call && !call->dispatched)
        call_dispatch(call);
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *user_data) {
    (void)user_data;
    grpc_call *call = nghttp2_session_get_stream_user_data(session, stream_id);
    if (!call)
        return 0;
    if (!call->answered && error_code != NGHTTP2_NO_ERROR)
        log_debug(MODULE, "stream %d %s reset by the client (%s)", (int)stream_id,
                  grpc_call_path(call), nghttp2_http2_strerror(error_code));
    nghttp2_session_set_stream_user_data(session, stream_id, NULL);
    call_free(call);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Connections                                                         */
/* ------------------------------------------------------------------ */

static void on_written(uv_write_t *req, int status) {
    write_req *w = (write_req *)req;
    h2_conn *c = w->conn;
    free(w->data);
    free(w);
    c->writes_pending--;
    if (status < 0 && status != UV_ECANCELED) {
        log_debug(MODULE, "write: %s", uv_strerror(status));
        conn_close(c);
        return;
    }
    if (c->closing && c->writes_pending == 0)
        conn_close(c);
}

/* Queues `data` (stolen) for the socket. */
static int conn_write(h2_conn *c, char *data, size_t len) {
    write_req *w = malloc(sizeof(*w));
    if (!w) {
        free(data);
        return UV_ENOMEM;
    }
    w->data = data;
    w->conn = c;
    uv_buf_t buf = uv_buf_init(data, (unsigned)len);
    int rc = uv_write(&w->req, &c->io.stream, &buf, 1, on_written);
    if (rc < 0) {
        free(data);
        free(w);
        return rc;
    }
    c->writes_pending++;
    return 0;
}

/* Sends everything nghttp2 (and TLS) has to send, in one write. Closes the
 * connection when neither side has anything more to say. */
static void conn_flush(h2_conn *c) {
    if (c->closed || c->in_recv > 0)
        return;
    char *out = NULL;
    size_t len = 0, cap = 0;
    bool failed = false;
    if (!c->use_tls || c->tls.handshake_done) {
        for (;;) {
            const uint8_t *data;
            ssize_t n = nghttp2_session_mem_send(c->h2, &data);
            if (n < 0) {
                log_warn(MODULE, "HTTP/2 send: %s", nghttp2_strerror((int)n));
                failed = true;
                break;
            }
            if (n == 0)
                break;
            if (c->use_tls) {
                if (tls_stream_write(&c->tls, data, (size_t)n) != 0) {
                    log_warn(MODULE, "%s", c->tls.error);
                    failed = true;
                    break;
                }
                continue;
            }
            if (len + (size_t)n > cap) {
                size_t want = cap ? cap * 2 : 16384;
                while (want < len + (size_t)n)
                    want *= 2;
                char *grown = realloc(out, want);
                if (!grown) {
                    failed = true;
                    break;
                }
                out = grown;
                cap = want;
            }
            memcpy(out + len, data, (size_t)n);
            len += (size_t)n;
        }
    }
    if (c->use_tls) {
        long n = tls_stream_take_output(&c->tls, &out);
        if (n < 0)
            failed = true;
        len = n > 0 ? (size_t)n : 0;
    }
    if (len > 0) {
        if (conn_write(c, out, len) != 0)
            failed = true;
    } else {
        free(out);
    }
    if (failed) {
        conn_close(c);
        return;
    }
    if (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2))
        c->closing = true;
    if (c->closing && c->writes_pending == 0)
        conn_close(c);
}

static void conn_freed(uv_handle_t *h) {
    h2_conn *c = h->data;
    h2_server *s = c->server;
    while (c->calls)
        call_free(c->calls);
    nghttp2_session_del(c->h2);
    if (c->use_tls)
        tls_stream_free(&c->tls);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    bool was_served = c->served;
    free(c);
    if (was_served && --s->served_open == 0 && !s->closing && s->opts.on_idle)
        s->opts.on_idle(s, s->opts.idle_arg);
    server_maybe_finish(s);
}

static void conn_close(h2_conn *c) {
    if (c->closed)
        return;
    c->closed = true;
    uv_close(&c->io.handle, conn_freed);
}

static void alloc_read(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)suggested;
    h2_conn *c = h->data;
    *buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

/* Plaintext for nghttp2: from the socket directly, or out of TLS. */
static int feed_h2(void *arg, const char *data, size_t len) {
    h2_conn *c = arg;
    c->in_recv++;
    ssize_t rv = nghttp2_session_mem_recv(c->h2, (const uint8_t *)data, len);
    c->in_recv--;
    if (rv < 0) {
        log_warn(MODULE, "closing a connection that does not speak HTTP/2: %s",
                 nghttp2_strerror((int)rv));
        return 1; /* stops tls_stream_pump; not a TLS status */
    }
    return 0;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
    (void)buf;
    h2_conn *c = stream->data;
    if (nread == 0)
        return;
    if (nread < 0) {
        if (nread != UV_EOF)
            log_debug(MODULE, "read: %s", uv_strerror((int)nread));
        conn_close(c);
        return;
    }
    int rc;
    if (c->use_tls) {
        rc = tls_stream_feed(&c->tls, c->rbuf, (size_t)nread);
        if (rc == 0) {
            rc = tls_stream_pump(&c->tls, feed_h2, c);
            if (rc == TLS_FAILED)
                log_warn(MODULE, "closing a connection: %s", c->tls.error);
            else if (rc == TLS_CLOSED)
                log_debug(MODULE, "the client ended its TLS session");
        }
    } else {
        rc = feed_h2(c, c->rbuf, (size_t)nread);
    }
    if (rc != 0) {
        /* Send what TLS may have to say (an alert), then close. */
        c->closing = true;
        conn_flush(c);
        if (!c->closed && c->writes_pending == 0)
            conn_close(c);
        return;
    }
    conn_flush(c);
}

/* A new nghttp2 server session with our callbacks and our SETTINGS queued
 * as its first frame. */
static int conn_start_h2(h2_conn *c) {
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0)
        return UV_ENOMEM;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    int rv = nghttp2_session_server_new(&c->h2, cbs, c);
    nghttp2_session_callbacks_del(cbs);
    if (rv != 0)
        return UV_ENOMEM;
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_STREAMS},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST},
    };
    rv = nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, settings,
                                 sizeof(settings) / sizeof(settings[0]));
    return rv == 0 ? 0 : UV_ENOMEM;
}

static void on_connection(uv_stream_t *listener, int status) {
    h2_server *s = listener->data;
    if (status < 0) {
        log_warn(MODULE, "accept: %s", uv_strerror(status));
        return;
    }
    h2_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->server = s;
    int rc = s->is_unix ? uv_pipe_init(s->loop, &c->io.pipe, 0) : uv_tcp_init(s->loop, &c->io.tcp);
    if (rc < 0) {
        free(c);
        return;
    }
    c->io.handle.data = c;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    if (uv_accept(listener, &c->io.stream) < 0 || conn_start_h2(c) != 0) {
        conn_close(c);
        return;
    }
    if (s->opts.tls) {
        if (tls_stream_init(&c->tls, s->opts.tls) != 0) {
            conn_close(c);
            return;
        }
        c->use_tls = true;
    }
    if (s->closing) {
        conn_close(c);
        return;
    }
    log_debug(MODULE, "connection accepted (%s)", c->use_tls ? "TLS" : "plaintext");
    uv_read_start(&c->io.stream, alloc_read, on_read);
    conn_flush(c); /* plaintext: our SETTINGS go out at once */
}

/* ------------------------------------------------------------------ */
/* The server                                                          */
/* ------------------------------------------------------------------ */

static int server_new(uv_loop_t *loop, const h2_server_options *opts, h2_server **out) {
    h2_server *s = calloc(1, sizeof(*s));
    if (!s)
        return UV_ENOMEM;
    s->loop = loop;
    s->opts = *opts;
    if (!s->opts.max_message)
        s->opts.max_message = DEFAULT_MAX_MESSAGE;
    if (!s->opts.max_buffered)
        s->opts.max_buffered = DEFAULT_MAX_BUFFERED;
    *out = s;
    return 0;
}

static void listener_closed(uv_handle_t *h) {
    h2_server *s = h->data;
    s->listener_closed = true;
    server_maybe_finish(s);
}

/* Frees the server once it is closing and its last handle is closed. */
static void server_maybe_finish(h2_server *s) {
    if (!s->closing || !s->listener_closed || s->conns)
        return;
    if (s->unix_path) {
        unlink(s->unix_path);
        free(s->unix_path);
    }
    void (*cb)(void *) = s->on_closed;
    void *arg = s->closed_arg;
    free(s);
    if (cb)
        cb(arg);
}

/* A listener that failed to start: closed and freed, nothing reported. */
static int listen_failed(h2_server *s, int rc) {
    s->closing = true;
    uv_close(&s->listener.handle, listener_closed);
    return rc;
}

int h2_server_listen_unix(uv_loop_t *loop, const char *path, const h2_server_options *opts,
                          h2_server **out) {
    h2_server *s;
    int rc = server_new(loop, opts, &s);
    if (rc < 0)
        return rc;
    s->is_unix = true;
    if ((rc = uv_pipe_init(loop, &s->listener.pipe, 0)) < 0) {
        free(s);
        return rc;
    }
    s->listener.handle.data = s;
    if ((rc = uv_pipe_bind(&s->listener.pipe, path)) < 0)
        return listen_failed(s, rc);
    s->unix_path = strdup(path);
    if (!s->unix_path)
        return listen_failed(s, UV_ENOMEM);
    if ((rc = uv_listen(&s->listener.stream, 16, on_connection)) < 0)
        return listen_failed(s, rc);
    *out = s;
    return 0;
}

int h2_server_listen_tcp(uv_loop_t *loop, const h2_server_options *opts, h2_server **out,
                         int *port) {
    h2_server *s;
    int rc = server_new(loop, opts, &s);
    if (rc < 0)
        return rc;
    if ((rc = uv_tcp_init(loop, &s->listener.tcp)) < 0) {
        free(s);
        return rc;
    }
    s->listener.handle.data = s;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    if ((rc = uv_tcp_bind(&s->listener.tcp, (const struct sockaddr *)&addr, 0)) < 0 ||
        (rc = uv_listen(&s->listener.stream, 16, on_connection)) < 0)
        return listen_failed(s, rc);
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    if ((rc = uv_tcp_getsockname(&s->listener.tcp, (struct sockaddr *)&bound, &len)) < 0)
        return listen_failed(s, rc);
    *port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    *out = s;
    return 0;
}

void h2_server_close(h2_server *s, void (*on_closed)(void *arg), void *arg) {
    if (s->closing)
        return;
    s->closing = true;
    s->on_closed = on_closed;
    s->closed_arg = arg;
    uv_close(&s->listener.handle, listener_closed);
    for (h2_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->closed)
            continue;
        uv_read_stop(&c->io.stream); /* no request starts after this */
        nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE,
                              nghttp2_session_get_last_proc_stream_id(c->h2), NGHTTP2_NO_ERROR,
                              NULL, 0);
        c->closing = true;
        conn_flush(c);
    }
}
