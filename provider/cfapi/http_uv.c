/*
 * http_uv.c - libcurl's multi interface on a libuv loop. See http_uv.h.
 *
 * Shape (after curl's docs/examples/multi-uv.c):
 *
 *   libcurl --CURLMOPT_SOCKETFUNCTION--> on_curl_socket: one uv_poll_t per socket
 *   libcurl --CURLMOPT_TIMERFUNCTION---> on_curl_timer: (re)arms client->timer only
 *   uv_poll_t fires  --> curl_multi_socket_action(fd)                --> drain_done()
 *   client->timer    --> curl_multi_socket_action(CURL_SOCKET_TIMEOUT) --> drain_done()
 *
 * No user callback ever runs inside a libcurl callback: transfers are
 * reported from drain_done(), after curl_multi_socket_action() has returned,
 * and cancelled transfers from client->defer, a second timer that runs on
 * the next loop iteration. So a user callback may start, cancel or close
 * anything.
 */
#include "http_uv.h"

#include "dynbuf.h"

#include <curl/curl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum transfer_state {
    TRANSFER_QUEUED,     /* waiting for a free slot; no easy handle yet */
    TRANSFER_ACTIVE,     /* in the multi handle, on an easy handle of its own */
    TRANSFER_CANCELLED,  /* removed from the multi, callback pending on client->defer */
    TRANSFER_DELIVERING, /* its callback is running */
} transfer_state;

/* One libcurl easy handle and what lives with it while a transfer runs:
 * the error buffer and the response buffers. A transfer gets a slot when
 * it starts (never while it waits in the queue) and gives it back after
 * its callback; the client keeps up to HTTP_MAX_ACTIVE free slots for the
 * next transfers, so a steady stream of requests makes no easy handle (5
 * KiB and some 40 option defaults each) after the first HTTP_MAX_ACTIVE.
 * The connections are not here: they belong to the multi handle's cache. */
typedef struct easy_slot {
    CURL *easy;
    struct easy_slot *next_free;
    bool used;      /* has carried a transfer: curl_easy_reset() before the next */
    dynbuf body;    /* capped at HTTP_MAX_BODY */
    dynbuf headers; /* "name\0value\0" pairs of the last response */
    char errbuf[CURL_ERROR_SIZE];
} easy_slot;

/* A response buffer bigger than this is released when its slot is given
 * back, so one large answer does not pin its memory in the pool. */
#define SLOT_KEEP_BYTES ((size_t)16 * 1024)

/* A request from http_send() to its callback. What it must send is copied
 * into the same allocation (method, URL, body: `text`), so a request
 * waiting in the queue costs one small block and nothing else. */
struct http_transfer {
    http_client *client;
    easy_slot *slot; /* from the start of the transfer to the end of its callback */
    http_done_cb cb;
    void *arg;
    transfer_state state;
    const http_headers *header_set; /* borrowed (http_request.header_set) */
    struct curl_slist *own_headers; /* built from http_request.headers, or NULL */
    const char *method;             /* in text[] */
    const char *url;                /* in text[] */
    const char *body;               /* in text[]; NULL: no body */
    size_t body_len;
    long timeout_ms;
    bool idempotent;
    bool request_sent;    /* captured when the transfer leaves the multi handle */
    bool failed_to_start; /* no easy handle could be set up for it */
    uint64_t start_ns;
    http_transfer *prev, *next;
    char text[]; /* method\0url\0body\0 */
};

/* A header set (http_headers_new()): the lines as libcurl takes them, and
 * the same lines plus "Content-Type:" for a POST without a body (which
 * must not get libcurl's application/x-www-form-urlencoded). */
struct http_headers {
    struct curl_slist *lines;
    struct curl_slist *lines_no_type;
};

