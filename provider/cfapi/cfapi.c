/*
 * cfapi.c - the Cloudflare API client for account SSO connectors. See
 * cfapi.h for the contract and http_uv.h for the transport.
 *
 * Life of a call:
 *
 *   cfapi_get() ... -> call_start() -> schedule(0)
 *   call->timer fires (rate-limit slot and 429 pause respected)
 *       -> start_attempt() -> http_send()
 *   on_http_done() -> on_op_answer() / on_lookup_answer()
 *       -> done:   finish() -> call->timer (0 ms) -> deliver() -> callback
 *       -> retry:  schedule(delay)
 *       -> a create that may have reached the server: schedule a lookup
 *          (list the account's connectors, match email_domain) before any
 *          new create is sent
 *
 * Every callback is delivered from the call's own timer, so it never runs
 * inside cfapi_*() or cfapi_call_cancel(). The call is freed in that
 * timer's close callback.
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

typedef enum op_kind {
    OP_LIST,
    OP_GET,
    OP_CREATE,
    OP_UPDATE,
    OP_DELETE,
    OP_VERIFY,
} op_kind;

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
    char *host;          /* for diagnostics: host[:port] of base_url */
    char *auth_lines[2]; /* "Authorization: Bearer ..." or X-Auth-Email / X-Auth-Key */
    char *secrets[3];    /* token, key: never in a diagnostic */
    bool key_auth;
    int max_retries;
    long timeout_ms;
    double interval_ms; /* max_rps spacing; 0: none */
    unsigned backoff_base_ms;
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
    op_kind kind;
    cfapi_cb cb;
    void *arg;
    char account_id[33];
    char connector_id[33];
    char domain[254];
    const char *method;
    char *url;
    char *body;        /* request body, or NULL */
    char *lookup_url;  /* the lookup's URL: lookup_base, with ?page=N after page 1 */
    char *lookup_base; /* the account's list URL */
    unsigned lookup_page;
    size_t lookup_seen; /* connectors seen on the lookup's earlier pages */
    char *list_url;     /* OP_LIST: the first page's URL, without a query */
    json_t *pages;      /* OP_LIST: the connectors of the pages read so far */
    unsigned page;      /* OP_LIST: the page being read, from 1 */
    call_state state;
    uv_timer_t timer;
    uint64_t due;       /* loop time the next attempt is due at */
    bool slot_reserved; /* (max_rps) the timer now waits for this call's slot */
    http_transfer *transfer;
    bool in_lookup;        /* the transfer in flight is a create lookup */
    bool need_lookup;      /* the next request is a lookup, not the operation */
    bool lookup_after_409; /* the lookup was caused by a 409 on a retried create */
    bool final_lookup;     /* the lookup after the last create attempt: no create follows */
    bool cancel_requested;
    bool create_maybe_sent; /* some create attempt may have reached the server */
    bool maybe_applied;
    unsigned attempts;     /* operation requests started */
    unsigned lookup_fails; /* failed lookups (they use the retry budget too) */
    uint64_t waited_ms;    /* time waited between attempts (cfapi_wait_budget_ms) */
    /* the outcome */
    cfapi_envelope env;        /* last operation answer */
    cfapi_envelope lookup_env; /* last lookup answer */
    cfapi_result res;
    cfapi_call *prev, *next;
};

static uint32_t next_random(cfapi_client *c) {
    /* xorshift64*: jitter only, not security */
    c->rng ^= c->rng >> 12;
    c->rng ^= c->rng << 25;
    c->rng ^= c->rng >> 27;
    return (uint32_t)((c->rng * 2685821657736338717ULL) >> 32);
}

static bool is_mutating(op_kind k) {
    return k != OP_LIST && k != OP_GET;
}

static unsigned max_tries(const cfapi_client *c) {
    return (unsigned)c->max_retries + 1;
}

static unsigned tries_used(const cfapi_call *call) {
    return call->attempts + call->lookup_fails;
}

