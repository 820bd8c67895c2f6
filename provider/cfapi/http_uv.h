/*
 * http_uv.h - asynchronous HTTP on a libuv loop: libcurl's multi interface
 * driven by uv_poll_t / uv_timer_t. This is the only module that calls
 * curl_multi_*.
 *
 * It follows curl's docs/examples/multi-uv.c with that example's gaps
 * closed: a negative poll status is reported to libcurl as
 * CURL_CSELECT_ERR, finished transfers are collected after every
 * curl_multi_socket_action() call, libcurl's timer function only arms a
 * uv_timer_t (a 0 ms timeout fires on the next loop iteration, never from
 * inside libcurl), poll contexts are freed only in their uv_close callbacks,
 * and teardown runs in order (curl_multi_cleanup, then the timers are
 * closed, then the client is freed from the last close callback).
 *
 * One multi handle means one connection cache: connections are kept alive
 * and reused, HTTP/2 transfers are multiplexed, and the number of
 * connections per host is capped (HTTP_MAX_HOST_CONNECTIONS). At most
 * HTTP_MAX_ACTIVE transfers are handed to libcurl at once; the rest wait
 * here, in order, so hundreds of concurrent requests queue rather than open
 * hundreds of sockets, and a request's timeout only starts counting when it
 * leaves this queue (libcurl counts time spent waiting for a connection
 * against the timeout).
 *
 * A waiting request holds only a copy of what it sends. Its libcurl easy
 * handle and response buffers come when it leaves the queue, from a pool
 * of at most HTTP_MAX_ACTIVE idle handles that finished transfers give back
 * (curl_easy_reset() between two transfers, so no option carries over), so
 * a thousand queued requests cost no libcurl memory and a steady stream of
 * requests creates no easy handle after the first HTTP_MAX_ACTIVE. Headers
 * every request sends (credentials, Accept) can be built once as an
 * http_headers set and shared by every request that names it.
 *
 * Every transfer's callback runs exactly once, from the loop, never from
 * inside http_send() or http_transfer_cancel(). TLS 1.2 is the minimum
 * version, and TLS peer and host verification are always on; only http and https are allowed; no
 * redirects are followed; no thread is started by this module. A proxy
 * from the environment (http_proxy, HTTPS_PROXY, ALL_PROXY) is used for
 * https:// URLs to other hosts only: never for a plain http:// URL, whose
 * request and API token would cross the proxy in clear text, nor for a
 * loopback host.
 */
#ifndef HTTP_UV_H
#define HTTP_UV_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

/* The response body limit; a larger body fails the transfer. */
#define HTTP_MAX_BODY ((size_t)8 * 1024 * 1024)
/* The limit on the response header block kept for http_response_header(). */
#define HTTP_MAX_HEADERS ((size_t)64 * 1024)
/* Connections open to one host at a time, and transfers inside libcurl at
 * once. Measured against cf-api-sim (2 cores, loopback): throughput of
 * quick answers is the same from 8 to 128; with 1 s answers, 100 requests
 * take 13 s at 8, 7 s at 16, 2 s at 64. Over HTTP/2 one connection carries
 * them all anyway. */
#ifndef HTTP_MAX_HOST_CONNECTIONS
#define HTTP_MAX_HOST_CONNECTIONS 64
#endif
#define HTTP_MAX_ACTIVE HTTP_MAX_HOST_CONNECTIONS

typedef struct http_client http_client;
typedef struct http_transfer http_transfer;
typedef struct http_headers http_headers;

typedef struct http_request {
    const char *method;         /* "GET", "POST", "PATCH", "DELETE", ... */
    const char *url;            /* absolute http:// or https:// URL */
    const char *const *headers; /* NULL-terminated "Name: value" lines, copied; may be NULL */
    /* Or (not both): a set built once by http_headers_new(), borrowed, not
     * copied; it must outlive every transfer sent with it. */
    const http_headers *header_set;
    const char *body; /* copied; NULL sends no body */
    size_t body_len;
    long timeout_ms; /* bound on the whole transfer; 0 means none */
    /* False for requests that must never be sent twice (a create): the
     * request then goes out on a fresh connection, because libcurl silently
     * re-sends a request whose reused connection turns out to be dead. */
    bool idempotent;
} http_request;

