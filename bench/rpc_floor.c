/*
 * rpc_floor.c - the refresh floor (bench-rpc-floor): the least work a
 * JSON-RPC plugin must do to answer the provider's pipelined ReadResource
 * requests, written the way the provider is built (libuv loop, libcurl
 * multi on libuv as curl's docs/examples/multi-uv.c does it, jansson), so
 * that the provider's CPU time can be judged against it.
 *
 * Per line of stdin: parse it (jansson, JSON_REJECT_DUPLICATES). A
 * ConfigureProvider takes config.base_url and config.api_token and is
 * answered {"diagnostics":[]}. A ReadResource queues a GET of
 * {base_url}/accounts/{account_id}/sso_connectors/{id} (from current_state,
 * Bearer token, Accept: application/json), run with at most 64 transfers and
 * 64 connections (the provider's limits), easy handles reused. The answer
 * is parsed and turned into the provider's result: new_state with the
 * provider's nine attributes in the provider's order (account_id and
 * begin_verification kept from current_state), drift over those attributes
 * (email_domain compared ignoring case, as the provider does), diagnostics
 * []. A failed GET gets an error diagnostic, so the driver rejects the run.
 * Anything else is answered -32601.
 *
 * Answers are gathered in one buffer and written with one write(2) per
 * loop pass (a uv_check handle), the least output cost a loop can have.
 * Exits 0 once input has ended and every request is answered.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <uv.h>

#define MAX_ACTIVE 64
#define BODY_CAP   4096
#define LINE_CAP   (16 * 1024 * 1024)

typedef struct read_op {
    json_t *id;    /* the JSON-RPC id (owned) */
    json_t *prior; /* current_state (owned) */
    struct read_op *next;
} read_op;

typedef struct transfer {
    CURL *easy;
    read_op *op;
    char body[BODY_CAP];
    size_t len;
    char url[1100];
    struct transfer *next_free;
} transfer;

typedef struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
} sock_ctx;

static uv_loop_t *loop;
static uv_pipe_t in_pipe;
static uv_timer_t curl_timer;
static uv_check_t flush_check;
static CURLM *multi;
static struct curl_slist *headers;
static char base_url[512];
static char *line_buf;
static size_t line_len;
static char *out_buf;
static size_t out_len, out_cap;
static read_op *queue_head, *queue_tail;
static transfer *free_list;
static int active, pending_answers;
static int input_ended;
static int exit_code;

static const char *const attrs[] = {"id",         "account_id",           "email_domain",
                                    "enabled",    "use_fedramp_language", "begin_verification",
                                    "created_on", "updated_on",           "verification"};

/* Appends one answer line to the output buffer (written by flush_output). */
static void emit(const char *text) {
    size_t n = strlen(text);
    if (out_len + n + 1 > out_cap) {
        size_t want = out_cap ? out_cap * 2 : 65536;
        while (want < out_len + n + 1)
            want *= 2;
        out_buf = realloc(out_buf, want);
        out_cap = want;
    }
    memcpy(out_buf + out_len, text, n);
    out_buf[out_len + n] = '\n';
    out_len += n + 1;
}

/* Sends {"jsonrpc":"2.0","id":id,<key>:value}; `value` is stolen. */
static void answer_new(json_t *id, const char *key, json_t *value) {
    json_t *msg = json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id, key, value);
    char *text = json_dumps(msg, JSON_COMPACT);
    emit(text);
    free(text);
    json_decref(msg);
}

/* The uv_check callback: one write(2) of everything answered in this loop
 * pass. stdout is the driver's pipe, which it always drains, so a blocking
 * write is the cheapest correct choice for a baseline. */
static void flush_output(uv_check_t *h) {
    (void)h;
    size_t off = 0;
    while (off < out_len) {
        ssize_t w = write(1, out_buf + off, out_len - off);
        if (w <= 0) {
            exit_code = 1;
            break;
        }
        off += (size_t)w;
    }
    out_len = 0;
}

static void maybe_finish(void);