/* "creating SSO connector for example.com", for summaries and logs. */
static char *describe_op(const cfapi_call *call) {
    static const char *const what[] = {
        [OP_LIST] = "listing SSO connectors of account",
        [OP_GET] = "reading SSO connector",
        [OP_CREATE] = "creating SSO connector for",
        [OP_UPDATE] = "updating SSO connector",
        [OP_DELETE] = "deleting SSO connector",
        [OP_VERIFY] = "beginning verification of SSO connector",
    };
    const char *subject = call->kind == OP_LIST     ? call->account_id
                          : call->kind == OP_CREATE ? call->domain
                                                    : call->connector_id;
    char *s = NULL;
    cfapi_strappf(&s, "%s %s", what[call->kind], subject);
    return s;
}

/* The request path relative to base_url, for logs and diagnostics. */
static const char *rel_path(const cfapi_call *call, const char *url) {
    size_t n = strlen(call->client->base_url);
    return strncmp(url, call->client->base_url, n) == 0 ? url + n : url;
}

/* Replaces the call's diagnostic with {"severity":"error", summary, detail};
 * the detail is redacted of the client's secrets first. */
static void set_diagnostic(cfapi_call *call, const char *summary, const char *detail) {
    cfapi_client *c = call->client;
    char *safe = cfapi_redact(detail ? detail : "", (const char *const *)c->secrets);
    json_decref(call->res.diagnostic);
    call->res.diagnostic =
        json_pack("{s:s, s:s, s:s}", "severity", "error", "summary",
                  summary ? summary : "Cloudflare API error", "detail", safe ? safe : "");
    free(safe);
}

/* The permission hint for a 401/403. */
static void append_auth_hint(const cfapi_call *call, char **detail) {
    if (call->client->key_auth) {
        cfapi_strappf(detail,
                      "\nCloudflare did not accept email/api_key for account %s: check that the "
                      "key is the Global API Key of a user with access to SSO connectors on it.",
                      call->account_id);
    } else if (is_mutating(call->kind)) {
        cfapi_strappf(detail,
                      "\nCloudflare rejected the API token. Check that it is valid and has the "
                      "account permission \"SSO Connector Write\" on account %s (\"SSO "
                      "Connector Read\" is enough only for reads).",
                      call->account_id);
    } else {
        cfapi_strappf(detail,
                      "\nCloudflare rejected the API token. Check that it is valid and has the "
                      "account permission \"SSO Connector Read\" (or \"SSO Connector Write\") "
                      "on account %s.",
                      call->account_id);
    }
}

static void append_attempts(const cfapi_call *call, char **detail) {
    unsigned n = tries_used(call);
    if (n > 1)
        cfapi_strappf(detail, "\nGave up after %u attempts.", n);
}

static void append_maybe_applied(const cfapi_call *call, char **detail) {
    if (!call->maybe_applied)
        return;
    if (call->kind == OP_CREATE)
        cfapi_strappf(
            detail,
            "\nThe request may have reached Cloudflare before its answer was lost, so the "
            "connector may have been created; if an SSO connector for %s exists in account "
            "%s, import it with the id %s/%s.",
            call->domain, call->account_id, call->account_id, call->domain);
    else
        cfapi_strappf(detail,
                      "\nThe request may have reached Cloudflare before its answer was lost, "
                      "so the change may have been applied; refresh to see the current state.");
}

/* The diagnostic for an HTTP answer that ends the call (status and
 * envelope already stored in call->res / call->env). */