/* A poll handle for a socket libcurl asks us to watch, kept per
 * descriptor number. When libcurl stops watching a socket (a kept-alive
 * connection going back to its cache), the handle is only stopped, and
 * the next socket libcurl asks for with the same number takes it again:
 * no allocation, uv_poll_init() (an ioctl) or close per transfer. A
 * stopped uv_poll_t is nothing but a number to libuv (it is out of epoll
 * and of the loop's watchers), so a descriptor closed and reopened in
 * between is no harm. Freed only in its close callback, at client close;
 * it does not point at the client once closing. */
typedef struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    http_client *client;
} sock_ctx;

typedef struct transfer_list {
    http_transfer *head, *tail;
} transfer_list;

struct http_client {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer; /* libcurl's timeout */
    uv_timer_t defer; /* cancelled-transfer callbacks and the close sequence */
    char *user_agent;
    transfer_list queued; /* over HTTP_MAX_ACTIVE, waiting in order */
    transfer_list active;
    unsigned n_active;
    transfer_list cancelled;
    easy_slot *free_slots; /* easy handles not carrying a transfer */
    http_client_stats stats;
    /* The last https:// origin ("https://host:port") checked for the
     * proxy rule, and its answer: every request of a client goes to the
     * same API, so libcurl's URL parser runs once, not per request. */
    char *proxy_origin;
    size_t proxy_origin_len;
    bool proxy_origin_bypass;
    sock_ctx **socks;  /* by descriptor number: watching or stopped; NULL: none */
    size_t socks_size; /* entries in socks */
    bool closing;
    bool in_timeout; /* inside on_timeout(), i.e. inside libuv's timer pass */
    int open_timers; /* timers not yet closed during teardown */
    void (*on_closed)(void *arg);
    void *on_closed_arg;
};

static void list_push(transfer_list *l, http_transfer *t) {
    t->next = NULL;
    t->prev = l->tail;
    if (l->tail)
        l->tail->next = t;
    else
        l->head = t;
    l->tail = t;
}

static void list_unlink(transfer_list *l, http_transfer *t) {
    if (t->prev)
        t->prev->next = t->next;
    else
        l->head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        l->tail = t->prev;
    t->prev = t->next = NULL;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata) {
    easy_slot *slot = userdata;
    size_t n = size * nmemb;
    if (dynbuf_add(&slot->body, ptr, n) != 0)
        return 0; /* makes libcurl fail the transfer with CURLE_WRITE_ERROR */
    return n;
}

/* libcurl hands over one complete header line at a time, for every
 * response it reads (1xx interim responses included). A status line starts
 * a new block, so only the final response's headers are kept. Each header
 * is stored as "name\0value\0" with the value trimmed. */
static size_t on_header(char *ptr, size_t size, size_t nitems, void *userdata) {
    easy_slot *slot = userdata;
    size_t n = size * nitems;
    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        dynbuf_reset(&slot->headers);
        return n;
    }
    const char *colon = memchr(ptr, ':', n);
    if (!colon || colon == ptr)
        return n; /* the blank line ending the block, or junk */
    const char *v = colon + 1, *end = ptr + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    /* A failed add is remembered by the buffer (dynbuf_error). */
    dynbuf_add(&slot->headers, ptr, (size_t)(colon - ptr));
    dynbuf_addc(&slot->headers, '\0');
    dynbuf_add(&slot->headers, v, (size_t)(end - v));
    if (dynbuf_addc(&slot->headers, '\0') != 0)
        return 0;
    return n;
}

/* Looks a header up in the stored "name\0value\0" block. */
const char *http_response_header(const http_response *res, const char *name) {
    const char *p = res->header_block, *end = p + res->header_block_len;
    if (!p)
        return NULL;
    while (p < end) {
        const char *hname = p;
        const char *hval = hname + strlen(hname) + 1;
        if (hval >= end)
            break;
        if (strcasecmp(hname, name) == 0)
            return hval;
        p = hval + strlen(hval) + 1;
    }
    return NULL;
}

static void on_defer(uv_timer_t *timer);

static void slot_free(http_client *c, easy_slot *slot) {
    curl_easy_cleanup(slot->easy);
    dynbuf_free(&slot->body);
    dynbuf_free(&slot->headers);
    free(slot);
    c->stats.easy_live--;
}