/* Turns the GET's answer into the provider's ReadResource result. */
static void finish_read(transfer *t, CURLcode rc) {
    read_op *op = t->op;
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    json_t *api = rc == CURLE_OK ? json_loadb(t->body, t->len, 0, NULL) : NULL;
    json_t *res = json_object_get(api, "result");
    if (status != 200 || !json_is_object(res)) {
        answer_new(op->id, "result",
                   json_pack("{s:n,s:[],s:[{s:s,s:s}]}", "new_state", "drift", "diagnostics",
                             "severity", "error", "summary", "GET failed"));
    } else {
        json_t *state = json_object();
        for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
            const char *k = attrs[i];
            json_t *v = strcmp(k, "account_id") == 0 || strcmp(k, "begin_verification") == 0
                            ? json_object_get(op->prior, k)
                            : json_object_get(res, k);
            json_object_set(state, k, v ? v : json_null());
        }
        json_t *drift = json_array();
        for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
            json_t *b = json_object_get(op->prior, attrs[i]);
            json_t *a = json_object_get(state, attrs[i]);
            if (!b)
                b = json_null();
            if (json_equal(a, b) ||
                (json_is_string(a) && json_is_string(b) && strcmp(attrs[i], "email_domain") == 0 &&
                 strcasecmp(json_string_value(a), json_string_value(b)) == 0))
                continue;
            json_array_append_new(drift, json_pack("{s:[s],s:O,s:O}", "attribute", attrs[i],
                                                   "before", b, "after", a));
        }
        answer_new(op->id, "result",
                   json_pack("{s:o,s:o,s:[]}", "new_state", state, "drift", drift, "diagnostics"));
    }
    json_decref(api);
    json_decref(op->id);
    json_decref(op->prior);
    free(op);
    pending_answers--;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp) {
    transfer *t = userp;
    size_t n = size * nmemb;
    if (t->len + n > BODY_CAP)
        return 0;
    memcpy(t->body + t->len, data, n);
    t->len += n;
    return n;
}

/* Starts queued reads while fewer than MAX_ACTIVE transfers run. */
static void start_reads(void) {
    while (queue_head && active < MAX_ACTIVE) {
        read_op *op = queue_head;
        queue_head = op->next;
        if (!queue_head)
            queue_tail = NULL;
        transfer *t = free_list;
        if (t) {
            free_list = t->next_free;
        } else {
            t = calloc(1, sizeof(*t));
            t->easy = curl_easy_init();
            curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, headers);
            curl_easy_setopt(t->easy, CURLOPT_USERAGENT, "bench-rpc-floor");
            curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, on_body);
            curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t);
            curl_easy_setopt(t->easy, CURLOPT_PRIVATE, (char *)t);
            curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
            curl_easy_setopt(t->easy, CURLOPT_TCP_KEEPALIVE, 1L);
        }
        t->op = op;
        t->len = 0;
        snprintf(t->url, sizeof(t->url), "%s/accounts/%s/sso_connectors/%s", base_url,
                 json_string_value(json_object_get(op->prior, "account_id")),
                 json_string_value(json_object_get(op->prior, "id")));
        curl_easy_setopt(t->easy, CURLOPT_URL, t->url);
        curl_multi_add_handle(multi, t->easy);
        active++;
    }
}

/* Drains libcurl's finished transfers (after every socket action). */
static void check_done(void) {
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        transfer *t;
        CURLcode rc = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        curl_multi_remove_handle(multi, t->easy);
        active--;
        finish_read(t, rc);
        t->next_free = free_list;
        free_list = t;
    }
    start_reads();
    maybe_finish();
}

static void on_poll(uv_poll_t *h, int status, int events) {
    sock_ctx *c = h->data;
    int flags = status < 0 ? CURL_CSELECT_ERR : 0;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(multi, c->fd, flags, &running);
    check_done();
}

static void on_timeout(uv_timer_t *h) {
    (void)h;
    int running;
    curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done();
}

static void free_sock(uv_handle_t *h) {
    free(h->data);
}

static int on_socket(CURL *e, curl_socket_t s, int what, void *userp, void *socketp) {
    (void)e;
    (void)userp;
    sock_ctx *c = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (c) {
            uv_poll_stop(&c->poll);
            uv_close((uv_handle_t *)&c->poll, free_sock);
            curl_multi_assign(multi, s, NULL);
        }
        return 0;
    }
    if (!c) {
        c = calloc(1, sizeof(*c));
        c->fd = s;
        uv_poll_init_socket(loop, &c->poll, s);
        c->poll.data = c;
        curl_multi_assign(multi, s, c);
    }
    int ev = (what & CURL_POLL_IN ? UV_READABLE : 0) | (what & CURL_POLL_OUT ? UV_WRITABLE : 0);
    uv_poll_start(&c->poll, ev, on_poll);
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: only arms the uv timer (libcurl is never called
 * from inside its own callback). */