static void diagnose_http(cfapi_call *call, const http_response *r, const char *url,
                          bool is_envelope) {
    char *op = describe_op(call);
    char *summary = NULL, *detail = NULL;
    cfapi_strappf(&summary, "Cloudflare API error %s", op ? op : "");
    cfapi_strappf(&detail, "HTTP %ld from %s %s.", r->status,
                  call->in_lookup ? "GET" : call->method, rel_path(call, url));
    if (!is_envelope) {
        char *ex = cfapi_body_excerpt(r->body, r->body_len, CFAPI_EXCERPT_MAX);
        if (r->body_too_large)
            cfapi_strappf(&detail, "\nThe answer was larger than the %zu MiB limit.",
                          HTTP_MAX_BODY >> 20);
        else if (r->body_len == 0)
            cfapi_strappf(&detail, "\nThe answer had no body.");
        else
            cfapi_strappf(&detail, "\nThe answer is not a Cloudflare API response: \"%s\"",
                          ex ? ex : "");
        free(ex);
    } else {
        json_t *errors = call->in_lookup ? call->lookup_env.errors : call->env.errors;
        char *errs = NULL;
        cfapi_append_errors(&errs, errors);
        if (errs)
            cfapi_strappf(&detail, "\n%s", errs);
        else if (r->status >= 200 && r->status < 300)
            cfapi_strappf(&detail, "\nCloudflare answered success=false without an error.");
        free(errs);
    }
    if (r->status == 401 || r->status == 403)
        append_auth_hint(call, &detail);
    if (r->status == 429)
        cfapi_strappf(&detail, "\nCloudflare's rate limit was hit; try again later, or set max_rps "
                               "to stay under it.");
    if (r->status == 409 && call->kind == OP_CREATE && !call->in_lookup)
        cfapi_strappf(&detail,
                      "\nAn SSO connector for %s already exists in account %s. To manage it here, "
                      "import it with the id %s/%s.",
                      call->domain, call->account_id, call->account_id, call->domain);
    if (r->status == 404 && call->kind != OP_LIST && call->kind != OP_CREATE)
        cfapi_strappf(&detail,
                      "\nThe SSO connector %s does not exist in account %s (or the "
                      "credentials cannot see it).",
                      call->connector_id, call->account_id);
    append_attempts(call, &detail);
    append_maybe_applied(call, &detail);
    set_diagnostic(call, summary, detail);
    free(op);
    free(summary);
    free(detail);
}

/* The diagnostic for a transfer that got no usable answer. */
static void diagnose_transport(cfapi_call *call, const http_response *r) {
    cfapi_client *c = call->client;
    char *op = describe_op(call);
    char *summary = NULL, *detail = NULL;
    if (r->curl_code == CURLE_OPERATION_TIMEDOUT) {
        cfapi_strappf(&summary, "Timed out waiting for the Cloudflare API while %s", op ? op : "");
        cfapi_strappf(&detail, "No complete answer from %s within %ld ms (request_timeout %.3g s).",
                      c->host, c->timeout_ms, (double)c->timeout_ms / 1000.0);
    } else if (r->body_too_large) {
        cfapi_strappf(&summary, "Cloudflare API error %s", op ? op : "");
        cfapi_strappf(&detail, "The answer from %s was larger than the %zu MiB limit.", c->host,
                      HTTP_MAX_BODY >> 20);
    } else {
        cfapi_strappf(&summary, "Could not reach the Cloudflare API while %s", op ? op : "");
        cfapi_strappf(&detail, "%s (host %s).", r->error, c->host);
    }
    append_attempts(call, &detail);
    append_maybe_applied(call, &detail);
    set_diagnostic(call, summary, detail);
    free(op);
    free(summary);
    free(detail);
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
 * cfapi_call_cancel()). */
static void finish(cfapi_call *call) {
    call->state = CALL_DONE;
    call->res.maybe_applied = call->maybe_applied && !call->res.ok;
    if (call->res.ok) {
        json_decref(call->res.diagnostic);
        call->res.diagnostic = NULL;
    }
    uv_timer_start(&call->timer, on_call_timer, 0, 0);
}

static void finish_cancelled(cfapi_call *call) {
    char *op = describe_op(call);
    char *summary = NULL, *detail = NULL;
    cfapi_strappf(&summary, "Cancelled while %s", op ? op : "");
    cfapi_strappf(&detail, "The operation was cancelled before it completed.");
    append_maybe_applied(call, &detail);
    call->res.ok = false;
    call->res.cancelled = true;
    call->res.result = NULL;
    set_diagnostic(call, summary, detail);
    free(op);
    free(summary);
    free(detail);
    finish(call);
}

static void finish_ok(cfapi_call *call, json_t *result) {
    call->res.ok = true;
    call->res.cancelled = false;
    call->res.result = result;
    finish(call);
}

static void on_http_done(const http_response *r, void *arg);
static void schedule(cfapi_call *call, uint64_t delay_ms);