/* A slot for a transfer that starts now: a free one (reset, so nothing of
 * the transfer it carried before is left in its options), or a new one.
 * NULL when out of memory. */
static easy_slot *slot_take(http_client *c) {
    easy_slot *slot = c->free_slots;
    if (slot) {
        c->free_slots = slot->next_free;
        c->stats.easy_idle--;
        slot->next_free = NULL;
        if (slot->used)
            curl_easy_reset(slot->easy);
        return slot;
    }
    slot = calloc(1, sizeof *slot);
    if (!slot)
        return NULL;
    slot->easy = curl_easy_init();
    if (!slot->easy) {
        free(slot);
        return NULL;
    }
    dynbuf_init(&slot->body, HTTP_MAX_BODY);
    dynbuf_init(&slot->headers, HTTP_MAX_HEADERS);
    c->stats.easy_created++;
    c->stats.easy_live++;
    return slot;
}

/* Gives a slot back after its transfer's callback: kept for the next
 * transfer while fewer than HTTP_MAX_ACTIVE are free (and the client is
 * not closing), else released. Its easy handle is out of the multi. */
static void slot_give_back(http_client *c, easy_slot *slot) {
    if (c->closing || c->stats.easy_idle >= HTTP_MAX_ACTIVE) {
        slot_free(c, slot);
        return;
    }
    dynbuf_reset_shrink(&slot->body, SLOT_KEEP_BYTES);
    dynbuf_reset_shrink(&slot->headers, SLOT_KEEP_BYTES);
    slot->errbuf[0] = '\0';
    slot->next_free = c->free_slots;
    c->free_slots = slot;
    c->stats.easy_idle++;
}

static void transfer_free(http_transfer *t) {
    if (t->slot)
        slot_give_back(t->client, t->slot);
    curl_slist_free_all(t->own_headers);
    free(t);
}

static bool easy_request_sent(CURL *easy) {
    long size = 0;
    if (curl_easy_getinfo(easy, CURLINFO_REQUEST_SIZE, &size) != CURLE_OK)
        return false;
    return size > 0;
}

/* Builds the response from the finished (or cancelled) transfer, runs the
 * callback, then frees the transfer and gives its slot back. The easy
 * handle, when it has one, is no longer in the multi handle. */
static void deliver(http_transfer *t, CURLcode code, bool cancelled) {
    easy_slot *slot = t->slot;
    http_response r;
    memset(&r, 0, sizeof r);
    r.cancelled = cancelled;
    r.curl_code = (int)code;
    r.request_sent = t->request_sent;
    if (slot) {
        curl_easy_getinfo(slot->easy, CURLINFO_RESPONSE_CODE, &r.status);
        r.body_too_large = dynbuf_error(&slot->body) != 0 || code == CURLE_FILESIZE_EXCEEDED;
    }
    if (t->failed_to_start) {
        r.cancelled = false;
        r.curl_code = CURLE_OUT_OF_MEMORY;
        r.error = "could not start the transfer";
    } else if (cancelled)
        r.error = "cancelled";
    else if (r.body_too_large)
        r.error = "response body larger than the 8 MiB limit";
    else if (slot && dynbuf_error(&slot->headers) != 0)
        r.error = "response headers larger than the 64 KiB limit";
    else if (code != CURLE_OK)
        r.error = slot && slot->errbuf[0] ? slot->errbuf : curl_easy_strerror(code);
    else
        r.error = "";
    r.body = slot && dynbuf_ptr(&slot->body) ? dynbuf_ptr(&slot->body) : "";
    r.body_len = slot ? dynbuf_len(&slot->body) : 0;
    r.header_block = slot ? dynbuf_ptr(&slot->headers) : NULL;
    r.header_block_len = slot ? dynbuf_len(&slot->headers) : 0;
    r.duration_ms = (double)(uv_hrtime() - t->start_ns) / 1e6;
    t->state = TRANSFER_DELIVERING;
    t->cb(&r, t->arg);
    transfer_free(t);
}

