/*
 * canned_server.c - see canned_server.h. One request at a time per
 * connection (HTTP/1.1 without pipelining, which is all libcurl sends).
 */
#include "canned_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONN_BUF_MAX 65536

struct canned_conn {
    uv_tcp_t tcp;
    uv_timer_t delay;
    canned_server *server;
    char buf[CONN_BUF_MAX];
    size_t len;
    bool answering; /* a request is complete and being answered */
    bool closing;
    int handles_open;
    char head[512];
    uv_write_t write_req;
    canned_conn *prev, *next;
};

static void on_conn_handle_closed(uv_handle_t *h) {
    canned_conn *c = h->data;
    if (--c->handles_open == 0)
        free(c);
}

static void conn_close(canned_conn *c) {
    if (c->closing)
        return;
    c->closing = true;
    canned_server *s = c->server;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->open--;
    uv_close((uv_handle_t *)&c->delay, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    canned_conn *c = h->data;
    (void)suggested;
    buf->base = c->buf + c->len;
    buf->len = sizeof c->buf - c->len;
}

/* Returns the length of the complete request at the start of the buffer
 * (head + Content-Length body), or 0 when more is needed. */
static size_t complete_request(canned_conn *c, size_t *head_len) {
    char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    *head_len = (size_t)(end - c->buf) + 4;
    size_t body = 0;
    for (char *p = c->buf; p < end; p++) {
        if ((p == c->buf || p[-1] == '\n') && strncasecmp(p, "content-length:", 15) == 0)
            body = strtoul(p + 15, NULL, 10);
    }
    if (c->len < *head_len + body)
        return 0;
    return *head_len + body;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void on_written(uv_write_t *req, int status) {
    canned_conn *c = req->data;
    if (c->closing)
        return;
    if (status < 0 || c->server->close_delimited) {
        conn_close(c);
        return;
    }
    c->answering = false;
    /* The next request may already be buffered. */
    uv_buf_t none = uv_buf_init(c->buf + c->len, 0);
    on_read((uv_stream_t *)&c->tcp, 0, &none);
}

static void answer(canned_conn *c) {
    canned_server *s = c->server;
    if (s->close_delimited)
        snprintf(c->head, sizeof c->head, "HTTP/1.1 %d Canned\r\nConnection: close\r\n%s\r\n",
                 s->status, s->extra_headers ? s->extra_headers : "");
    else
        snprintf(c->head, sizeof c->head, "HTTP/1.1 %d Canned\r\nContent-Length: %zu\r\n%s\r\n",
                 s->status, s->body_len, s->extra_headers ? s->extra_headers : "");
    uv_buf_t bufs[2] = {uv_buf_init(c->head, (unsigned)strlen(c->head)),
                        uv_buf_init((char *)(s->body ? s->body : ""), (unsigned)s->body_len)};
    c->write_req.data = c;
    if (uv_write(&c->write_req, (uv_stream_t *)&c->tcp, bufs, 2, on_written) != 0)
        conn_close(c);
}

static void on_delay(uv_timer_t *t) {
    answer(t->data);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf) {
    canned_conn *c = stream->data;
    (void)buf;
    if (c->closing)
        return;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    c->len += (size_t)nread;
    if (c->answering)
        return;
    size_t head_len = 0;
    size_t n = complete_request(c, &head_len);
    if (n == 0) {
        if (c->len == sizeof c->buf)
            conn_close(c); /* too large for a test */
        return;
    }
    canned_server *s = c->server;
    s->requests++;
    snprintf(s->last_head, sizeof s->last_head, "%.*s", (int)head_len, c->buf);
    snprintf(s->last_body, sizeof s->last_body, "%.*s", (int)(n - head_len), c->buf + head_len);
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
    c->answering = true;
    if (s->delay_ms)
        uv_timer_start(&c->delay, on_delay, s->delay_ms, 0);
    else
        answer(c);
}

static void on_connection(uv_stream_t *listener, int status) {
    canned_server *s = listener->data;
    if (status < 0)
        return;
    canned_conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->server = s;
    uv_tcp_init(s->loop, &c->tcp);
    uv_timer_init(s->loop, &c->delay);
    c->tcp.data = c;
    c->delay.data = c;
    c->handles_open = 2;
    /* The server never keeps the loop alive by itself: uv_run() returns
     * once the client under test has nothing left to do. */
    uv_unref((uv_handle_t *)&c->tcp);
    uv_unref((uv_handle_t *)&c->delay);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->open++;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    s->accepted++;
    if (s->open > s->max_open)
        s->max_open = s->open;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int canned_start(canned_server *s, uv_loop_t *loop) {
    struct sockaddr_in addr;
    struct sockaddr_storage bound;
    int len = sizeof bound;
    s->loop = loop;
    if (!s->status)
        s->status = 200;
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    uv_unref((uv_handle_t *)&s->listener);
    uv_ip4_addr("127.0.0.1", 0, &addr);
    int rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection);
    if (rc == 0)
        rc = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &len);
    if (rc != 0) {
        uv_close((uv_handle_t *)&s->listener, NULL);
        return rc;
    }
    s->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    s->listening = true;
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d/", s->port);
    return 0;
}

void canned_stop(canned_server *s) {
    if (!s->listening)
        return;
    s->listening = false;
    while (s->conns)
        conn_close(s->conns);
    uv_close((uv_handle_t *)&s->listener, NULL);
}