/* What a transfer ended with. Everything is borrowed and valid only during
 * the callback. */
typedef struct http_response {
    bool cancelled;    /* http_transfer_cancel() or http_client_close() ended it */
    int curl_code;     /* a CURLcode; 0 when a response was received */
    const char *error; /* human-readable error ("" when curl_code == 0) */
    long status;       /* HTTP status; 0 when no response arrived */
    /* True when (at least part of) the request was written to a connection,
     * so the server may have acted on it even if no answer came back. */
    bool request_sent;
    bool body_too_large; /* the body passed HTTP_MAX_BODY (curl_code is set) */
    const char *body;    /* NUL-terminated; "" when none */
    size_t body_len;
    double duration_ms; /* from leaving the queue to the end */
    /* internal: the last response's header block for http_response_header() */
    const char *header_block;
    size_t header_block_len;
} http_response;

/* True when the `len` bytes at `host` are a literal loopback host:
 * "localhost" (any case), "[::1]", or 127.a.b.c with exactly four decimal
 * octets of 0-255 without leading zeros. Anything else ("127.1",
 * "127.0.0.1.", "localhost.evil.com") would be resolved or normalized
 * first, so it is not loopback by this rule. */
bool http_host_is_loopback(const char *host, size_t len);

typedef void (*http_done_cb)(const http_response *res, void *arg);

/* Creates a client on `loop`. `user_agent` is copied and sent with every
 * request. Returns 0 or a negative libuv error (UV_ENOMEM, UV_EINVAL). */
int http_client_new(uv_loop_t *loop, const char *user_agent, http_client **out);

/* Builds a header set from NULL-terminated "Name: value" lines (copied),
 * for requests that all send the same headers: libcurl's list is made
 * once, not per request. Returns 0 or UV_ENOMEM. Free it with
 * http_headers_free() once no transfer uses it (after its client has
 * closed, say). */
int http_headers_new(const char *const *lines, http_headers **out);
void http_headers_free(http_headers *h);

/* Starts a request. `req` and everything it points to is copied, except
 * req->header_set (borrowed). Returns 0 and later calls `cb` exactly once
 * from the loop; or returns a negative libuv error (UV_EINVAL when both
 * headers and header_set are given) and never calls `cb`. When
 * `transfer_out` is not NULL it receives a handle valid until the callback
 * has returned. */
int http_send(http_client *client, const http_request *req, http_done_cb cb, void *arg,
              http_transfer **transfer_out);

/* True once (part of) the request has been written to a connection.
 * Callable on a transfer still in flight. */
bool http_transfer_request_sent(const http_transfer *t);

/* Aborts a transfer. Its callback still runs exactly once, on a later loop
 * iteration, with `cancelled` set. No-op when the transfer is already
 * being cancelled or when called from its own callback. */
void http_transfer_cancel(http_transfer *t);

/* Looks up a header of the response (case-insensitive name). Returns the
 * value with surrounding blanks removed (borrowed, valid during the
 * callback), or NULL. With repeated headers, the first one wins. */
const char *http_response_header(const http_response *res, const char *name);

/* What the client holds now, for tests and benchmarks. */
typedef struct http_client_stats {
    unsigned queued;        /* requests waiting for a slot (no easy handle) */
    unsigned active;        /* transfers inside libcurl */
    unsigned easy_live;     /* easy handles that exist (active, idle, or delivering) */
    unsigned easy_idle;     /* of which idle in the pool (at most HTTP_MAX_ACTIVE) */
    unsigned easy_created;  /* easy handles created since the client was */
    unsigned polls_created; /* uv_poll_t made (one per descriptor number, not per transfer) */
} http_client_stats;
void http_client_stats_get(const http_client *client, http_client_stats *out);

/* Cancels every transfer still in flight (their callbacks run with
 * `cancelled`), then cleans up libcurl, closes the timers and frees the
 * client; `on_closed` (may be NULL) runs once everything is released.
 * Run the loop until then. http_send() fails with UV_ECANCELED meanwhile. */
void http_client_close(http_client *client, void (*on_closed)(void *arg), void *arg);

#endif /* HTTP_UV_H */