/* Sets the method and body. A POST without a body still sends
 * "Content-Length: 0", and its Content-Type is suppressed (libcurl would
 * otherwise add application/x-www-form-urlencoded): through the header
 * set's variant, or an entry added to the transfer's own list. */
static int set_method(http_transfer *t, CURL *e, const struct curl_slist **hdrs) {
    const char *method = t->method;
    if (t->body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->body_len);
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
        if (t->header_set) {
            *hdrs = t->header_set->lines_no_type;
        } else {
            struct curl_slist *n = curl_slist_append(t->own_headers, "Content-Type:");
            if (!n)
                return UV_ENOMEM;
            t->own_headers = n;
            *hdrs = n;
        }
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }
    return 0;
}

/* True when `s` is exactly `n` decimal digits' worth of one IPv4 octet:
 * 0-255, written without leading zeros (libcurl would read "010" as
 * octal). */
static bool is_octet(const char *s, size_t n) {
    if (n == 0 || n > 3 || (n > 1 && s[0] == '0'))
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    return v <= 255;
}

bool http_host_is_loopback(const char *host, size_t len) {
    if ((len == 9 && strncasecmp(host, "localhost", 9) == 0) ||
        (len == 5 && memcmp(host, "[::1]", 5) == 0))
        return true;
    if (len < 4 || memcmp(host, "127.", 4) != 0)
        return false;
    /* 127.a.b.c: exactly four dotted octets, nothing else. */
    const char *p = host, *end = host + len;
    for (int part = 0; part < 4; part++) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        const char *stop = part < 3 ? dot : end;
        if (!stop || (part == 3 && dot) || !is_octet(p, (size_t)(stop - p)))
            return false;
        p = stop + 1;
    }
    return true;
}

/* True when a transfer to `url` must not go through a proxy: every plain
 * http:// URL (the request, API token included, is clear text, and this
 * provider only ever sends http:// to a loopback address), and any URL
 * whose host is a loopback address (a proxy would reach its own loopback,
 * not ours). The host is the one libcurl will connect to, as its URL
 * parser reads it. The answer for the last origin (everything before the
 * path, query or fragment) is remembered: the same origin text has the
 * same host. */
static bool bypasses_proxy(http_client *c, const char *url) {
    if (strncasecmp(url, "http://", 7) == 0)
        return true;
    const char *auth = strstr(url, "://");
    size_t origin_len = auth ? (size_t)(auth + 3 - url) + strcspn(auth + 3, "/?#") : 0;
    if (origin_len && c->proxy_origin && origin_len == c->proxy_origin_len &&
        memcmp(url, c->proxy_origin, origin_len) == 0)
        return c->proxy_origin_bypass;
    CURLU *u = curl_url();
    char *host = NULL;
    bool loopback = false;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
        loopback = http_host_is_loopback(host, strlen(host));
    curl_free(host);
    curl_url_cleanup(u);
    char *origin = origin_len ? strndup(url, origin_len) : NULL;
    if (origin) { /* without memory, just not remembered */
        free(c->proxy_origin);
        c->proxy_origin = origin;
        c->proxy_origin_len = origin_len;
        c->proxy_origin_bypass = loopback;
    }
    return loopback;
}

/* Sets every option of a transfer on its slot's easy handle, which is
 * either new or reset (curl_easy_reset: the options of the transfer it
 * carried before are gone; its connections stay in the multi's cache).
 * Returns 0 or a negative libuv error. */
