/*
 * cfapi.c - the Cloudflare API client for account SSO connectors. See
 * cfapi.h for the contract and http_uv.h for the transport.
 *
 * Life of a call:
 *
 *   cfapi_get() ... -> call_start_new() -> start_attempt() -> http_send()
 *       (or, with max_rps or during a 429 pause, schedule(0): call->timer
 *       fires once the rate-limit slot comes and the pause is over)
 *   on_http_done() -> on_op_answer() / on_lookup_answer()
 *       -> done:   finish(), then deliver() -> callback, as soon as the
 *                  answer handler returns (from a later loop iteration than
 *                  the call that started it, by construction); a call that
 *                  ends anywhere else goes through call->timer (0 ms)
 *       -> retry:  schedule(delay)
 *       -> a list page: the pager (cfapi_pager.c) says whether another
 *          page follows
 *       -> a create whose outcome is unknown: a lookup (every page of the
 *          account's list, through the same pager) before any new create
 *
 * A callback is delivered either from http_uv's callback (a transfer
 * that ended) or from the call's own timer, so it never runs inside
 * cfapi_*() or cfapi_call_cancel(). The call is freed in that timer's
 * close callback. Failures are recorded as data (record_failure);
 * their words are in cfapi_render.c.
 */
#include "cfapi.h"
#include "cfapi_internal.h"
#include "http_uv.h"
#include "log.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MOD "provider.cfapi"

#define DEFAULT_MAX_RETRIES 4
#define MAX_MAX_RETRIES     50
#define DEFAULT_TIMEOUT_S   30.0
#define TRACE_BODY_MAX      16384

/* ------------------------------------------------------------------ */
/* The client                                                          */
/* ------------------------------------------------------------------ */

typedef enum call_state {
    CALL_WAITING,   /* timer armed for the next attempt */
    CALL_IN_FLIGHT, /* an HTTP transfer is running */
    CALL_DONE,      /* outcome ready; timer armed to deliver it */
    CALL_DELIVERED, /* callback ran; timer closing */
} call_state;

struct cfapi_client {
    uv_loop_t *loop;
    http_client *http;
    char *base_url;
    char *host; /* for messages: host[:port] of base_url */
    /* Every request's headers, built once: the credentials and Accept, and
     * those plus the JSON Content-Type for requests with a body. */
    http_headers *headers;
    http_headers *headers_json;
    bool key_auth;
    int max_retries;
    long timeout_ms;
    double interval_ms; /* max_rps spacing; 0: none */
    unsigned backoff_base_ms;
    size_t list_max_items, list_max_bytes;
    double next_slot_ms;   /* earliest start of the next request (loop time) */
    double last_start_ms;  /* (max_rps) when the last request started */
    unsigned slot_waiters; /* (max_rps) calls holding a future slot */
    uint64_t paused_until; /* loop time before which no request starts (429) */
    uint64_t rng;
    cfapi_call *calls;   /* every call not yet delivered */
    unsigned live_calls; /* calls whose memory is not yet freed */
    bool closing, http_closed;
    void (*on_closed)(void *arg);
    void *on_closed_arg;
};

struct cfapi_call {
    cfapi_client *client;
    cfapi_op kind;
    cfapi_cb cb;
    void *arg;
    char account_id[33];
    char connector_id[33];
    const char *domain; /* create: in text[]; otherwise "" */
    const char *method;
    const char *url;      /* in text[]: the operation's URL (a list: its first page) */
    const char *list_url; /* list and create: the account's list URL (== url), else NULL */
    char *body;           /* request body, or NULL */
    char *page_url;       /* the page being read (list pages, lookup pages) */
    cfapi_pager pager;
    call_state state;
    uv_timer_t timer;
    uint64_t due;       /* loop time the next attempt is due at */
    bool slot_reserved; /* (max_rps) the timer now waits for this call's slot */
    http_transfer *transfer;
    bool in_lookup;        /* the transfer in flight is a page of a create lookup */
    bool need_lookup;      /* the next request is a lookup page, not the operation */
    bool lookup_after_409; /* the lookup was caused by a 409 on a retried create */
    bool final_lookup;     /* no create follows this lookup */
    bool cancel_requested;
    uint64_t cancel_deadline; /* (loop time) a lookup after a cancel ends by then */
    bool create_maybe_sent;   /* some create attempt may have reached the server */
    bool maybe_applied;
    unsigned attempts;     /* operation requests started (a list: on this page) */
    unsigned lookup_fails; /* failed lookup pages (they use the retry budget too) */
    uint64_t waited_ms;    /* time waited between attempts (cfapi_wait_budget_ms) */
    /* the outcome */
    cfapi_envelope env;      /* last operation or page answer */
    cfapi_envelope fail_env; /* the answer of the last failure (its errors[]) */
    char *fail_path;         /* the last failing request's relative path */
    char *fail_error;        /* its transport error text */
    char *fail_excerpt;      /* its body excerpt when it was no envelope */
    cfapi_result res;
    bool in_http_cb; /* inside on_http_done(): finish() leaves delivery to it */
    cfapi_call *prev, *next;
    char text[]; /* url\0 [domain\0]: one allocation with the call */
};

static uint32_t next_random(cfapi_client *c) {
    /* xorshift64*: jitter only, not security */
    c->rng ^= c->rng >> 12;
    c->rng ^= c->rng << 25;
    c->rng ^= c->rng >> 27;
    return (uint32_t)((c->rng * 2685821657736338717ULL) >> 32);
}

static bool is_mutating(cfapi_op k) {
    return k != CFAPI_OP_LIST && k != CFAPI_OP_GET;
}

static unsigned max_tries(const cfapi_client *c) {
    return (unsigned)c->max_retries + 1;
}

/* The one retry budget: every operation request and every failed lookup
 * page counts. */
static unsigned tries_used(const cfapi_call *call) {
    return call->attempts + call->lookup_fails;
}