/* Collects one page of a list. The envelope's result_info says whether
 * more pages follow (count so far below total_count); then the next page
 * is requested with ?page=N, with a fresh retry budget. The answer is every
 * page's connectors together. At most 1000 pages are read. */
static void list_page_done(cfapi_call *call, json_t *result) {
    if (!call->pages)
        call->pages = json_array();
    json_array_extend(call->pages, result);
    json_t *info = json_object_get(call->env.root, "result_info");
    json_t *total = json_object_get(info, "total_count");
    bool more = json_is_integer(total) && json_array_size(result) > 0 &&
                (json_int_t)json_array_size(call->pages) < json_integer_value(total) &&
                call->page < 1000;
    if (!more) {
        if (json_is_integer(total) &&
            (json_int_t)json_array_size(call->pages) < json_integer_value(total))
            log_warn(MOD, "listing account %s: %zu of %lld connectors read (the pages ended early)",
                     call->account_id, json_array_size(call->pages),
                     (long long)json_integer_value(total));
        finish_ok(call, call->pages);
        return;
    }
    if (!call->list_url)
        call->list_url = strdup(call->url);
    char *next = NULL;
    if (!call->list_url || asprintf(&next, "%s?page=%u", call->list_url, call->page + 1) < 0) {
        finish_ok(call, call->pages); /* out of memory: what was read */
        return;
    }
    free(call->url);
    call->url = next;
    call->page++;
    call->attempts = 0;
    log_debug(MOD, "list: %zu of %lld connectors read, reading page %u",
              json_array_size(call->pages), (long long)json_integer_value(total), call->page);
    schedule(call, 0);
}

/* Starts the next request of the call: the operation itself, or the
 * lookup that must precede a create retry. */