static int configure_easy(http_client *c, http_transfer *t, easy_slot *slot) {
    CURL *e = slot->easy;
    const struct curl_slist *hdrs = t->header_set ? t->header_set->lines : t->own_headers;
    int rc = set_method(t, e, &hdrs);
    if (rc != 0)
        return rc;
    if (curl_easy_setopt(e, CURLOPT_URL, t->url) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK)
        return UV_ENOMEM;
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)t);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    /* TLS 1.2 at least, whatever the system's OpenSSL policy would allow:
     * TLS 1.0 and 1.1 are deprecated (RFC 8996). tests/cfapi/test_tls.c
     * checks it against a TLS 1.1-only server. */
    if (curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) != CURLE_OK)
        return UV_EINVAL;
    /* An empty proxy overrides http_proxy, ALL_PROXY and the rest of the
     * environment for this transfer; other transfers keep the
     * environment's proxy (the usual way out of a corporate network). */
    if (bypasses_proxy(c, t->url))
        curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, slot->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, slot);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, slot);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)HTTP_MAX_BODY);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    /* Over TLS (where HTTP/2 is negotiated), wait for the first connection
     * to say whether it can multiplex instead of opening one connection per
     * request. Not over plain http: there it would only hold every request
     * behind the first answer, as HTTP/1.1 cannot multiplex. */
    if (strncasecmp(t->url, "https://", 8) == 0)
        curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    if (t->timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, t->timeout_ms);
    if (!t->idempotent)
        curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    return 0;
}

/* Starts the transfer: takes a slot, sets the easy handle up and hands it
 * to libcurl. Adding the handle only arms the timer (0 ms): the transfer
 * starts on the next loop iteration. On failure the transfer holds no
 * slot and is in no list. */
static int activate(http_client *c, http_transfer *t) {
    easy_slot *slot = slot_take(c);
    if (!slot)
        return UV_ENOMEM;
    slot->used = true;
    int rc = configure_easy(c, t, slot);
    if (rc == 0 && curl_multi_add_handle(c->multi, slot->easy) != CURLM_OK)
        rc = UV_ENOMEM;
    if (rc != 0) {
        slot_give_back(c, slot);
        return rc;
    }
    t->slot = slot;
    t->start_ns = uv_hrtime();
    t->state = TRANSFER_ACTIVE;
    list_push(&c->active, t);
    c->n_active++;
    return 0;
}

/* Moves queued transfers into libcurl while there is room. A transfer that
 * cannot be started is reported (as failed) on the next iteration. */
static void promote_queued(http_client *c) {
    while (!c->closing && c->queued.head && c->n_active < HTTP_MAX_ACTIVE) {
        http_transfer *t = c->queued.head;
        list_unlink(&c->queued, t);
        c->stats.queued--;
        if (activate(c, t) != 0) {
            t->failed_to_start = true;
            t->state = TRANSFER_CANCELLED;
            list_push(&c->cancelled, t);
            uv_timer_start(&c->defer, on_defer, 0, 0);
        }
    }
}

/* Collects every finished transfer. Called after each
 * curl_multi_socket_action(), whatever it returned and whatever the running
 * count says: a transfer can finish on any action. */
static void drain_done(http_client *c) {
    CURLMsg *msg;
    int pending;
    while (c->multi && (msg = curl_multi_info_read(c->multi, &pending))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode code = msg->data.result;
        char *priv = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        http_transfer *t = (http_transfer *)priv;
        t->request_sent = easy_request_sent(easy);
        curl_multi_remove_handle(c->multi, easy); /* msg is invalid from here */
        list_unlink(&c->active, t);
        c->n_active--;
        deliver(t, code, false);
        promote_queued(c);
    }
}

static void on_sock_closed(uv_handle_t *h) {
    free(h->data);
}

/* Closes every poll handle (at client close); each context is freed in its
 * close callback (libuv's rule). */
static void socks_close_all(http_client *c) {
    for (size_t i = 0; i < c->socks_size; i++) {
        sock_ctx *ctx = c->socks[i];
        if (!ctx)
            continue;
        ctx->client = NULL;
        uv_close((uv_handle_t *)&ctx->poll, on_sock_closed);
    }
    free(c->socks);
    c->socks = NULL;
    c->socks_size = 0;
}

/* The poll context for descriptor `s`: the one kept for that number, or a
 * new one. NULL when out of memory or libuv refuses the descriptor. */