/* The request path relative to base_url, for logs and messages. */
static const char *rel_path(const cfapi_call *call, const char *url) {
    size_t n = strlen(call->client->base_url);
    return strncmp(url, call->client->base_url, n) == 0 ? url + n : url;
}

/* Records why the request just answered failed: the failure kind, its
 * status, the failing request, curl's words or a body excerpt. `env`
 * (may be NULL) is taken over, so its errors[] stay valid until the
 * callback. The result says the same kind as `cause` until finish()
 * decides otherwise (a cancel, an unknown create). */
static void record_failure(cfapi_call *call, const http_response *r, cfapi_failure kind,
                           cfapi_envelope *env, bool not_envelope) {
    cfapi_envelope_clear(&call->fail_env);
    if (env) {
        call->fail_env = *env;
        memset(env, 0, sizeof *env);
    }
    call->res.failure = kind;
    call->res.cause = kind;
    call->res.http_status = r ? r->status : 0;
    call->res.errors = call->fail_env.errors;
    call->res.method = call->in_lookup ? "GET" : call->method;
    call->res.failed_in_lookup = call->in_lookup;
    const char *url = call->in_lookup || call->kind == CFAPI_OP_LIST ? call->page_url : call->url;
    free(call->fail_path);
    call->fail_path = strdup(rel_path(call, url ? url : ""));
    free(call->fail_error);
    call->fail_error = r && r->curl_code != 0 && r->error ? strdup(r->error) : NULL;
    free(call->fail_excerpt);
    call->fail_excerpt =
        r && not_envelope ? log_redact_excerpt(r->body, r->body_len, CFAPI_EXCERPT_MAX) : NULL;
    call->res.not_envelope = not_envelope;
}

/* The failure kind of a transfer that got no usable answer. */
static cfapi_failure transport_failure(const http_response *r) {
    if (r->curl_code == CURLE_OPERATION_TIMEDOUT)
        return CFAPI_FAIL_TIMEOUT;
    if (r->body_too_large)
        return CFAPI_FAIL_TOO_LARGE;
    return CFAPI_FAIL_UNREACHABLE;
}

static void on_call_timer(uv_timer_t *timer);

/* Gives back the future max_rps slot a call holds (it is cancelled or
 * must wait again). When no call holds one any more, the next slot goes
 * back to one interval after the last real start, so cancelled calls leave
 * no gap behind them. */
static void release_slot(cfapi_call *call) {
    cfapi_client *c = call->client;
    if (!call->slot_reserved)
        return;
    call->slot_reserved = false;
    if (--c->slot_waiters == 0 && c->next_slot_ms > c->last_start_ms + c->interval_ms)
        c->next_slot_ms = c->last_start_ms + c->interval_ms;
}

/* Arms the call's timer for its next request: not before `due` and not
 * before the client-wide 429 pause ends. The max_rps slot is reserved
 * only once the call is due (on_call_timer), so a call backing off for
 * seconds never holds a slot, and never delays the calls behind it. */
static void arm(cfapi_call *call) {
    cfapi_client *c = call->client;
    uint64_t now = uv_now(c->loop);
    uint64_t start = call->due > c->paused_until ? call->due : c->paused_until;
    release_slot(call);
    call->state = CALL_WAITING;
    uv_timer_start(&call->timer, on_call_timer, start > now ? start - now : 0, 0);
}

/* With max_rps: takes the next free slot for a call that is due. Returns
 * true when the call may start now (its slot has come); otherwise reserves
 * the next free slot and re-arms the timer for it. Slots are placed from
 * the current time: a stale loop time would put several in the past and
 * start them together. */
static bool take_rate_slot(cfapi_call *call) {
    cfapi_client *c = call->client;
    if (c->interval_ms <= 0)
        return true;
    uv_update_time(c->loop);
    double now = (double)uv_now(c->loop);
    if (call->slot_reserved) { /* its slot has come */
        call->slot_reserved = false;
        c->slot_waiters--;
        c->last_start_ms = now;
        return true;
    }
    double slot = c->next_slot_ms > now ? c->next_slot_ms : now;
    c->next_slot_ms = slot + c->interval_ms;
    if (slot <= now) {
        c->last_start_ms = now;
        return true;
    }
    call->slot_reserved = true;
    c->slot_waiters++;
    uv_timer_start(&call->timer, on_call_timer, (uint64_t)(slot - now + 0.999), 0);
    return false;
}

static void schedule(cfapi_call *call, uint64_t delay_ms) {
    call->due = uv_now(call->client->loop) + delay_ms;
    arm(call);
}

/* Marks the call done; the callback runs from the call's timer, after
 * whatever called this has returned (never from inside cfapi_*() or
 * cfapi_call_cancel()). Fills in what the result's renderer needs. */
static void finish(cfapi_call *call) {
    cfapi_client *c = call->client;
    cfapi_result *res = &call->res;
    call->state = CALL_DONE;
    if (res->ok)
        res->failure = res->cause = CFAPI_FAIL_NONE;
    res->cancelled = res->failure == CFAPI_FAIL_CANCELLED;
    res->maybe_applied = call->maybe_applied && !res->ok;
    res->attempts = tries_used(call);
    res->op = call->kind;
    res->account_id = call->account_id;
    res->connector_id = call->connector_id;
    res->domain = call->domain;
    res->path = res->ok ? NULL : call->fail_path;
    res->transport_error = res->ok ? NULL : call->fail_error;
    res->body_excerpt = res->ok ? NULL : call->fail_excerpt ? call->fail_excerpt : "";
    res->host = c->host;
    res->timeout_ms = c->timeout_ms;
    res->key_auth = c->key_auth;
    if (res->ok) {
        res->errors = NULL;
        res->method = NULL;
    }
    /* From an answer's handler, on_http_done() delivers as soon as the
     * handler has returned: no timer round trip per request. */
    if (!call->in_http_cb)
        uv_timer_start(&call->timer, on_call_timer, 0, 0);
}