static int on_timer(CURLM *m, long timeout_ms, void *userp) {
    (void)m;
    (void)userp;
    if (timeout_ms < 0)
        uv_timer_stop(&curl_timer);
    else
        uv_timer_start(&curl_timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

/* One request line: ConfigureProvider, ReadResource, or -32601. */
static void handle_line(const char *line, size_t len) {
    json_t *req = json_loadb(line, len, JSON_REJECT_DUPLICATES, NULL);
    if (!req) {
        emit("{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,"
             "\"message\":\"Parse error\"}}");
        json_decref(req);
        return;
    }
    const char *method = json_string_value(json_object_get(req, "method"));
    json_t *id = json_object_get(req, "id");
    json_t *params = json_object_get(req, "params");
    if (method && strcmp(method, "ReadResource") == 0) {
        read_op *op = calloc(1, sizeof(*op));
        op->id = json_incref(id);
        op->prior = json_incref(json_object_get(params, "current_state"));
        if (queue_tail)
            queue_tail->next = op;
        else
            queue_head = op;
        queue_tail = op;
        pending_answers++;
        start_reads();
    } else if (method && strcmp(method, "ConfigureProvider") == 0) {
        json_t *cfg = json_object_get(params, "config");
        char auth[512];
        snprintf(base_url, sizeof(base_url), "%s",
                 json_string_value(json_object_get(cfg, "base_url")));
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
                 json_string_value(json_object_get(cfg, "api_token")));
        curl_slist_free_all(headers);
        headers = curl_slist_append(NULL, auth);
        headers = curl_slist_append(headers, "Accept: application/json");
        answer_new(id, "result", json_pack("{s:[]}", "diagnostics"));
    } else {
        answer_new(id, "error",
                   json_pack("{s:i,s:s}", "code", -32601, "message", "Method not found"));
    }
    json_decref(req);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
    (void)h;
    (void)suggested;
    static char chunk[65536];
    *buf = uv_buf_init(chunk, sizeof(chunk));
}

/* Cuts stdin into lines; a line may span reads (kept in line_buf). */
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
    if (n < 0) {
        uv_close((uv_handle_t *)s, NULL);
        input_ended = 1;
        if (line_len)
            handle_line(line_buf, line_len);
        line_len = 0;
        maybe_finish();
        return;
    }
    const char *p = buf->base, *end = buf->base + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t part = (size_t)((nl ? nl : end) - p);
        if (!nl || line_len) {
            if (line_len + part > LINE_CAP) {
                exit_code = 1;
                line_len = 0;
            } else {
                memcpy(line_buf + line_len, p, part);
                line_len += part;
            }
            if (nl) {
                handle_line(line_buf, line_len);
                line_len = 0;
            }
        } else {
            handle_line(p, part);
        }
        p += part + (nl ? 1 : 0);
    }
}

static void close_poll(uv_handle_t *h, void *arg) {
    (void)arg;
    if (h->type == UV_POLL && !uv_is_closing(h))
        uv_close(h, free_sock);
}

/* Once input has ended and all is answered: flush, then close every handle
 * (the keep-alive sockets' polls too) so that uv_run returns. libcurl's
 * socket callback is unset first: the sockets' contexts go with their
 * handles, and curl_multi_cleanup must not hand them back later. */
static void maybe_finish(void) {
    static int finished;
    if (finished || !input_ended || pending_answers > 0)
        return;
    finished = 1;
    flush_output(&flush_check);
    uv_timer_stop(&curl_timer);
    uv_close((uv_handle_t *)&curl_timer, NULL);
    uv_check_stop(&flush_check);
    uv_close((uv_handle_t *)&flush_check, NULL);
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, NULL);
    uv_walk(loop, close_poll, NULL);
}

int main(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    loop = uv_default_loop();
    line_buf = malloc(LINE_CAP);
    multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)MAX_ACTIVE);
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)MAX_ACTIVE);
    uv_timer_init(loop, &curl_timer);
    uv_check_init(loop, &flush_check);
    uv_check_start(&flush_check, flush_output);
    uv_pipe_init(loop, &in_pipe, 0);
    if (uv_pipe_open(&in_pipe, 0) != 0) {
        fprintf(stderr, "bench-rpc-floor: stdin must be a pipe\n");
        return 2;
    }
    uv_read_start((uv_stream_t *)&in_pipe, on_alloc, on_read);
    uv_run(loop, UV_RUN_DEFAULT);
    while (free_list) {
        transfer *t = free_list;
        free_list = t->next_free;
        curl_easy_cleanup(t->easy);
        free(t);
    }
    curl_multi_cleanup(multi);
    uv_loop_close(loop);
    curl_slist_free_all(headers);
    curl_global_cleanup();
    free(line_buf);
    free(out_buf);
    return exit_code;
}