static sock_ctx *sock_ctx_for(http_client *c, curl_socket_t s) {
    if (s < 0)
        return NULL;
    size_t i = (size_t)s;
    if (i < c->socks_size && c->socks[i])
        return c->socks[i];
    if (i >= c->socks_size) {
        size_t n = c->socks_size ? c->socks_size : 64;
        while (n <= i)
            n *= 2;
        sock_ctx **grown = realloc(c->socks, n * sizeof *grown);
        if (!grown)
            return NULL;
        memset(grown + c->socks_size, 0, (n - c->socks_size) * sizeof *grown);
        c->socks = grown;
        c->socks_size = n;
    }
    sock_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return NULL;
    if (uv_poll_init_socket(c->loop, &ctx->poll, s) != 0) {
        free(ctx);
        return NULL;
    }
    ctx->fd = s;
    ctx->client = c;
    ctx->poll.data = ctx;
    c->socks[i] = ctx;
    c->stats.polls_created++;
    return ctx;
}

/* A socket libcurl watches is ready (or failed: a negative status maps to
 * CURL_CSELECT_ERR, one of multi-uv.c's gaps): tell libcurl, then collect
 * whatever transfers finished. */
static void on_poll(uv_poll_t *h, int status, int events) {
    sock_ctx *ctx = h->data;
    http_client *c = ctx->client;
    curl_socket_t fd = ctx->fd; /* ctx may be stopped by the action below */
    int flags = 0;
    int running = 0;
    if (!c || !c->multi)
        return;
    if (status < 0) {
        flags = CURL_CSELECT_ERR;
    } else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    curl_multi_socket_action(c->multi, fd, flags, &running);
    drain_done(c);
}

/* CURLMOPT_SOCKETFUNCTION: start, change or stop watching one socket.
 * libcurl reports CURL_POLL_REMOVE before it closes a socket, so the poll
 * handle is stopped (out of epoll) while its descriptor is still open; it
 * stays for the next socket with that number (see sock_ctx). */
static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp) {
    http_client *c = userp;
    sock_ctx *ctx = socketp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (ctx)
            uv_poll_stop(&ctx->poll);
        return 0;
    }
    if (!ctx) {
        ctx = sock_ctx_for(c, s);
        if (!ctx)
            return -1;
        curl_multi_assign(c->multi, s, ctx);
    }
    int events = 0;
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    if (uv_poll_start(&ctx->poll, events, on_poll) != 0)
        return -1;
    return 0;
}

/* libcurl's timeout expired: let it do its timed work, then collect the
 * transfers that finished. `in_timeout` tells on_curl_timer() it is being
 * re-armed from inside libuv's timer pass. */
static void on_timeout(uv_timer_t *timer) {
    http_client *c = timer->data;
    int running = 0;
    if (!c->multi)
        return;
    c->in_timeout = true;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    c->in_timeout = false;
    drain_done(c);
}

/* CURLMOPT_TIMERFUNCTION: only (re)arms the uv timer. Calling into libcurl
 * from here would re-enter it; a 0 ms timeout fires on the next loop
 * iteration instead. One exception: libuv 1.44 runs a timer re-armed with
 * 0 ms from inside a timer callback again in the same pass, before any
 * I/O is polled, so there 1 ms is used, which cannot starve the sockets. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp) {
    http_client *c = userp;
    (void)multi;
    if (timeout_ms < 0) {
        uv_timer_stop(&c->timer);
        return 0;
    }
    if (timeout_ms == 0 && c->in_timeout)
        timeout_ms = 1;
    uv_timer_start(&c->timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

static void on_timer_closed(uv_handle_t *h) {
    http_client *c = h->data;
    if (--c->open_timers > 0)
        return;
    void (*on_closed)(void *) = c->on_closed;
    void *arg = c->on_closed_arg;
    free(c->user_agent);
    free(c->proxy_origin);
    free(c);
    curl_global_cleanup();
    if (on_closed)
        on_closed(arg);
}

/* The last step of http_client_close(), run from client->defer once every
 * transfer has been reported. The free easy handles go first (none is in
 * the multi any more), then curl_multi_cleanup(), which may still call
 * the socket and timer functions (for connections it closes), so the
 * timers and every poll context are closed after it. The client is freed
 * when the second timer's close callback runs. */