/* Ends the call as cancelled; what failed before stays as its cause. */
static void finish_cancelled(cfapi_call *call) {
    call->res.ok = false;
    call->res.failure = CFAPI_FAIL_CANCELLED;
    call->res.result = NULL;
    finish(call);
}

/* Ends a create whose outcome the lookup could not settle. */
static void finish_create_unknown(cfapi_call *call) {
    call->maybe_applied = true;
    call->res.ok = false;
    call->res.failure = CFAPI_FAIL_CREATE_UNKNOWN;
    call->res.result = NULL;
    finish(call);
}

static void finish_ok(cfapi_call *call, long status, json_t *result) {
    call->res.ok = true;
    call->res.http_status = status;
    call->res.result = result;
    finish(call);
}

static void on_http_done(const http_response *r, void *arg);

/* Logs a request or response body at TRACE, through log_body(): masked
 * whole before it is cut to TRACE_BODY_MAX, so a secret an API or a proxy
 * echoes never leaves a prefix in the log. */
static void trace_body(const cfapi_call *call, const char *method, const char *url,
                       const char *what, const char *body, size_t len) {
    if (!log_enabled(LOG_LEVEL_TRACE))
        return;
    char prefix[256];
    snprintf(prefix, sizeof prefix, "%.16s %.200s %s body: ", method, rel_path(call, url), what);
    log_body(LOG_LEVEL_TRACE, MOD, prefix, body, len, TRACE_BODY_MAX);
}

/* Starts the next request of the call: the operation itself (for a list,
 * its current page), or a page of the lookup that must precede a create
 * retry. */
static void start_attempt(cfapi_call *call) {
    cfapi_client *c = call->client;
    bool lookup = call->need_lookup;
    http_request req;
    memset(&req, 0, sizeof req);
    req.timeout_ms = c->timeout_ms;
    req.header_set = c->headers;
    if (lookup || call->kind == CFAPI_OP_LIST) {
        char *url = cfapi_pager_url(&call->pager, call->list_url);
        free(call->page_url);
        call->page_url = url; /* NULL (no memory): the request is not started */
        req.method = "GET";
        req.url = call->page_url;
        req.idempotent = true;
    } else {
        req.method = call->method;
        req.url = call->url;
        req.idempotent = call->kind != CFAPI_OP_CREATE && call->kind != CFAPI_OP_VERIFY;
        if (call->body) {
            req.header_set = c->headers_json;
            req.body = call->body;
            req.body_len = strlen(call->body);
        }
    }
    call->in_lookup = lookup;
    if (!lookup)
        call->attempts++;
    if (!lookup && req.body)
        trace_body(call, req.method, req.url, "request", req.body, strlen(req.body));
    int rc = req.url ? http_send(c->http, &req, on_http_done, call, &call->transfer) : UV_ENOMEM;
    if (rc != 0) {
        record_failure(call, NULL, CFAPI_FAIL_NOT_STARTED, NULL, false);
        call->fail_error = strdup(uv_strerror(rc));
        if (call->kind == CFAPI_OP_CREATE && call->create_maybe_sent)
            finish_create_unknown(call);
        else
            finish(call);
        return;
    }
    call->state = CALL_IN_FLIGHT;
}

/* True for transport failures worth another attempt: the network or the
 * server may do better next time. TLS verification failures, bad URLs and
 * oversized answers are final. */
static bool curl_code_is_retryable(int code) {
    switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return true;
    default:
        return false;
    }
}

/* retry_delay()'s answer when the wait would pass the call's budget. */
#define NO_RETRY UINT64_MAX

/* The wait before the next request after a retryable failure: what the
 * server asked for, else exponential backoff with jitter. All of a call's
 * waits count against its budget (cfapi_wait_budget_ms(): 60 s, or
 * request_timeout when longer), so neither a server asking for an hour
 * nor max_retries rounds of backoff can hold a call far longer than the
 * user allowed. A wait that would pass the budget returns NO_RETRY: the
 * call ends with the failure it has, and when it would otherwise have
 * retried, its diagnostic says why it did not. */
static uint64_t retry_delay(cfapi_call *call, const http_response *r, bool *from_server) {
    cfapi_client *c = call->client;
    uint64_t ms;
    *from_server = false;
    if (r->status &&
        cfapi_retry_after_ms(http_response_header(r, "Retry-After"),
                             http_response_header(r, "Retry-After-Ms"), time(NULL), &ms) == 0) {
        *from_server = true;
    } else {
        unsigned done = tries_used(call) ? tries_used(call) - 1 : 0;
        ms = cfapi_backoff_ms(c->backoff_base_ms, done, next_random(c));
    }
    uint64_t budget = cfapi_wait_budget_ms(c->timeout_ms);
    if (ms <= budget - call->waited_ms) {
        call->waited_ms += ms;
        return ms;
    }
    if (!call->cancel_requested && tries_used(call) < max_tries(c)) {
        /* It would have retried: the rendering says why it did not. */
        call->res.not_retried_wait_ms = ms;
        call->res.not_retried_from_server = *from_server;
        call->res.wait_left_ms = budget - call->waited_ms;
    }
    log_info(MOD,
             "not retrying: a wait of %" PRIu64 " ms would pass the call's %" PRIu64
             " ms budget (%" PRIu64 " ms waited)",
             ms, budget, call->waited_ms);
    return NO_RETRY;
}

static void log_answer(cfapi_call *call, const http_response *r) {
    bool paged = call->in_lookup || call->kind == CFAPI_OP_LIST;
    const char *url = paged ? call->page_url : call->url;
    const char *method = paged ? "GET" : call->method;
    /* A lookup page is not an attempt of its own (only a failed one uses
     * the budget): it is labelled with the attempt it follows. */
    const char *what = call->in_lookup ? "lookup after attempt " : "attempt ";
    unsigned n = tries_used(call);
    if (r->cancelled)
        log_debug(MOD, "%s %s -> cancelled after %.1f ms (%s%u/%u)", method, rel_path(call, url),
                  r->duration_ms, what, n, max_tries(call->client));
    else if (r->curl_code != 0)
        log_debug(MOD, "%s %s -> %s after %.1f ms (%s%u/%u)", method, rel_path(call, url), r->error,
                  r->duration_ms, what, n, max_tries(call->client));
    else
        log_debug(MOD, "%s %s -> %ld in %.1f ms (%s%u/%u)", method, rel_path(call, url), r->status,
                  r->duration_ms, what, n, max_tries(call->client));
    if (r->body_len && log_enabled(LOG_LEVEL_TRACE))
        trace_body(call, method, url, "response", r->body, r->body_len);
}