static void start_attempt(cfapi_call *call) {
    cfapi_client *c = call->client;
    const char *headers[6];
    int h = 0;
    for (int i = 0; i < 2; i++)
        if (c->auth_lines[i])
            headers[h++] = c->auth_lines[i];
    headers[h++] = "Accept: application/json";
    bool lookup = call->need_lookup;
    http_request req;
    memset(&req, 0, sizeof req);
    req.timeout_ms = c->timeout_ms;
    if (lookup) {
        req.method = "GET";
        req.url = call->lookup_url;
        req.idempotent = true;
    } else {
        req.method = call->method;
        req.url = call->url;
        req.idempotent = call->kind != OP_CREATE && call->kind != OP_VERIFY;
        if (call->body) {
            headers[h++] = "Content-Type: application/json";
            req.body = call->body;
            req.body_len = strlen(call->body);
        }
    }
    headers[h] = NULL;
    req.headers = headers;
    call->in_lookup = lookup;
    if (!lookup)
        call->attempts++;
    if (!lookup && req.body)
        log_trace(MOD, "%s %s request body: %s", req.method, rel_path(call, req.url), req.body);
    int rc = http_send(c->http, &req, on_http_done, call, &call->transfer);
    if (rc != 0) {
        char *op = describe_op(call);
        char *summary = NULL, *detail = NULL;
        cfapi_strappf(&summary, "Could not start a Cloudflare API request while %s", op ? op : "");
        cfapi_strappf(&detail, "%s.", uv_strerror(rc));
        set_diagnostic(call, summary, detail);
        free(op);
        free(summary);
        free(detail);
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
    const char *detail = json_string_value(json_object_get(call->res.diagnostic, "detail"));
    if (detail && !call->cancel_requested && tries_used(call) < max_tries(c)) {
        char *text = strdup(detail);
        cfapi_strappf(&text,
                      "\nNot retried: %s %.3g s%s, more than the %.3g s left of the time one call "
                      "may wait between attempts (60 s, or request_timeout when longer).",
                      *from_server ? "the server asked to wait" : "the backoff would wait",
                      (double)ms / 1000.0,
                      *from_server && ms >= CFAPI_MAX_RETRY_AFTER_MS ? " or more" : "",
                      (double)(budget - call->waited_ms) / 1000.0);
        if (text)
            json_object_set_new(call->res.diagnostic, "detail", json_string(text));
        free(text);
    }
    log_info(MOD,
             "not retrying: a wait of %" PRIu64 " ms would pass the call's %" PRIu64
             " ms budget (%" PRIu64 " ms waited)",
             ms, budget, call->waited_ms);
    return NO_RETRY;
}

static void log_answer(cfapi_call *call, const http_response *r) {
    const char *url = call->in_lookup ? call->lookup_url : call->url;
    const char *method = call->in_lookup ? "GET" : call->method;
    unsigned n = tries_used(call) + (call->in_lookup ? 1 : 0);
    if (r->cancelled)
        log_debug(MOD, "%s %s -> cancelled after %.1f ms (%s%u/%u)", method, rel_path(call, url),
                  r->duration_ms, call->in_lookup ? "lookup, attempt " : "attempt ", n,
                  max_tries(call->client));
    else if (r->curl_code != 0)
        log_debug(MOD, "%s %s -> %s after %.1f ms (%s%u/%u)", method, rel_path(call, url), r->error,
                  r->duration_ms, call->in_lookup ? "lookup, attempt " : "attempt ", n,
                  max_tries(call->client));
    else
        log_debug(MOD, "%s %s -> %ld in %.1f ms (%s%u/%u)", method, rel_path(call, url), r->status,
                  r->duration_ms, call->in_lookup ? "lookup, attempt " : "attempt ", n,
                  max_tries(call->client));
    if (r->body_len && log_enabled(LOG_LEVEL_TRACE))
        log_trace(MOD, "%s %s response body: %.*s%s", method, rel_path(call, url),
                  (int)(r->body_len > TRACE_BODY_MAX ? TRACE_BODY_MAX : r->body_len), r->body,
                  r->body_len > TRACE_BODY_MAX ? "..." : "");
}

/* Points the lookup at page `page` of the account's list (1: the plain list
 * URL). Returns false when out of memory. */
static bool set_lookup_page(cfapi_call *call, unsigned page) {
    char *url = NULL;
    if (page <= 1)
        url = strdup(call->lookup_base);
    else if (asprintf(&url, "%s?page=%u", call->lookup_base, page) < 0)
        url = NULL;
    if (!url)
        return false;
    free(call->lookup_url);
    call->lookup_url = url;
    call->lookup_page = page;
    return true;
}

/* The next request is a lookup of the domain, from the first page. */
static void begin_lookup(cfapi_call *call) {
    call->need_lookup = true;
    call->lookup_seen = 0;
    set_lookup_page(call, 1); /* on failure the previous URL is still valid */
}

/* After a retryable failure: waits and tries again, or ends the call with
 * the diagnostic already set when the budget is spent. A create that may
 * have reached the server is looked up before it is ever re-sent. */
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
    bool create_unsure = call->kind == OP_CREATE && ambiguous && !call->in_lookup;
    if (call->cancel_requested || tries_used(call) >= max_tries(c) || delay == NO_RETRY) {
        if (create_unsure) {
            /* No further create, but one lookup, so that a connector this
             * attempt created is reported rather than lost. */
            begin_lookup(call);
            call->final_lookup = true;
            schedule(call, call->cancel_requested || delay == NO_RETRY ? 0 : delay);
        } else if (call->cancel_requested) {
            finish_cancelled(call);
        } else {
            finish(call);
        }
        return;
    }
    if (create_unsure)
        begin_lookup(call);
    log_debug(MOD, "retrying in %" PRIu64 " ms%s%s", delay,
              from_server ? " (as the server asked)" : "",
              call->need_lookup ? ", after looking the connector up" : "");
    schedule(call, delay);
}