static void finish_close(http_client *c) {
    while (c->free_slots) {
        easy_slot *slot = c->free_slots;
        c->free_slots = slot->next_free;
        c->stats.easy_idle--;
        slot_free(c, slot);
    }
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
    socks_close_all(c);
    c->open_timers = 2;
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
    uv_close((uv_handle_t *)&c->defer, on_timer_closed);
}

/* Reports cancelled transfers. Only the transfers cancelled before this
 * pass are reported in it; a cancellation made by one of these callbacks
 * re-arms the timer and is reported in a later pass (never from inside
 * http_transfer_cancel() itself). */
static void on_defer(uv_timer_t *timer) {
    http_client *c = timer->data;
    transfer_list batch = c->cancelled;
    c->cancelled.head = c->cancelled.tail = NULL;
    while (batch.head) {
        http_transfer *t = batch.head;
        list_unlink(&batch, t);
        deliver(t, CURLE_ABORTED_BY_CALLBACK, true);
    }
    if (c->closing && !c->active.head && !c->queued.head && !c->cancelled.head)
        finish_close(c);
}

/* Creates the client. libcurl is initialised here, on first use, not by
 * the program at start-up: curl_global_init() is reference-counted (and
 * thread-safe since 7.84), and this client gives its reference back when
 * it has closed (on_timer_closed), so a process that never makes a
 * client never pays for OpenSSL's start-up. */
int http_client_new(uv_loop_t *loop, const char *user_agent, http_client **out) {
    if (!loop || !user_agent || !out)
        return UV_EINVAL;
    *out = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return UV_ENOMEM;
    http_client *c = calloc(1, sizeof *c);
    if (!c) {
        curl_global_cleanup();
        return UV_ENOMEM;
    }
    c->loop = loop;
    c->user_agent = strdup(user_agent);
    c->multi = curl_multi_init();
    if (!c->user_agent || !c->multi) {
        if (c->multi)
            curl_multi_cleanup(c->multi);
        free(c->user_agent);
        free(c);
        curl_global_cleanup();
        return UV_ENOMEM;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)HTTP_MAX_HOST_CONNECTIONS);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)HTTP_MAX_HOST_CONNECTIONS);
    uv_timer_init(loop, &c->timer);
    uv_timer_init(loop, &c->defer);
    c->timer.data = c;
    c->defer.data = c;
    *out = c;
    return 0;
}

int http_headers_new(const char *const *lines, http_headers **out) {
    if (!out)
        return UV_EINVAL;
    *out = NULL;
    http_headers *h = calloc(1, sizeof *h);
    if (!h)
        return UV_ENOMEM;
    bool ok = true;
    for (const char *const *l = lines; ok && l && *l; l++) {
        struct curl_slist *a = curl_slist_append(h->lines, *l);
        struct curl_slist *b = a ? curl_slist_append(h->lines_no_type, *l) : NULL;
        if (a)
            h->lines = a;
        if (b)
            h->lines_no_type = b;
        ok = a && b;
    }
    struct curl_slist *n = ok ? curl_slist_append(h->lines_no_type, "Content-Type:") : NULL;
    if (!n) {
        http_headers_free(h);
        return UV_ENOMEM;
    }
    h->lines_no_type = n;
    *out = h;
    return 0;
}

void http_headers_free(http_headers *h) {
    if (!h)
        return;
    curl_slist_free_all(h->lines);
    curl_slist_free_all(h->lines_no_type);
    free(h);
}

/* Queues or starts a request. Only what the request says is kept (in one
 * allocation with the transfer); the easy handle and the response buffers
 * come when the transfer starts, so hundreds of queued requests hold no
 * libcurl state. */