/* The next request is a lookup of the domain: every page of the
 * account's list, from the first, through the pager. */
static void begin_lookup(cfapi_call *call) {
    call->need_lookup = true;
    cfapi_client *c = call->client;
    if (cfapi_pager_start(&call->pager, false, c->list_max_items, c->list_max_bytes) != 0)
        call->pager.page = 1; /* out of memory: the pager still counts pages */
}

/* A create that may have been applied is about to end (its budget is
 * spent, or it was cancelled): one last lookup, so that a connector it
 * created is reported rather than lost. No create follows it. While the
 * client closes, there is no time for it: the outcome stays unknown. */
static void final_lookup_or_finish(cfapi_call *call, uint64_t delay) {
    if (call->client->closing) {
        if (call->cancel_requested)
            finish_cancelled(call);
        else
            finish_create_unknown(call);
        return;
    }
    begin_lookup(call);
    call->final_lookup = true;
    schedule(call, delay);
}

/* After a retryable failure: waits and tries again, or ends the call with
 * the failure already recorded when the budget is spent. A create that may
 * have reached the server (`ambiguous`) is looked up before it is ever
 * re-sent, and once more when it may not be re-sent. */
static void retry_or_finish(cfapi_call *call, const http_response *r, bool ambiguous) {
    cfapi_client *c = call->client;
    bool from_server;
    uint64_t delay = retry_delay(call, r, &from_server);
    if (r->status == 429 && delay != NO_RETRY) {
        /* Every call of the client waits, whether or not this one retries. */
        uint64_t until = uv_now(c->loop) + delay;
        if (until > c->paused_until)
            c->paused_until = until;
        log_info(MOD, "rate limited (HTTP 429): pausing every request for %" PRIu64 " ms", delay);
    }
    bool create_unsure = call->kind == CFAPI_OP_CREATE && ambiguous && !call->in_lookup;
    if (call->cancel_requested || tries_used(call) >= max_tries(c) || delay == NO_RETRY) {
        if (create_unsure)
            final_lookup_or_finish(call, call->cancel_requested || delay == NO_RETRY ? 0 : delay);
        else if (call->cancel_requested)
            finish_cancelled(call);
        else if (call->in_lookup)
            finish_create_unknown(call);
        else
            finish(call);
        return;
    }
    if (create_unsure)
        begin_lookup(call);
    log_debug(MOD, "retrying in %" PRIu64 " ms%s%s", delay,
              from_server ? " (as the server asked)" : "",
              call->need_lookup ? ", after looking the connector up" : "");
    schedule(call, delay);
}

/* One page of cfapi_list() arrived: the pager says whether another
 * follows (read with a fresh retry budget), the list is complete, or a
 * cap was passed (a failure: nothing is returned rather than part of the
 * list). */
static void on_list_page(cfapi_call *call, const http_response *r) {
    cfapi_page_verdict v =
        cfapi_pager_take(&call->pager, call->env.result, call->env.root, r->body_len);
    switch (v) {
    case CFAPI_PAGE_MORE:
        call->attempts = 0;
        log_debug(MOD, "list: %zu connectors read, reading page %u", call->pager.count,
                  call->pager.page);
        schedule(call, 0);
        return;
    case CFAPI_PAGE_STALE:
        log_warn(MOD,
                 "listing account %s: page %u brought no connector not seen before; stopping "
                 "with %zu connectors (the server may ignore ?page=)",
                 call->account_id, call->pager.page, call->pager.count);
        /* fall through */
    case CFAPI_PAGE_LAST:
        finish_ok(call, r->status, call->pager.items);
        return;
    case CFAPI_PAGE_OVER_ITEMS:
    case CFAPI_PAGE_OVER_BYTES:
        record_failure(call, r, CFAPI_FAIL_LIST_LIMIT, NULL, false);
        call->res.limit_is_bytes = v == CFAPI_PAGE_OVER_BYTES;
        call->res.limit = call->res.limit_is_bytes ? call->pager.max_bytes : call->pager.max_items;
        log_error(MOD, "listing account %s: more than %zu %s after %u pages; failing the list",
                  call->account_id, call->res.limit,
                  call->res.limit_is_bytes ? "bytes" : "connectors", call->pager.page);
        finish(call);
        return;
    }
}

/* True when a successful envelope's result is what the operation must
 * return: a list an array, a read or update an object, a create an object
 * with a valid id (without one it cannot be adopted, so its outcome is
 * unknown). Delete and begin_verification return nothing we use. */
static bool result_shape_ok(const cfapi_call *call, const json_t *result) {
    switch (call->kind) {
    case CFAPI_OP_LIST:
        return json_is_array(result);
    case CFAPI_OP_GET:
    case CFAPI_OP_UPDATE:
        return json_is_object(result);
    case CFAPI_OP_CREATE:
        return json_is_object(result) &&
               cfapi_id_is_valid(json_string_value(json_object_get(result, "id")));
    default:
        return true;
    }
}