/* An answer to the operation request itself. */
static void on_op_answer(cfapi_call *call, const http_response *r) {
    bool mutating = is_mutating(call->kind);
    cfapi_envelope_clear(&call->env);
    call->res.http_status = r->status;
    call->res.result = NULL;
    call->res.errors = NULL;
    if (r->cancelled) {
        if (mutating && r->request_sent)
            call->maybe_applied = true;
        finish_cancelled(call);
        return;
    }
    if (r->curl_code != 0 || r->status == 0) {
        bool ambiguous = mutating && r->request_sent;
        if (ambiguous) {
            call->maybe_applied = true;
            if (call->kind == OP_CREATE)
                call->create_maybe_sent = true;
        }
        diagnose_transport(call, r);
        if (curl_code_is_retryable(r->curl_code))
            retry_or_finish(call, r, ambiguous);
        else if (call->cancel_requested)
            finish_cancelled(call);
        else
            finish(call);
        return;
    }
    bool is_env = cfapi_envelope_decode(r->body, r->body_len, &call->env) == 0;
    call->res.errors = call->env.errors;
    bool is_2xx = r->status >= 200 && r->status < 300;
    if (is_2xx && r->status == 204 && r->body_len == 0) {
        finish_ok(call, NULL);
        return;
    }
    if (is_2xx && is_env && call->env.success) {
        json_t *result = call->env.result;
        bool shape_ok = call->kind == OP_LIST ? json_is_array(result)
                        : call->kind == OP_GET || call->kind == OP_CREATE || call->kind == OP_UPDATE
                            ? json_is_object(result)
                            : true;
        if (shape_ok && call->kind == OP_LIST) {
            list_page_done(call, result);
            return;
        }
        if (shape_ok) {
            finish_ok(call, result);
            return;
        }
        is_env = false; /* report it as an unexpected answer */
    }
    bool is_5xx = r->status >= 500;
    bool ambiguous = mutating && (is_5xx || is_2xx);
    if (ambiguous) {
        call->maybe_applied = true;
        if (call->kind == OP_CREATE)
            call->create_maybe_sent = true;
    }
    diagnose_http(call, r, call->url, is_env);
    if (r->status == 409 && call->kind == OP_CREATE && call->attempts > 1 &&
        call->create_maybe_sent) {
        /* An earlier attempt may have created it: look before failing. */
        begin_lookup(call);
        call->lookup_after_409 = true;
        schedule(call, 0);
        return;
    }
    if (r->status == 429 || is_5xx)
        retry_or_finish(call, r, ambiguous && is_5xx);
    else
        finish(call); /* a final answer, reported as is even after a cancel */
}

/* An answer to the lookup that follows a create that may have been
 * applied. Found: the create succeeded. Not found: create again (or report
 * the 409 / the cancellation). Failed: retry the lookup within the budget. */
