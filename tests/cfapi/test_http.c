/*
 * test_http.c - http_uv (libcurl multi on libuv) against a real HTTP
 * server on 127.0.0.1 (canned_server, on the same loop): requests and
 * answers, header lookup, the body cap, connection reuse and the
 * per-host connection cap, the easy-handle pool (handles only for running
 * transfers, reused without leftovers) and shared header sets, the proxy
 * rule, cancellation, teardown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "canned_server.h"
#include "http_uv.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define UA "cfapi-test-agent/1.0"

typedef struct seen {
    int calls;
    bool cancelled;
    int curl_code;
    long status;
    bool request_sent;
    bool body_too_large;
    size_t body_len;
    char body[256];
    char error[CURL_ERROR_SIZE + 64];
    char retry_after[64];
    char retry_after_ms[64];
    bool has_missing_header;
} seen;

static void on_done(const http_response *r, void *arg) {
    seen *s = arg;
    s->calls++;
    s->cancelled = r->cancelled;
    s->curl_code = r->curl_code;
    s->status = r->status;
    s->request_sent = r->request_sent;
    s->body_too_large = r->body_too_large;
    s->body_len = r->body_len;
    snprintf(s->body, sizeof s->body, "%s", r->body);
    snprintf(s->error, sizeof s->error, "%s", r->error);
    const char *h = http_response_header(r, "retry-after");
    snprintf(s->retry_after, sizeof s->retry_after, "%s", h ? h : "(none)");
    h = http_response_header(r, "RETRY-AFTER-MS");
    snprintf(s->retry_after_ms, sizeof s->retry_after_ms, "%s", h ? h : "(none)");
    s->has_missing_header = http_response_header(r, "X-Not-There") != NULL;
}

typedef struct fixture {
    uv_loop_t loop;
    canned_server server;
    http_client *http;
    bool closed;
} fixture;

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(canned_start(&f->server, &f->loop), 0);
    assert_int_equal(http_client_new(&f->loop, UA, &f->http), 0);
    *state = f;
    return 0;
}

static void on_closed(void *arg) {
    ((fixture *)arg)->closed = true;
}

/* Closes the client (if the test has not), stops the server, and checks
 * that nothing is left on the loop. */
static int teardown(void **state) {
    fixture *f = *state;
    if (f->http)
        http_client_close(f->http, on_closed, f);
    canned_stop(&f->server);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_true(f->closed);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
    return 0;
}

static int send_get(fixture *f, const char *url, seen *s, http_transfer **t) {
    http_request req = {.method = "GET", .url = url, .timeout_ms = 20000, .idempotent = true};
    return http_send(f->http, &req, on_done, s, t);
}

static void test_get_and_headers(void **state) {
    fixture *f = *state;
    f->server.body = "{\"hello\":1}";
    f->server.body_len = strlen(f->server.body);
    f->server.extra_headers = "Retry-After: 7\r\nretry-after-ms:   1500  \r\n";
    seen s = {0};
    const char *headers[] = {"Accept: application/json", "X-Test: yes", NULL};
    http_request req = {.method = "GET",
                        .url = f->server.url,
                        .headers = headers,
                        .timeout_ms = 20000,
                        .idempotent = true};
    assert_int_equal(http_send(f->http, &req, on_done, &s, NULL), 0);
    assert_int_equal(s.calls, 0); /* never from inside http_send */
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.curl_code, 0);
    assert_int_equal(s.status, 200);
    assert_true(s.request_sent);
    assert_string_equal(s.body, "{\"hello\":1}");
    assert_string_equal(s.retry_after, "7");
    assert_string_equal(s.retry_after_ms, "1500");
    assert_false(s.has_missing_header);
    /* what the server saw */
    assert_non_null(strstr(f->server.last_head, "GET / HTTP/1.1\r\n"));
    assert_non_null(strstr(f->server.last_head, "\r\nUser-Agent: " UA "\r\n"));
    assert_non_null(strstr(f->server.last_head, "\r\nX-Test: yes\r\n"));
    assert_non_null(strstr(f->server.last_head, "\r\nAccept: application/json\r\n"));
    assert_null(strstr(f->server.last_head, "Content-Type"));
}