/* An answer to the operation request itself. */
static void on_op_answer(cfapi_call *call, const http_response *r) {
    bool mutating = is_mutating(call->kind);
    bool is_create = call->kind == CFAPI_OP_CREATE;
    cfapi_envelope_clear(&call->env);
    call->res.result = NULL;
    if (r->cancelled) {
        if (mutating && r->request_sent)
            call->maybe_applied = true;
        if (is_create && call->maybe_applied)
            final_lookup_or_finish(call, 0);
        else
            finish_cancelled(call);
        return;
    }
    if (r->curl_code != 0 || r->status == 0) {
        bool ambiguous = mutating && r->request_sent;
        if (ambiguous) {
            call->maybe_applied = true;
            call->create_maybe_sent |= is_create;
        }
        record_failure(call, r, transport_failure(r), NULL, false);
        if (curl_code_is_retryable(r->curl_code))
            retry_or_finish(call, r, ambiguous);
        else if (is_create && ambiguous)
            final_lookup_or_finish(call, 0);
        else if (call->cancel_requested)
            finish_cancelled(call);
        else
            finish(call);
        return;
    }
    bool is_env = cfapi_envelope_decode(r->body, r->body_len, &call->env) == 0;
    bool is_2xx = r->status >= 200 && r->status < 300;
    if (is_2xx && r->status == 204 && r->body_len == 0 && call->kind == CFAPI_OP_DELETE) {
        /* The API reference: a delete may answer null. */
        finish_ok(call, r->status, NULL);
        return;
    }
    if (is_2xx && is_env && call->env.success && result_shape_ok(call, call->env.result)) {
        if (call->kind == CFAPI_OP_LIST)
            on_list_page(call, r);
        else
            finish_ok(call, r->status, call->env.result);
        return;
    }
    bool is_5xx = r->status >= 500;
    /* A 2xx with no usable answer (not an envelope, success=false, the
     * wrong shape, a 204 where an object was due) is a bad answer; for a
     * change, the change may well have been made. */
    bool ambiguous = mutating && (is_5xx || is_2xx);
    if (ambiguous) {
        call->maybe_applied = true;
        call->create_maybe_sent |= is_create;
    }
    bool shape_wrong = is_2xx && is_env && call->env.success;
    record_failure(call, r, is_2xx ? CFAPI_FAIL_BAD_ANSWER : CFAPI_FAIL_HTTP,
                   is_env ? &call->env : NULL, !is_env || shape_wrong);
    if (r->status == 409 && is_create && call->attempts > 1 && call->create_maybe_sent) {
        /* An earlier attempt may have created it: look before failing. */
        begin_lookup(call);
        call->lookup_after_409 = true;
        schedule(call, 0);
        return;
    }
    if (r->status == 429 || is_5xx || (is_create && is_2xx))
        retry_or_finish(call, r, is_create && ambiguous);
    else
        finish(call); /* a final answer, reported as is even after a cancel */
}

/* True once a cancelled call's lookup has had its time: one
 * request_timeout after the cancel, or at once while the client closes. */
static bool lookup_past_cancel_deadline(const cfapi_call *call) {
    const cfapi_client *c = call->client;
    return c->closing || uv_now(c->loop) >= call->cancel_deadline;
}

/* A page of the lookup that follows a create that may have been applied.
 * Found: the create succeeded. Every page read and not found: create
 * again (or report the 409 / the cancellation / the unknown outcome).
 * Failed: retry the page within the budget, never read it as absent. */
static void on_lookup_answer(cfapi_call *call, const http_response *r) {
    cfapi_envelope_clear(&call->env);
    call->res.result = NULL;
    if (r->cancelled) {
        finish_cancelled(call);
        return;
    }
    bool is_env = r->curl_code == 0 && r->status != 0 &&
                  cfapi_envelope_decode(r->body, r->body_len, &call->env) == 0;
    bool page_ok = is_env && r->status >= 200 && r->status < 300 && call->env.success &&
                   json_is_array(call->env.result);
    if (!page_ok) {
        call->lookup_fails++;
        bool transport = r->curl_code != 0 || r->status == 0;
        bool is_2xx = r->status >= 200 && r->status < 300;
        record_failure(call, r,
                       transport ? transport_failure(r)
                       : is_2xx  ? CFAPI_FAIL_BAD_ANSWER
                                 : CFAPI_FAIL_HTTP,
                       is_env ? &call->env : NULL, !transport && !is_env);
        /* Unlike an ordinary call's, a lookup page's 2xx without a usable
         * list (cut short, empty, success=false) is retried too: the lookup
         * exists to settle whether the create happened, reading the list
         * again is harmless, and giving up leaves the user an unknown
         * outcome to import by hand (found by the soak, seed 4242 of
         * bench/soak-terraform.sh: "looking the connector up by its domain
         * failed: HTTP 200 ... Gave up after 2 attempts" with 3 left). */
        bool retryable = transport ? curl_code_is_retryable(r->curl_code)
                                   : (r->status == 429 || r->status >= 500 || is_2xx);
        if (retryable && !call->cancel_requested) {
            retry_or_finish(call, r, false); /* need_lookup stays: the same page again */
        } else if (call->cancel_requested) {
            finish_cancelled(call);
        } else {
            finish_create_unknown(call);
        }
        return;
    }
    json_t *found = cfapi_find_by_domain(call->env.result, call->domain);
    if (found) {
        log_info(MOD, "the SSO connector for %s exists after an uncertain create: using it",
                 call->domain);
        call->need_lookup = false;
        finish_ok(call, r->status, found);
        return;
    }
    cfapi_page_verdict v =
        cfapi_pager_take(&call->pager, call->env.result, call->env.root, r->body_len);
    if (v == CFAPI_PAGE_MORE) {
        if (call->cancel_requested && lookup_past_cancel_deadline(call)) {
            /* Cancelled: the lookup may take one request_timeout after the
             * cancel, not pages x request_timeout; past it the create's
             * outcome stays unknown (maybe_applied, with the import id). */
            log_info(MOD, "cancel: the lookup of %s stops at page %u, its time is up", call->domain,
                     call->pager.page);
            finish_cancelled(call);
            return;
        }
        schedule(call, 0);
        return;
    }
    call->need_lookup = false;
    if (v != CFAPI_PAGE_LAST) {
        /* The list could not be read to its end: absence is not proven. */
        log_warn(MOD, "lookup of %s: the account's list could not be read to its end",
                 call->domain);
        if (v != CFAPI_PAGE_STALE) {
            record_failure(call, r, CFAPI_FAIL_LIST_LIMIT, NULL, false);
            call->res.limit_is_bytes = v == CFAPI_PAGE_OVER_BYTES;
            call->res.limit =
                call->res.limit_is_bytes ? call->pager.max_bytes : call->pager.max_items;
        }
        if (call->cancel_requested)
            finish_cancelled(call);
        else
            finish_create_unknown(call);
        return;
    }
    log_debug(MOD, "lookup: no SSO connector for %s", call->domain);
    if (call->lookup_after_409) {
        finish(call); /* the create's own 409 stands */
        return;
    }
    if (call->final_lookup) {
        if (call->cancel_requested) {
            call->maybe_applied = false; /* proven absent before the cancel ends it */
            finish_cancelled(call);
        } else {
            /* Not found after the last attempt. Kept as unknown, with the
             * import id, on purpose: the answer of that attempt was lost
             * moments ago, and a commit the list does not show yet must
             * not be reported as "not created" (no create follows to
             * settle it, unlike the lookups between attempts). */
            finish_create_unknown(call);
        }
        return;
    }
    if (call->cancel_requested) {
        call->maybe_applied = false;
        finish_cancelled(call);
        return;
    }
    /* Proven absent: the earlier attempt did not create it. */
    call->maybe_applied = false;
    schedule(call, 0); /* the retry's delay was already waited before the lookup */
}