int http_send(http_client *c, const http_request *req, http_done_cb cb, void *arg,
              http_transfer **transfer_out) {
    if (transfer_out)
        *transfer_out = NULL;
    if (!c || !req || !req->method || !req->url || !cb || (!req->body && req->body_len) ||
        (req->headers && req->header_set))
        return UV_EINVAL;
    if (c->closing)
        return UV_ECANCELED;
    size_t method_len = strlen(req->method), url_len = strlen(req->url);
    if (req->body_len > SIZE_MAX / 4 || method_len > SIZE_MAX / 4 || url_len > SIZE_MAX / 4)
        return UV_EINVAL;
    size_t text = method_len + 1 + url_len + 1 + (req->body ? req->body_len + 1 : 0);
    http_transfer *t = malloc(sizeof *t + text);
    if (!t)
        return UV_ENOMEM;
    memset(t, 0, sizeof *t);
    t->client = c;
    t->cb = cb;
    t->arg = arg;
    char *p = t->text;
    memcpy(p, req->method, method_len + 1);
    t->method = p;
    p += method_len + 1;
    memcpy(p, req->url, url_len + 1);
    t->url = p;
    p += url_len + 1;
    if (req->body) {
        memcpy(p, req->body, req->body_len);
        p[req->body_len] = '\0';
        t->body = p;
        t->body_len = req->body_len;
    }
    t->header_set = req->header_set;
    for (const char *const *h = req->headers; h && *h; h++) {
        struct curl_slist *n = curl_slist_append(t->own_headers, *h);
        if (!n) {
            transfer_free(t);
            return UV_ENOMEM;
        }
        t->own_headers = n;
    }
    t->timeout_ms = req->timeout_ms;
    t->idempotent = req->idempotent;
    t->start_ns = uv_hrtime();
    /* Nothing runs inside this call: an active transfer starts on the next
     * loop iteration, a queued one when an active one ends. */
    if (c->n_active < HTTP_MAX_ACTIVE && !c->queued.head) {
        int rc = activate(c, t);
        if (rc != 0) {
            transfer_free(t);
            return rc;
        }
    } else {
        t->state = TRANSFER_QUEUED;
        list_push(&c->queued, t);
        c->stats.queued++;
    }
    if (transfer_out)
        *transfer_out = t;
    return 0;
}

bool http_transfer_request_sent(const http_transfer *t) {
    if (t->state != TRANSFER_ACTIVE)
        return t->request_sent;
    return easy_request_sent(t->slot->easy);
}

void http_transfer_cancel(http_transfer *t) {
    if (!t || (t->state != TRANSFER_ACTIVE && t->state != TRANSFER_QUEUED))
        return;
    http_client *c = t->client;
    if (t->state == TRANSFER_QUEUED) {
        list_unlink(&c->queued, t);
        c->stats.queued--;
    } else {
        t->request_sent = easy_request_sent(t->slot->easy);
        curl_multi_remove_handle(c->multi, t->slot->easy);
        list_unlink(&c->active, t);
        c->n_active--;
    }
    t->state = TRANSFER_CANCELLED;
    list_push(&c->cancelled, t);
    uv_timer_start(&c->defer, on_defer, 0, 0);
    promote_queued(c);
}

void http_client_stats_get(const http_client *c, http_client_stats *out) {
    *out = c->stats;
    out->active = c->n_active;
}

void http_client_close(http_client *c, void (*on_closed)(void *arg), void *arg) {
    if (!c || c->closing)
        return;
    c->closing = true;
    c->on_closed = on_closed;
    c->on_closed_arg = arg;
    while (c->queued.head)
        http_transfer_cancel(c->queued.head);
    while (c->active.head)
        http_transfer_cancel(c->active.head);
    /* Even with nothing to cancel, finish on the next iteration: the caller
     * may be inside one of our callbacks. */
    uv_timer_start(&c->defer, on_defer, 0, 0);
}