static void on_lookup_answer(cfapi_call *call, const http_response *r) {
    call->res.errors = call->env.errors; /* never into the envelope about to go */
    call->res.result = NULL;
    cfapi_envelope_clear(&call->lookup_env);
    if (r->cancelled) {
        finish_cancelled(call);
        return;
    }
    bool is_env = r->curl_code == 0 && r->status != 0 &&
                  cfapi_envelope_decode(r->body, r->body_len, &call->lookup_env) == 0;
    if (is_env && r->status >= 200 && r->status < 300 && call->lookup_env.success &&
        json_is_array(call->lookup_env.result)) {
        call->need_lookup = false;
        json_t *found = cfapi_find_by_domain(call->lookup_env.result, call->domain);
        if (found) {
            log_info(MOD, "the SSO connector for %s exists after an uncertain create: using it",
                     call->domain);
            call->res.http_status = r->status;
            call->res.errors = NULL;
            finish_ok(call, found);
            return;
        }
        /* Not on this page: when result_info says more connectors follow,
         * read the next page before concluding anything. */
        call->lookup_seen += json_array_size(call->lookup_env.result);
        json_t *total =
            json_object_get(json_object_get(call->lookup_env.root, "result_info"), "total_count");
        if (json_is_integer(total) && json_array_size(call->lookup_env.result) > 0 &&
            (json_int_t)call->lookup_seen < json_integer_value(total) && call->lookup_page < 1000 &&
            !call->cancel_requested && set_lookup_page(call, call->lookup_page + 1)) {
            call->need_lookup = true;
            schedule(call, 0);
            return;
        }
        log_debug(MOD, "lookup: no SSO connector for %s yet", call->domain);
        if (call->cancel_requested) {
            finish_cancelled(call);
            return;
        }
        if (call->lookup_after_409 || call->final_lookup) {
            finish(call); /* the create's own diagnostic stands */
            return;
        }
        schedule(call, 0); /* the retry's delay was already waited before the lookup */
        return;
    }
    /* The lookup failed: the create's fate is unknown. */
    call->lookup_fails++;
    call->res.http_status = r->status;
    call->res.errors = call->lookup_env.errors;
    char *op = describe_op(call);
    char *summary = NULL, *detail = NULL;
    cfapi_strappf(&summary, "Cloudflare API error %s", op ? op : "");
    cfapi_strappf(&detail,
                  "The create request may have reached Cloudflare but its answer was lost, and "
                  "looking the connector up by its domain failed: ");
    if (r->curl_code != 0 || r->status == 0) {
        cfapi_strappf(&detail, "%s (host %s).", r->error, call->client->host);
    } else {
        cfapi_strappf(&detail, "HTTP %ld from GET %s.", r->status,
                      rel_path(call, call->lookup_url));
        char *errs = NULL;
        cfapi_append_errors(&errs, call->lookup_env.errors);
        if (errs)
            cfapi_strappf(&detail, "\n%s", errs);
        free(errs);
        if (r->status == 401 || r->status == 403)
            append_auth_hint(call, &detail);
    }
    append_attempts(call, &detail);
    cfapi_strappf(&detail,
                  "\nThe connector for %s may exist; if it does, import it with the id %s/%s.",
                  call->domain, call->account_id, call->domain);
    set_diagnostic(call, summary, detail);
    free(op);
    free(summary);
    free(detail);
    bool retryable = (r->curl_code != 0 || r->status == 0) ? curl_code_is_retryable(r->curl_code)
                                                           : (r->status == 429 || r->status >= 500);
    if (retryable && !call->cancel_requested)
        retry_or_finish(call, r, false);
    else if (call->cancel_requested)
        finish_cancelled(call);
    else
        finish(call);
}

/* A transfer ended: the answer goes to the lookup or the operation
 * handler, which decide between done, retry and lookup. */
static void on_http_done(const http_response *r, void *arg) {
    cfapi_call *call = arg;
    call->transfer = NULL;
    log_answer(call, r);
    if (call->in_lookup)
        on_lookup_answer(call, r);
    else
        on_op_answer(call, r);
}

static void maybe_finish_close(cfapi_client *c);
static void on_http_closed(void *arg);