/* A transfer ended: the answer goes to the lookup or the operation
 * handler, which decide between done, retry, next page and lookup. */
static void deliver(cfapi_call *call);

static void on_http_done(const http_response *r, void *arg) {
    cfapi_call *call = arg;
    call->transfer = NULL;
    log_answer(call, r);
    call->in_http_cb = true;
    if (call->in_lookup)
        on_lookup_answer(call, r);
    else
        on_op_answer(call, r);
    call->in_http_cb = false;
    /* Not inside a cfapi_*() call: this runs from http_uv's callback on the
     * loop, where anything may be started, cancelled or closed. */
    if (call->state == CALL_DONE)
        deliver(call);
}

static void maybe_finish_close(cfapi_client *c);
static void on_http_closed(void *arg);

static void on_call_closed(uv_handle_t *h) {
    cfapi_call *call = h->data;
    cfapi_client *c = call->client;
    cfapi_envelope_clear(&call->env);
    cfapi_envelope_clear(&call->fail_env);
    cfapi_pager_clear(&call->pager);
    free(call->page_url);
    free(call->body);
    free(call->fail_path);
    free(call->fail_error);
    free(call->fail_excerpt);
    free(call);
    c->live_calls--;
    maybe_finish_close(c);
}

/* Runs the callback, then releases the call. The client may be closed from
 * inside the callback. */
static void deliver(cfapi_call *call) {
    cfapi_client *c = call->client;
    call->state = CALL_DELIVERED;
    call->cb(&call->res, call->arg);
    if (call->prev)
        call->prev->next = call->next;
    else
        c->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    uv_close((uv_handle_t *)&call->timer, on_call_closed);
    if (c->closing && !c->calls && c->http) {
        http_client *http = c->http;
        c->http = NULL;
        http_client_close(http, on_http_closed, c);
    }
}

/* The call's one timer: delivers a finished call's callback, or starts
 * its next request once the 429 pause is over and (with max_rps) its
 * rate-limit slot has come. */
static void on_call_timer(uv_timer_t *timer) {
    cfapi_call *call = timer->data;
    cfapi_client *c = call->client;
    if (call->state == CALL_DONE) {
        deliver(call);
        return;
    }
    if (call->state != CALL_WAITING)
        return;
    if (c->paused_until > uv_now(c->loop)) {
        arm(call); /* a 429 arrived while this call waited */
        return;
    }
    if (!take_rate_slot(call))
        return;
    start_attempt(call);
}

/* Validates, builds the request and starts the first attempt: at once
 * (http_send() never calls back from inside), or through the call's timer
 * when max_rps spaces requests or a 429 pauses them. The call, its URL
 * and its domain are one allocation. `body` (may be NULL) is stolen. */
static int call_start_new(cfapi_client *c, cfapi_op kind, const char *method,
                          const char *account_id, const char *connector_id, const char *domain,
                          json_t *body, cfapi_cb cb, void *arg, cfapi_call **call_out) {
    if (call_out)
        *call_out = NULL;
    int rc = UV_EINVAL;
    if (!c || !cb || !cfapi_id_is_valid(account_id) ||
        (connector_id && !cfapi_id_is_valid(connector_id)) ||
        (domain && !cfapi_domain_is_valid(domain)))
        goto fail_body;
    rc = UV_ECANCELED;
    if (c->closing)
        goto fail_body;
    rc = UV_ENOMEM;
    bool verify = kind == CFAPI_OP_VERIFY;
    size_t url_len = cfapi_format_url(NULL, 0, c->base_url, account_id, connector_id, verify);
    size_t domain_len = domain ? strlen(domain) : 0; /* at most CFAPI_DOMAIN_MAX */
    cfapi_call *call = calloc(1, sizeof *call + url_len + 1 + (domain ? domain_len + 1 : 0));
    if (!call)
        goto fail_body;
    call->client = c;
    call->kind = kind;
    call->method = method;
    call->cb = cb;
    call->arg = arg;
    memcpy(call->account_id, account_id, 33);
    if (connector_id)
        memcpy(call->connector_id, connector_id, 33);
    cfapi_format_url(call->text, url_len + 1, c->base_url, account_id, connector_id, verify);
    call->url = call->text;
    call->domain = "";
    if (domain) {
        memcpy(call->text + url_len + 1, domain, domain_len + 1);
        call->domain = call->text + url_len + 1;
    }
    /* A list's and a create's URL is the account's list URL. */
    if (kind == CFAPI_OP_CREATE || kind == CFAPI_OP_LIST)
        call->list_url = call->url;
    rc = 0;
    if (kind == CFAPI_OP_LIST)
        rc = cfapi_pager_start(&call->pager, true, c->list_max_items, c->list_max_bytes);
    if (rc == 0 && body) {
        call->body = json_dumps(body, JSON_COMPACT);
        if (!call->body)
            rc = UV_ENOMEM;
    }
    if (rc != 0) {
        cfapi_pager_clear(&call->pager);
        free(call->body);
        free(call);
        goto fail_body;
    }
    json_decref(body);
    uv_timer_init(c->loop, &call->timer);
    call->timer.data = call;
    call->next = c->calls;
    if (c->calls)
        c->calls->prev = call;
    c->calls = call;
    c->live_calls++;
    if (c->interval_ms <= 0 && c->paused_until <= uv_now(c->loop))
        start_attempt(call);
    else
        schedule(call, 0);
    if (call_out)
        *call_out = call;
    return 0;
fail_body:
    json_decref(body);
    return rc;
}