static void test_post_bodies(void **state) {
    fixture *f = *state;
    seen s = {0};
    /* a POST without a body: Content-Length 0 and no Content-Type */
    http_request req = {.method = "POST", .url = f->server.url, .timeout_ms = 20000};
    assert_int_equal(http_send(f->http, &req, on_done, &s, NULL), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.status, 200);
    assert_non_null(strstr(f->server.last_head, "POST / HTTP/1.1\r\n"));
    assert_non_null(strstr(f->server.last_head, "\r\nContent-Length: 0\r\n"));
    assert_null(strstr(f->server.last_head, "Content-Type"));
    /* a PATCH with a body; the caller's buffer may change after http_send */
    char body[] = "{\"enabled\":true}";
    const char *headers[] = {"Content-Type: application/json", NULL};
    http_request patch = {.method = "PATCH",
                          .url = f->server.url,
                          .headers = headers,
                          .body = body,
                          .body_len = strlen(body),
                          .timeout_ms = 20000,
                          .idempotent = true};
    seen s2 = {0};
    assert_int_equal(http_send(f->http, &patch, on_done, &s2, NULL), 0);
    memset(body, 'X', strlen(body)); /* the body was copied */
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(s2.calls, 1);
    assert_non_null(strstr(f->server.last_head, "PATCH / HTTP/1.1\r\n"));
    assert_non_null(strstr(f->server.last_head, "\r\nContent-Type: application/json\r\n"));
    assert_string_equal(f->server.last_body, "{\"enabled\":true}");
    /* DELETE: no body at all */
    http_request del = {.method = "DELETE", .url = f->server.url, .idempotent = true};
    seen s3 = {0};
    assert_int_equal(http_send(f->http, &del, on_done, &s3, NULL), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(s3.calls, 1);
    assert_non_null(strstr(f->server.last_head, "DELETE / HTTP/1.1\r\n"));
    assert_null(strstr(f->server.last_head, "Content-Type"));
    assert_string_equal(f->server.last_body, "");
}

/* 9 MiB with a Content-Length (refused up front) and without one (cut off
 * by the write callback at 8 MiB). Neither grows past the cap. */
static void test_body_cap(void **state) {
    fixture *f = *state;
    size_t big = (size_t)9 * 1024 * 1024;
    char *body = malloc(big);
    assert_non_null(body);
    memset(body, 'a', big);
    f->server.body = body;
    f->server.body_len = big;
    seen s = {0};
    assert_int_equal(send_get(f, f->server.url, &s, NULL), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(s.calls, 1);
    assert_true(s.body_too_large);
    assert_int_not_equal(s.curl_code, 0);
    assert_non_null(strstr(s.error, "8 MiB"));

    f->server.close_delimited = true;
    seen s2 = {0};
    assert_int_equal(send_get(f, f->server.url, &s2, NULL), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(s2.calls, 1);
    assert_true(s2.body_too_large);
    assert_int_not_equal(s2.curl_code, 0);
    assert_true(s2.body_len <= HTTP_MAX_BODY);

    /* exactly at the cap is fine */
    f->server.close_delimited = false;
    f->server.body_len = HTTP_MAX_BODY;
    seen s3 = {0};
    assert_int_equal(send_get(f, f->server.url, &s3, NULL), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(s3.calls, 1);
    assert_int_equal(s3.curl_code, 0);
    assert_false(s3.body_too_large);
    assert_int_equal(s3.body_len, HTTP_MAX_BODY);
    free(body);
}

typedef struct chain {
    fixture *f;
    int left;
    int ok;
    seen s;
} chain;

static void on_chain(const http_response *r, void *arg) {
    chain *c = arg;
    if (r->curl_code == 0 && r->status == 200)
        c->ok++;
    if (--c->left > 0) {
        http_request req = {
            .method = "GET", .url = c->f->server.url, .timeout_ms = 20000, .idempotent = true};
        assert_int_equal(http_send(c->f->http, &req, on_chain, c, NULL), 0);
    }
}

/* Sequential requests share one kept-alive connection; requests that must
 * not be re-sent (idempotent = false) each get a fresh one. */
static void test_connection_reuse(void **state) {
    fixture *f = *state;
    f->server.body = "{}";
    f->server.body_len = 2;
    chain c = {.f = f, .left = 20};
    http_request req = {
        .method = "GET", .url = f->server.url, .timeout_ms = 20000, .idempotent = true};
    assert_int_equal(http_send(f->http, &req, on_chain, &c, NULL), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(c.ok, 20);
    assert_int_equal(f->server.requests, 20);
    assert_int_equal(f->server.accepted, 1);
    /* one connection, one poll handle, stopped and restarted per request */
    http_client_stats st;
    http_client_stats_get(f->http, &st);
    assert_int_equal(st.polls_created, 1);

    for (int i = 0; i < 3; i++) {
        seen s = {0};
        http_request post = {.method = "POST",
                             .url = f->server.url,
                             .body = "{}",
                             .body_len = 2,
                             .timeout_ms = 20000,
                             .idempotent = false};
        assert_int_equal(http_send(f->http, &post, on_done, &s, NULL), 0);
        uv_run(&f->loop, UV_RUN_DEFAULT);
        assert_int_equal(s.status, 200);
    }
    assert_int_equal(f->server.accepted, 4);
}

/* 200 concurrent requests to one host never hold more than
 * HTTP_MAX_HOST_CONNECTIONS connections; the rest queue and all finish. */
static void test_connection_cap(void **state) {
    fixture *f = *state;
    enum { N = 200 };
    f->server.body = "{}";
    f->server.body_len = 2;
    f->server.delay_ms = 50;
    seen *s = calloc(N, sizeof *s);
    assert_non_null(s);
    for (int i = 0; i < N; i++)
        assert_int_equal(send_get(f, f->server.url, &s[i], NULL), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    for (int i = 0; i < N; i++) {
        assert_int_equal(s[i].calls, 1);
        assert_int_equal(s[i].status, 200);
    }
    assert_int_equal(f->server.requests, N);
    assert_true(f->server.max_open <= HTTP_MAX_HOST_CONNECTIONS);
    assert_true(f->server.max_open > 1); /* and they did run in parallel */
    assert_true(f->server.accepted <= HTTP_MAX_HOST_CONNECTIONS);
    free(s);
}

/* More requests than HTTP_MAX_ACTIVE wait in http_uv's queue, and their
 * timeout only starts when they leave it: 4 waves of 400 ms answers take
 * over 1.6 s, yet none of them times out at 1.5 s. */
static void test_queue_does_not_eat_timeouts(void **state) {
    fixture *f = *state;
    enum { N = 4 * HTTP_MAX_ACTIVE };
    f->server.body = "{}";
    f->server.body_len = 2;
    f->server.delay_ms = 400;
    seen *s = calloc(N, sizeof *s);
    assert_non_null(s);
    http_request req = {
        .method = "GET", .url = f->server.url, .timeout_ms = 1500, .idempotent = true};
    uint64_t t0 = uv_hrtime();
    for (int i = 0; i < N; i++)
        assert_int_equal(http_send(f->http, &req, on_done, &s[i], NULL), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    double ms = (double)(uv_hrtime() - t0) / 1e6;
    for (int i = 0; i < N; i++) {
        if (s[i].calls != 1 || s[i].status != 200)
            fail_msg("request %d: calls %d status %ld error %s", i, s[i].calls, s[i].status,
                     s[i].error);
    }
    assert_int_equal(f->server.requests, N);
    assert_true(f->server.max_open <= HTTP_MAX_HOST_CONNECTIONS);
    assert_true(ms >= 1600); /* it really was longer than one timeout */
    free(s);
}

/* Two requests started together are both on the wire at once (plain
 * http must not wait for the first answer to decide on multiplexing). */
static void test_parallel_start(void **state) {
    fixture *f = *state;
    f->server.delay_ms = 30000;
    seen a = {0}, b = {0};
    http_transfer *ta = NULL, *tb = NULL;
    assert_int_equal(send_get(f, f->server.url, &a, &ta), 0);
    assert_int_equal(send_get(f, f->server.url, &b, &tb), 0);
    /* run until the server has both requests (the real signal), then cancel */
    while (f->server.requests < 2)
        uv_run(&f->loop, UV_RUN_ONCE);
    assert_true(http_transfer_request_sent(ta));
    assert_true(http_transfer_request_sent(tb));
    http_transfer_cancel(ta);
    http_transfer_cancel(tb);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(f->server.accepted, 2);
    assert_true(a.cancelled && b.cancelled);
    assert_true(a.request_sent && b.request_sent);
}

/* Cancelling a request still waiting in the queue. */
static void test_cancel_queued(void **state) {
    fixture *f = *state;
    enum { N = HTTP_MAX_ACTIVE + 3 };
    f->server.body = "{}";
    f->server.body_len = 2;
    f->server.delay_ms = 100;
    seen *s = calloc(N, sizeof *s);
    http_transfer **t = calloc(N, sizeof *t);
    assert_non_null(s);
    assert_non_null(t);
    for (int i = 0; i < N; i++)
        assert_int_equal(send_get(f, f->server.url, &s[i], &t[i]), 0);
    http_transfer_cancel(t[N - 1]);
    assert_false(http_transfer_request_sent(t[N - 1]));
    assert_int_equal(s[N - 1].calls, 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(s[N - 1].calls, 1);
    assert_true(s[N - 1].cancelled);
    assert_false(s[N - 1].request_sent);
    for (int i = 0; i < N - 1; i++) {
        assert_int_equal(s[i].calls, 1);
        assert_int_equal(s[i].status, 200);
    }
    assert_int_equal(f->server.requests, N - 1);
    free(s);
    free(t);
}

/* Many more requests than HTTP_MAX_ACTIVE: the queued ones hold no easy
 * handle, all of them complete, and the handles are reused, never more
 * than HTTP_MAX_ACTIVE of them made. */
static void test_pool_many_queued(void **state) {
    fixture *f = *state;
    enum { N = 8 * HTTP_MAX_ACTIVE + 5 };
    f->server.body = "{}";
    f->server.body_len = 2;
    f->server.delay_ms = 5;
    seen *s = calloc(N, sizeof *s);
    assert_non_null(s);
    for (int i = 0; i < N; i++)
        assert_int_equal(send_get(f, f->server.url, &s[i], NULL), 0);
    http_client_stats st;
    http_client_stats_get(f->http, &st);
    assert_int_equal(st.active, HTTP_MAX_ACTIVE);
    assert_int_equal(st.queued, N - HTTP_MAX_ACTIVE);
    assert_int_equal(st.easy_live, HTTP_MAX_ACTIVE); /* none for the queued */
    uv_run(&f->loop, UV_RUN_DEFAULT);
    for (int i = 0; i < N; i++) {
        if (s[i].calls != 1 || s[i].status != 200)
            fail_msg("request %d: calls %d status %ld error %s", i, s[i].calls, s[i].status,
                     s[i].error);
    }
    assert_int_equal(f->server.requests, N);
    http_client_stats_get(f->http, &st);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.active, 0);
    assert_int_equal(st.easy_created, HTTP_MAX_ACTIVE);
    assert_int_equal(st.easy_live, st.easy_idle);
    assert_true(st.easy_idle <= HTTP_MAX_ACTIVE);
    free(s);
}

/* Sends one request and runs the loop until it has answered. */
static void send_one(fixture *f, const http_request *req, seen *s) {
    memset(s, 0, sizeof *s);
    assert_int_equal(http_send(f->http, req, on_done, s, NULL), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(s->calls, 1);
}

/* One easy handle carries every request of a sequence, and nothing of a
 * request is left for the next: method, body, headers, timeout and the
 * fresh-connection flag are each the new request's own. */
static void test_reuse_inherits_nothing(void **state) {
    fixture *f = *state;
    f->server.body = "{}";
    f->server.body_len = 2;
    seen s;
    const char *headers[] = {"Content-Type: application/json", "X-First: 1", NULL};
    http_request patch = {.method = "PATCH",
                          .url = f->server.url,
                          .headers = headers,
                          .body = "{\"enabled\":true}",
                          .body_len = 16,
                          .timeout_ms = 20000,
                          .idempotent = false};
    send_one(f, &patch, &s);
    assert_int_equal(s.status, 200);
    assert_non_null(strstr(f->server.last_head, "PATCH / HTTP/1.1\r\n"));
    assert_non_null(strstr(f->server.last_head, "\r\nX-First: 1\r\n"));
    assert_string_equal(f->server.last_body, "{\"enabled\":true}");

    /* a GET after it: no method, body, length or header of the PATCH */
    http_request get = {.method = "GET", .url = f->server.url, .idempotent = true};
    send_one(f, &get, &s);
    assert_int_equal(s.status, 200);
    assert_non_null(strstr(f->server.last_head, "GET / HTTP/1.1\r\n"));
    assert_null(strstr(f->server.last_head, "X-First"));
    assert_null(strstr(f->server.last_head, "Content-Type"));
    assert_null(strstr(f->server.last_head, "Content-Length"));
    assert_string_equal(f->server.last_body, "");
    int accepted = f->server.accepted;

    /* a POST without a body after a GET: Content-Length 0, no type */
    http_request post = {.method = "POST", .url = f->server.url, .idempotent = true};
    send_one(f, &post, &s);
    assert_non_null(strstr(f->server.last_head, "POST / HTTP/1.1\r\n"));
    assert_non_null(strstr(f->server.last_head, "\r\nContent-Length: 0\r\n"));
    assert_null(strstr(f->server.last_head, "Content-Type"));
    /* a DELETE, then a GET: the custom method does not stay */
    http_request del = {.method = "DELETE", .url = f->server.url, .idempotent = true};
    send_one(f, &del, &s);
    assert_non_null(strstr(f->server.last_head, "DELETE / HTTP/1.1\r\n"));
    send_one(f, &get, &s);
    assert_non_null(strstr(f->server.last_head, "GET / HTTP/1.1\r\n"));
    /* only the PATCH (not idempotent) asked for a fresh connection */
    assert_int_equal(f->server.accepted, accepted);

    /* a timeout does not stay: 100 ms times out a 300 ms answer, the next
     * request without a timeout waits for it */
    f->server.delay_ms = 300;
    http_request quick = {
        .method = "GET", .url = f->server.url, .timeout_ms = 100, .idempotent = true};
    send_one(f, &quick, &s);
    assert_int_equal(s.curl_code, CURLE_OPERATION_TIMEDOUT);
    send_one(f, &get, &s);
    assert_int_equal(s.curl_code, 0);
    assert_int_equal(s.status, 200);

    http_client_stats st;
    http_client_stats_get(f->http, &st);
    assert_int_equal(st.easy_created, 1);
}

/* A header set is built once and shared; a POST without a body still
 * gets no Content-Type through it; a set and per-request lines cannot be
 * mixed. */
static void test_header_set(void **state) {
    fixture *f = *state;
    f->server.body = "{}";
    f->server.body_len = 2;
    const char *lines[] = {"Authorization: Bearer set-token", "Accept: application/json", NULL};
    http_headers *set = NULL;
    assert_int_equal(http_headers_new(lines, &set), 0);
    seen s;
    for (int i = 0; i < 3; i++) {
        http_request get = {
            .method = "GET", .url = f->server.url, .header_set = set, .idempotent = true};
        send_one(f, &get, &s);
        assert_int_equal(s.status, 200);
        assert_non_null(strstr(f->server.last_head, "\r\nAuthorization: Bearer set-token\r\n"));
        assert_non_null(strstr(f->server.last_head, "\r\nAccept: application/json\r\n"));
    }
    http_request post = {.method = "POST", .url = f->server.url, .header_set = set};
    send_one(f, &post, &s);
    assert_non_null(strstr(f->server.last_head, "\r\nAuthorization: Bearer set-token\r\n"));
    assert_non_null(strstr(f->server.last_head, "\r\nContent-Length: 0\r\n"));
    assert_null(strstr(f->server.last_head, "Content-Type"));
    /* and the next request of the set is not left without a type header
     * by that variant: a body with the set's lines only */
    http_request put = {.method = "PUT",
                        .url = f->server.url,
                        .header_set = set,
                        .body = "x=1",
                        .body_len = 3,
                        .idempotent = true};
    send_one(f, &put, &s);
    assert_non_null(strstr(f->server.last_head, "PUT / HTTP/1.1\r\n"));
    assert_string_equal(f->server.last_body, "x=1");
    const char *other[] = {"X-Other: 1", NULL};
    http_request both = {
        .method = "GET", .url = f->server.url, .headers = other, .header_set = set};
    memset(&s, 0, sizeof s);
    assert_int_equal(http_send(f->http, &both, on_done, &s, NULL), UV_EINVAL);
    http_headers_free(set);
    http_headers_free(NULL);
}

/* A request cancelled while it waits in the queue never gets an easy
 * handle: only the HTTP_MAX_ACTIVE that ran were ever made. */
static void test_cancelled_queued_gets_no_handle(void **state) {
    fixture *f = *state;
    enum { N = HTTP_MAX_ACTIVE + 20 };
    f->server.body = "{}";
    f->server.body_len = 2;
    f->server.delay_ms = 50;
    seen *s = calloc(N, sizeof *s);
    http_transfer **t = calloc(N, sizeof *t);
    assert_non_null(s);
    assert_non_null(t);
    for (int i = 0; i < N; i++)
        assert_int_equal(send_get(f, f->server.url, &s[i], &t[i]), 0);
    for (int i = HTTP_MAX_ACTIVE; i < N; i++)
        http_transfer_cancel(t[i]);
    http_client_stats st;
    http_client_stats_get(f->http, &st);
    assert_int_equal(st.queued, 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    for (int i = 0; i < N; i++) {
        assert_int_equal(s[i].calls, 1);
        assert_int_equal(s[i].cancelled, i >= HTTP_MAX_ACTIVE);
        assert_int_equal(s[i].status, i >= HTTP_MAX_ACTIVE ? 0 : 200);
    }
    http_client_stats_get(f->http, &st);
    assert_int_equal(st.easy_created, HTTP_MAX_ACTIVE);
    assert_int_equal(f->server.requests, HTTP_MAX_ACTIVE);
    free(s);
    free(t);
}

typedef struct cancel_ctx {
    http_transfer *t;
    seen *s;
} cancel_ctx;

static void on_cancel_timer(uv_timer_t *timer) {
    cancel_ctx *c = timer->data;
    http_transfer_cancel(c->t);
    assert_int_equal(c->s->calls, 0); /* not from inside cancel */
    uv_close((uv_handle_t *)timer, NULL);
}

/* A cancelled transfer reports once, later, with `cancelled`; cancelling
 * one transfer leaves the others alone. */
static void test_cancel(void **state) {
    fixture *f = *state;
    f->server.delay_ms = 30000;
    f->server.body = "{}";
    f->server.body_len = 2;
    seen waiting = {0}, inflight = {0};
    http_transfer *t1 = NULL, *t2 = NULL;
    assert_int_equal(send_get(f, f->server.url, &waiting, &t1), 0);
    assert_non_null(t1);
    http_transfer_cancel(t1);
    http_transfer_cancel(t1); /* a second cancel is a no-op */
    assert_int_equal(waiting.calls, 0);
    assert_false(http_transfer_request_sent(t1));

    assert_int_equal(send_get(f, f->server.url, &inflight, &t2), 0);
    uv_timer_t timer;
    cancel_ctx cc = {.t = t2, .s = &inflight};
    uv_timer_init(&f->loop, &timer);
    timer.data = &cc;
    uv_timer_start(&timer, on_cancel_timer, 200, 0);
    uint64_t t0 = uv_hrtime();
    uv_run(&f->loop, UV_RUN_DEFAULT);
    uint64_t elapsed_ms = (uv_hrtime() - t0) / 1000000;
    assert_int_equal(waiting.calls, 1);
    assert_true(waiting.cancelled);
    assert_false(waiting.request_sent);
    assert_int_equal(inflight.calls, 1);
    assert_true(inflight.cancelled);
    assert_true(inflight.request_sent); /* the server had the request */
    assert_int_equal(f->server.requests, 1);
    assert_true(elapsed_ms < 20000); /* far from the server's 30 s delay */
}

/* Closing with transfers in flight cancels them, then releases everything:
 * the teardown checks uv_loop_close() == 0. */
static void test_close_in_flight(void **state) {
    fixture *f = *state;
    f->server.delay_ms = 30000;
    seen s[5] = {0};
    for (int i = 0; i < 5; i++)
        assert_int_equal(send_get(f, f->server.url, &s[i], NULL), 0);
    http_client_close(f->http, on_closed, f);
    http_request req = {.method = "GET", .url = f->server.url, .idempotent = true};
    seen late = {0};
    assert_int_equal(http_send(f->http, &req, on_done, &late, NULL), UV_ECANCELED);
    f->http = NULL;
    canned_stop(&f->server);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_true(f->closed);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(s[i].calls, 1);
        assert_true(s[i].cancelled);
    }
    assert_int_equal(late.calls, 0);
}

static void test_connect_refused_and_protocols(void **state) {
    fixture *f = *state;
    /* a port with nothing listening: bind one, then close it */
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", f->server.port);
    canned_stop(&f->server);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    seen s = {0};
    assert_int_equal(send_get(f, url, &s, NULL), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.curl_code, CURLE_COULDNT_CONNECT);
    assert_int_equal(s.status, 0);
    assert_false(s.request_sent);
    assert_true(strlen(s.error) > 0);

    seen s2 = {0};
    assert_int_equal(send_get(f, "file:///etc/passwd", &s2, NULL), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(s2.calls, 1);
    assert_int_equal(s2.curl_code, CURLE_UNSUPPORTED_PROTOCOL);
    assert_int_equal(s2.body_len, 0);

    assert_int_equal(canned_start(&f->server, &f->loop), 0); /* for teardown */
}

typedef struct close_inside {
    fixture *f;
    int calls;
} close_inside;

static void on_done_close(const http_response *r, void *arg) {
    close_inside *ci = arg;
    (void)r;
    ci->calls++;
    if (ci->f->http) {
        http_client_close(ci->f->http, on_closed, ci->f);
        ci->f->http = NULL;
    }
}

/* The client may be closed from inside a transfer's callback, with other
 * transfers finishing in the same pass. */
static void test_close_from_callback(void **state) {
    fixture *f = *state;
    f->server.body = "{}";
    f->server.body_len = 2;
    close_inside ci = {.f = f};
    for (int i = 0; i < 3; i++) {
        http_request req = {
            .method = "GET", .url = f->server.url, .timeout_ms = 20000, .idempotent = true};
        assert_int_equal(http_send(f->http, &req, on_done_close, &ci, NULL), 0);
    }
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_true(f->closed);
    assert_int_equal(ci.calls, 3);
}

/* A listening socket standing in for a proxy: it counts the connections
 * it accepts and closes each at once, so a transfer sent to it fails fast
 * instead of waiting for its timeout. */
typedef struct fake_proxy {
    uv_tcp_t listener;
    int port;
    int accepted;
} fake_proxy;

static void on_proxy_conn_closed(uv_handle_t *h) {
    free(h);
}

static void on_proxy_connection(uv_stream_t *server, int status) {
    fake_proxy *p = server->data;
    if (status < 0)
        return;
    uv_tcp_t *conn = malloc(sizeof *conn);
    assert_non_null(conn);
    uv_tcp_init(server->loop, conn);
    if (uv_accept(server, (uv_stream_t *)conn) == 0)
        p->accepted++;
    uv_close((uv_handle_t *)conn, on_proxy_conn_closed);
}

static void fake_proxy_start(fake_proxy *p, uv_loop_t *loop) {
    struct sockaddr_in addr;
    struct sockaddr_storage bound;
    int len = sizeof bound;
    memset(p, 0, sizeof *p);
    assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &addr), 0);
    assert_int_equal(uv_tcp_init(loop, &p->listener), 0);
    p->listener.data = p;
    assert_int_equal(uv_tcp_bind(&p->listener, (const struct sockaddr *)&addr, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&p->listener, 16, on_proxy_connection), 0);
    assert_int_equal(uv_tcp_getsockname(&p->listener, (struct sockaddr *)&bound, &len), 0);
    p->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    uv_unref((uv_handle_t *)&p->listener);
}

/* Finding 6: a proxy named in the environment must never see a plain
 * http:// request to a loopback address: it would read the API token in
 * clear text (and answer for the wrong host). Each variable libcurl reads
 * for http:// URLs is tried alone. */
static void test_no_proxy_for_plain_http(void **state) {
    fixture *f = *state;
    static const char *const vars[] = {"http_proxy", "ALL_PROXY", "all_proxy", NULL};
    fake_proxy proxy;
    fake_proxy_start(&proxy, &f->loop);
    char proxy_url[64];
    snprintf(proxy_url, sizeof proxy_url, "http://127.0.0.1:%d", proxy.port);
    unsetenv("NO_PROXY");
    unsetenv("no_proxy");
    setenv("HTTPS_PROXY", proxy_url, 1);
    setenv("https_proxy", proxy_url, 1);
    for (int i = 0; vars[i]; i++) {
        setenv(vars[i], proxy_url, 1);
        seen s = {0};
        int before = f->server.requests;
        http_request req = {.method = "GET",
                            .url = f->server.url,
                            .headers = (const char *const[]){"Authorization: Bearer t0ken", NULL},
                            .timeout_ms = 5000,
                            .idempotent = true};
        assert_int_equal(http_send(f->http, &req, on_done, &s, NULL), 0);
        uv_run(&f->loop, UV_RUN_DEFAULT);
        unsetenv(vars[i]);
        assert_int_equal(s.calls, 1);
        assert_int_equal(proxy.accepted, 0);
        assert_int_equal(s.curl_code, 0);
        assert_int_equal(s.status, 200);
        assert_int_equal(f->server.requests, before + 1);
    }
    unsetenv("HTTPS_PROXY");
    unsetenv("https_proxy");
    uv_close((uv_handle_t *)&proxy.listener, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
}

/* The proxy rule for https:// URLs is decided per origin and remembered:
 * a loopback host never goes through the proxy, another host does, and
 * switching between them switches the answer. The TLS handshake with the
 * plain-http test server fails; only where the connection went matters. */
static void test_https_proxy_rule_per_origin(void **state) {
    fixture *f = *state;
    fake_proxy proxy;
    fake_proxy_start(&proxy, &f->loop);
    char proxy_url[64], loop_url[64];
    snprintf(proxy_url, sizeof proxy_url, "http://127.0.0.1:%d", proxy.port);
    snprintf(loop_url, sizeof loop_url, "https://127.0.0.1:%d/x", f->server.port);
    unsetenv("NO_PROXY");
    unsetenv("no_proxy");
    setenv("HTTPS_PROXY", proxy_url, 1);
    setenv("https_proxy", proxy_url, 1);
    static const char *const urls[] = {NULL, NULL, "https://api.example.invalid/a",
                                       "https://api.example.invalid/b", NULL};
    static const int proxied_after[] = {0, 0, 1, 2, 2};
    for (int i = 0; i < 5; i++) {
        seen s;
        http_request req = {.method = "GET",
                            .url = urls[i] ? urls[i] : loop_url,
                            .timeout_ms = 5000,
                            .idempotent = true};
        send_one(f, &req, &s);
        assert_int_not_equal(s.curl_code, 0);
        assert_int_equal(proxy.accepted, proxied_after[i]);
    }
    unsetenv("HTTPS_PROXY");
    unsetenv("https_proxy");
    uv_close((uv_handle_t *)&proxy.listener, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
}

static void test_bad_arguments(void **state) {
    fixture *f = *state;
    seen s = {0};
    http_request req = {.method = "GET", .url = NULL};
    assert_int_equal(http_send(f->http, &req, on_done, &s, NULL), UV_EINVAL);
    http_request nobody = {.method = "POST", .url = f->server.url, .body_len = 3};
    assert_int_equal(http_send(f->http, &nobody, on_done, &s, NULL), UV_EINVAL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_equal(s.calls, 0);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_and_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_does_not_eat_timeouts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parallel_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_queued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_many_queued, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reuse_inherits_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancelled_queued_gets_no_handle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_refused_and_protocols, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_proxy_for_plain_http, setup, teardown),
        cmocka_unit_test_setup_teardown(test_https_proxy_rule_per_origin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