static void on_call_closed(uv_handle_t *h) {
    cfapi_call *call = h->data;
    cfapi_client *c = call->client;
    cfapi_envelope_clear(&call->env);
    cfapi_envelope_clear(&call->lookup_env);
    json_decref(call->res.diagnostic);
    json_decref(call->pages);
    free(call->url);
    free(call->list_url);
    free(call->body);
    free(call->lookup_url);
    free(call->lookup_base);
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

/* Validates, builds the request and schedules the first attempt on the
 * next loop iteration. `body` (may be NULL) is stolen. */
static int call_start(cfapi_client *c, op_kind kind, const char *method, const char *account_id,
                      const char *connector_id, const char *domain, json_t *body, cfapi_cb cb,
                      void *arg, cfapi_call **call_out) {
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
    cfapi_call *call = calloc(1, sizeof *call);
    if (!call)
        goto fail_body;
    call->client = c;
    call->kind = kind;
    call->page = 1;
    call->method = method;
    call->cb = cb;
    call->arg = arg;
    memcpy(call->account_id, account_id, 33);
    if (connector_id)
        memcpy(call->connector_id, connector_id, 33);
    if (domain)
        snprintf(call->domain, sizeof call->domain, "%s", domain);
    rc = cfapi_build_url(c->base_url, account_id, connector_id, kind == OP_VERIFY, &call->url);
    if (rc == 0 && kind == OP_CREATE)
        rc = cfapi_build_url(c->base_url, account_id, NULL, false, &call->lookup_base);
    if (rc == 0 && kind == OP_CREATE && !(call->lookup_url = strdup(call->lookup_base)))
        rc = UV_ENOMEM;
    if (rc == 0 && body) {
        call->body = json_dumps(body, JSON_COMPACT);
        if (!call->body)
            rc = UV_ENOMEM;
    }
    if (rc != 0) {
        free(call->url);
        free(call->lookup_url);
        free(call->lookup_base);
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
    return call_start(c, OP_LIST, "GET", account_id, NULL, NULL, NULL, cb, arg, call_out);
}

int cfapi_get(cfapi_client *c, const char *account_id, const char *connector_id, cfapi_cb cb,
              void *arg, cfapi_call **call_out) {
    if (!connector_id)
        return UV_EINVAL;
    return call_start(c, OP_GET, "GET", account_id, connector_id, NULL, NULL, cb, arg, call_out);
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
    return call_start(c, OP_CREATE, "POST", account_id, NULL, email_domain, body, cb, arg,
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
    return call_start(c, OP_UPDATE, "PATCH", account_id, connector_id, NULL, body, cb, arg,
                      call_out);
}

int cfapi_delete(cfapi_client *c, const char *account_id, const char *connector_id, cfapi_cb cb,
                 void *arg, cfapi_call **call_out) {
    if (!connector_id)
        return UV_EINVAL;
    return call_start(c, OP_DELETE, "DELETE", account_id, connector_id, NULL, NULL, cb, arg,
                      call_out);
}

int cfapi_begin_verification(cfapi_client *c, const char *account_id, const char *connector_id,
                             cfapi_cb cb, void *arg, cfapi_call **call_out) {
    if (!connector_id)
        return UV_EINVAL;
    return call_start(c, OP_VERIFY, "POST", account_id, connector_id, NULL, NULL, cb, arg,
                      call_out);
}

/* Waiting calls end at once. A transfer in flight is aborted, except a
 * create whose request has already been written: that attempt may create
 * the connector, so it is allowed to finish (bounded by request_timeout)
 * and only the retries after it are abandoned. */
void cfapi_call_cancel(cfapi_call *call) {
    if (!call || call->cancel_requested || call->state == CALL_DONE ||
        call->state == CALL_DELIVERED)
        return;
    call->cancel_requested = true;
    if (call->state == CALL_WAITING) {
        uv_timer_stop(&call->timer);
        release_slot(call);
        finish_cancelled(call);
        return;
    }
    if (call->kind == OP_CREATE && !call->in_lookup && http_transfer_request_sent(call->transfer)) {
        log_debug(MOD, "cancel: letting the create for %s finish its current attempt",
                  call->domain);
        return;
    }
    http_transfer_cancel(call->transfer);
}

/* ------------------------------------------------------------------ */
/* Creation and teardown                                               */
/* ------------------------------------------------------------------ */

/* host[:port] of a base URL, for diagnostics. */
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
    free(c->base_url);
    free(c->host);
    for (int i = 0; i < 2; i++)
        free(c->auth_lines[i]);
    for (int i = 0; i < 3; i++)
        free(c->secrets[i]);
    free(c);
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
    if (has_token) {
        if (asprintf(&c->auth_lines[0], "Authorization: Bearer %s", o->api_token) < 0)
            c->auth_lines[0] = NULL;
        c->secrets[0] = strdup(o->api_token);
    } else {
        if (asprintf(&c->auth_lines[0], "X-Auth-Email: %s", o->email) < 0)
            c->auth_lines[0] = NULL;
        if (asprintf(&c->auth_lines[1], "X-Auth-Key: %s", o->api_key) < 0)
            c->auth_lines[1] = NULL;
        c->secrets[0] = strdup(o->api_key);
    }
    if (!c->base_url || !c->host || !c->auth_lines[0] || (has_key && !c->auth_lines[1]) ||
        !c->secrets[0] || log_add_secret(c->secrets[0]) != 0) {
        client_free(c);
        return UV_ENOMEM;
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
    c->rng = uv_hrtime() ^ (uint64_t)(uintptr_t)c ^ 0x9e3779b97f4a7c15ULL;
    if (!c->rng)
        c->rng = 1;
    int rc = http_client_new(loop, o->user_agent, &c->http);
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