int cfapi_list(cfapi_client *c, const char *account_id, cfapi_cb cb, void *arg,
               cfapi_call **call_out) {
    return call_start_new(c, CFAPI_OP_LIST, "GET", account_id, NULL, NULL, NULL, cb, arg, call_out);
}

int cfapi_get(cfapi_client *c, const char *account_id, const char *connector_id, cfapi_cb cb,
              void *arg, cfapi_call **call_out) {
    if (!connector_id)
        return UV_EINVAL;
    return call_start_new(c, CFAPI_OP_GET, "GET", account_id, connector_id, NULL, NULL, cb, arg,
                          call_out);
}

/* Adds "name": true/false to `obj` unless tri is -1. */
static int set_tristate(json_t *obj, const char *name, int tri) {
    if (tri < 0)
        return 0;
    return json_object_set_new(obj, name, json_boolean(tri != 0)) == 0 ? 0 : UV_ENOMEM;
}

int cfapi_create(cfapi_client *c, const char *account_id, const char *email_domain,
                 int begin_verification, int use_fedramp_language, cfapi_cb cb, void *arg,
                 cfapi_call **call_out) {
    if (!cfapi_domain_is_valid(email_domain))
        return UV_EINVAL;
    json_t *body = json_pack("{s:s}", "email_domain", email_domain);
    if (!body || set_tristate(body, "begin_verification", begin_verification) ||
        set_tristate(body, "use_fedramp_language", use_fedramp_language)) {
        json_decref(body);
        return UV_ENOMEM;
    }
    return call_start_new(c, CFAPI_OP_CREATE, "POST", account_id, NULL, email_domain, body, cb, arg,
                          call_out);
}

int cfapi_update(cfapi_client *c, const char *account_id, const char *connector_id, int enabled,
                 int use_fedramp_language, cfapi_cb cb, void *arg, cfapi_call **call_out) {
    if (!connector_id)
        return UV_EINVAL;
    json_t *body = json_object();
    if (!body || set_tristate(body, "enabled", enabled) ||
        set_tristate(body, "use_fedramp_language", use_fedramp_language)) {
        json_decref(body);
        return UV_ENOMEM;
    }
    return call_start_new(c, CFAPI_OP_UPDATE, "PATCH", account_id, connector_id, NULL, body, cb,
                          arg, call_out);
}

int cfapi_delete(cfapi_client *c, const char *account_id, const char *connector_id, cfapi_cb cb,
                 void *arg, cfapi_call **call_out) {
    if (!connector_id)
        return UV_EINVAL;
    return call_start_new(c, CFAPI_OP_DELETE, "DELETE", account_id, connector_id, NULL, NULL, cb,
                          arg, call_out);
}

int cfapi_begin_verification(cfapi_client *c, const char *account_id, const char *connector_id,
                             cfapi_cb cb, void *arg, cfapi_call **call_out) {
    if (!connector_id)
        return UV_EINVAL;
    return call_start_new(c, CFAPI_OP_VERIFY, "POST", account_id, connector_id, NULL, NULL, cb, arg,
                          call_out);
}

/* Waiting calls end at once, and a transfer in flight is aborted, except
 * for a create that may have been applied: its current attempt (already
 * written) is allowed to finish (bounded by request_timeout), and then,
 * or at once when it was waiting, the account's connectors are looked up,
 * so that a connector it created is reported rather than lost. That
 * lookup has one request_timeout after the cancel (no page is asked for
 * past it): a slow list of many pages cannot hold a cancel or a SIGTERM
 * for pages x request_timeout. No create is sent after a cancel. While
 * the client closes, no further page is asked for. */
void cfapi_call_cancel(cfapi_call *call) {
    if (!call || call->cancel_requested || call->state == CALL_DONE ||
        call->state == CALL_DELIVERED)
        return;
    call->cancel_requested = true;
    call->cancel_deadline = uv_now(call->client->loop) + (uint64_t)call->client->timeout_ms;
    bool closing = call->client->closing;
    bool is_create = call->kind == CFAPI_OP_CREATE;
    if (call->state == CALL_WAITING) {
        uv_timer_stop(&call->timer);
        release_slot(call);
        if (is_create && call->maybe_applied && !closing) {
            if (call->need_lookup) {
                call->final_lookup = true;
                schedule(call, 0);
            } else {
                final_lookup_or_finish(call, 0);
            }
            return;
        }
        finish_cancelled(call);
        return;
    }
    if (is_create && (call->in_lookup ? !closing : http_transfer_request_sent(call->transfer))) {
        log_debug(MOD, "cancel: letting the %s for %s finish its current request",
                  call->in_lookup ? "lookup" : "create", call->domain);
        if (call->in_lookup)
            call->final_lookup = true;
        return;
    }
    http_transfer_cancel(call->transfer);
}

/* ------------------------------------------------------------------ */
/* Creation and teardown                                               */
/* ------------------------------------------------------------------ */

/* host[:port] of a base URL, for messages. */
static char *url_host(const char *url) {
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *at = strpbrk(p, "@/");
    if (at && *at == '@')
        p = at + 1; /* never show userinfo */
    size_t n = strcspn(p, "/?#");
    return strndup(p, n);
}

static void client_free(cfapi_client *c) {
    http_headers_free(c->headers);
    http_headers_free(c->headers_json);
    free(c->base_url);
    free(c->host);
    free(c);
}

/* Builds the two header sets every request uses (see cfapi_client): the
 * credentials ("Authorization: Bearer ..." or X-Auth-Email and
 * X-Auth-Key) and Accept, and the same with the JSON Content-Type. The
 * lines holding the secret live only inside the sets. Returns 0 or
 * UV_ENOMEM. */
static int build_headers(cfapi_client *c, const cfapi_options *o, bool has_token) {
    char *auth[2] = {NULL, NULL};
    int rc = UV_ENOMEM;
    if (has_token) {
        if (asprintf(&auth[0], "Authorization: Bearer %s", o->api_token) < 0)
            auth[0] = NULL;
    } else {
        if (asprintf(&auth[0], "X-Auth-Email: %s", o->email) < 0)
            auth[0] = NULL;
        if (asprintf(&auth[1], "X-Auth-Key: %s", o->api_key) < 0)
            auth[1] = NULL;
    }
    if (!auth[0] || (!has_token && !auth[1]))
        goto out;
    const char *lines[5];
    size_t n = 0;
    for (int i = 0; i < 2; i++)
        if (auth[i])
            lines[n++] = auth[i];
    lines[n++] = "Accept: application/json";
    lines[n] = NULL;
    rc = http_headers_new(lines, &c->headers);
    lines[n++] = "Content-Type: application/json";
    lines[n] = NULL;
    if (rc == 0)
        rc = http_headers_new(lines, &c->headers_json);
out:
    for (int i = 0; i < 2; i++) {
        if (auth[i])
            memset(auth[i], 0, strlen(auth[i]));
        free(auth[i]);
    }
    return rc;
}

int cfapi_client_new(uv_loop_t *loop, const cfapi_options *o, cfapi_client **out) {
    if (!loop || !o || !out || !o->base_url || !o->user_agent || !*o->user_agent)
        return UV_EINVAL;
    *out = NULL;
    if (strncmp(o->base_url, "https://", 8) != 0 && strncmp(o->base_url, "http://", 7) != 0)
        return UV_EINVAL;
    bool has_token = o->api_token && *o->api_token;
    bool has_key = o->api_key && *o->api_key;
    if (has_token == has_key || (has_key && !(o->email && *o->email)))
        return UV_EINVAL;
    const char *secret = has_token ? o->api_token : o->api_key;
    if (strpbrk(secret, "\r\n") || (has_key && strpbrk(o->email, "\r\n")))
        return UV_EINVAL; /* would split the header */
    cfapi_client *c = calloc(1, sizeof *c);
    if (!c)
        return UV_ENOMEM;
    c->loop = loop;
    c->base_url = strdup(o->base_url);
    if (c->base_url) {
        size_t n = strlen(c->base_url);
        while (n > 0 && c->base_url[n - 1] == '/')
            c->base_url[--n] = '\0';
        c->host = url_host(c->base_url);
    }
    c->key_auth = has_key;
    int rc = c->base_url && c->host ? build_headers(c, o, has_token) : UV_ENOMEM;
    if (rc == 0 && log_add_secret(secret) != 0)
        rc = UV_ENOMEM;
    if (rc != 0) {
        client_free(c);
        return rc;
    }
    c->max_retries = o->max_retries < 0 ? DEFAULT_MAX_RETRIES : o->max_retries;
    if (c->max_retries > MAX_MAX_RETRIES)
        c->max_retries = MAX_MAX_RETRIES;
    double timeout_s = o->request_timeout > 0 ? o->request_timeout : DEFAULT_TIMEOUT_S;
    c->timeout_ms = (long)(timeout_s * 1000.0 + 0.5);
    if (c->timeout_ms < 1)
        c->timeout_ms = 1;
    c->interval_ms = o->max_rps > 0 ? 1000.0 / o->max_rps : 0;
    c->backoff_base_ms = o->backoff_base_ms ? o->backoff_base_ms : CFAPI_DEFAULT_BACKOFF_BASE_MS;
    c->list_max_items = o->list_max_items ? o->list_max_items : CFAPI_LIST_MAX_ITEMS;
    c->list_max_bytes = o->list_max_bytes ? o->list_max_bytes : CFAPI_LIST_MAX_BYTES;
    c->rng = uv_hrtime() ^ (uint64_t)(uintptr_t)c ^ 0x9e3779b97f4a7c15ULL;
    if (!c->rng)
        c->rng = 1;
    rc = http_client_new(loop, o->user_agent, &c->http);
    if (rc != 0) {
        client_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

uint64_t cfapi_client_paused_until(const cfapi_client *c) {
    return c->paused_until;
}

/* The last step of cfapi_client_close(): once http_uv has closed and
 * every call has been freed, frees the client and runs on_closed. */
static void maybe_finish_close(cfapi_client *c) {
    if (!c->closing || !c->http_closed || c->live_calls > 0)
        return;
    void (*on_closed)(void *) = c->on_closed;
    void *arg = c->on_closed_arg;
    client_free(c);
    if (on_closed)
        on_closed(arg);
}

/* http_uv's close callback: libcurl and its handles are gone. */
static void on_http_closed(void *arg) {
    cfapi_client *c = arg;
    c->http_closed = true;
    maybe_finish_close(c);
}

void cfapi_client_close(cfapi_client *c, void (*on_closed)(void *arg), void *arg) {
    if (!c || c->closing)
        return;
    c->closing = true;
    c->on_closed = on_closed;
    c->on_closed_arg = arg;
    for (cfapi_call *call = c->calls; call; call = call->next)
        cfapi_call_cancel(call);
    if (!c->calls && c->http) {
        http_client *http = c->http;
        c->http = NULL;
        http_client_close(http, on_http_closed, c);
    }
}
