/*
 * cfapi.h - the Cloudflare API client for account SSO connectors.
 *
 * Every operation is asynchronous on the provider's libuv loop: it returns
 * at once and calls its callback exactly once, later, from the loop (never
 * from inside the call that started it). Hundreds of calls may be in
 * flight; connections are reused (see http_uv.h, the only user of
 * curl_multi_*).
 *
 * The client owns everything between "call this endpoint" and "here is the
 * decoded result": auth headers, the User-Agent, the Cloudflare envelope
 * (decoded once, here), retries of 429/5xx/connection errors with
 * Retry-After / Retry-After-Ms or exponential backoff with jitter, a 429
 * pausing every call of the process, max_rps spacing, per-call timeouts,
 * and the create-whose-answer-was-lost recovery (the connector is looked up
 * by domain before a create is ever re-sent).
 *
 * Every call ends in a structured cfapi_result: success, or a failure kind
 * (cfapi_failure) with what is known about it (status, Cloudflare's
 * errors, the failing request, the transport error, an excerpt of an
 * answer that was not an envelope). cfapi knows nothing of Terraform
 * diagnostics; cfapi_result_render() turns a failure into the plain text
 * a person can act on (the operation, the HTTP status, Cloudflare's error
 * codes and messages, and for 401/403 the token permission needed). The
 * token or key never appears in a rendering or a log line.
 *
 * Lists are read page by page by one pager (cfapi_pager.c), used by
 * cfapi_list() and by the create lookup: it stops at the last page, on a
 * page that brings no connector not already seen (a server that ignores
 * ?page=), and fails (CFAPI_FAIL_LIST_LIMIT) past list_max_items
 * connectors or list_max_bytes of answers, so nothing is silently cut.
 *
 * A create whose answer was lost (a transport error after the request was
 * sent, a 5xx, a 2xx without a usable connector) is owned here: the
 * account's connectors are listed (every page) before the create is ever
 * sent again; found, it is adopted (success); absent, the create is sent
 * again. POSTs and failed lookup pages (a 2xx without a usable list
 * included) share one retry budget, so
 * max_retries N sends the create at most N + 1 times. When the outcome is
 * still unknown at the end, the call fails with CFAPI_FAIL_CREATE_UNKNOWN,
 * whose rendering carries the import id.
 *
 * Ids passed in must already be validated by the caller; the client refuses
 * (UV_EINVAL) any id that is not 32 lowercase-or-uppercase hex characters,
 * as a second guard, so nothing can change the request path.
 */
#ifndef CFAPI_H
#define CFAPI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

typedef struct cfapi_client cfapi_client;
typedef struct cfapi_call cfapi_call;

typedef struct cfapi_options {
    const char *base_url;     /* e.g. "https://api.cloudflare.com/client/v4", no trailing slash */
    const char *api_token;    /* Bearer token, or NULL */
    const char *api_key;      /* legacy key auth (with email), or NULL */
    const char *email;        /* the account email sent as X-Auth-Email with api_key */
    const char *user_agent;   /* e.g. "provider-cloudflare/0.1.0" */
    int max_retries;          /* retries after the first attempt; < 0: default 4 */
    double request_timeout;   /* seconds for one HTTP attempt; <= 0: default 30 */
    double max_rps;           /* requests per second across all calls; <= 0: no limit */
    unsigned backoff_base_ms; /* first backoff delay before jitter; 0 means 500 */
    size_t list_max_items;    /* connectors a paged list may hold; 0: 10,000 */
    size_t list_max_bytes;    /* bytes of answers a paged list may read; 0: 64 MiB */
} cfapi_options;

typedef enum cfapi_op {
    CFAPI_OP_LIST,
    CFAPI_OP_GET,
    CFAPI_OP_CREATE,
    CFAPI_OP_UPDATE,
    CFAPI_OP_DELETE,
    CFAPI_OP_VERIFY,
} cfapi_op;

/* Why a call failed. */
typedef enum cfapi_failure {
    CFAPI_FAIL_NONE,           /* success */
    CFAPI_FAIL_HTTP,           /* a non-2xx answer (Cloudflare's errors[] when it sent them) */
    CFAPI_FAIL_UNREACHABLE,    /* no answer: connection, DNS, TLS or another transport error */
    CFAPI_FAIL_TIMEOUT,        /* no complete answer within request_timeout */
    CFAPI_FAIL_BAD_ANSWER,     /* a 2xx that is not a successful envelope with the expected
                                  result (not JSON, success=false, no object, a 204 where an
                                  object was due) */
    CFAPI_FAIL_TOO_LARGE,      /* one answer passed the body size limit */
    CFAPI_FAIL_LIST_LIMIT,     /* a paged list passed list_max_items or list_max_bytes */
    CFAPI_FAIL_NOT_STARTED,    /* the request could not be started (transport_error says why) */
    CFAPI_FAIL_CANCELLED,      /* cfapi_call_cancel() ended it */
    CFAPI_FAIL_CREATE_UNKNOWN, /* a create may or may not have happened: the lookup
                                  failed, or found nothing after the last attempt (whose
                                  commit it may not show yet); `cause` says what failed last */
} cfapi_failure;

/* The outcome of one operation, handed to its callback. Everything in it is
 * borrowed and valid only during the callback. */
typedef struct cfapi_result {
    bool ok;        /* failure == CFAPI_FAIL_NONE */
    bool cancelled; /* failure == CFAPI_FAIL_CANCELLED */
    cfapi_failure failure;
    /* For CANCELLED and CREATE_UNKNOWN: the failure of the last request
     * that failed (CFAPI_FAIL_NONE when none did); otherwise == failure. */
    cfapi_failure cause;
    long http_status;  /* status of the last answer; 0 when there was none */
    json_t *result;    /* ok: the connector (object) or the list (array); NULL when none */
    json_t *errors;    /* Cloudflare's errors[] ({code, message}) of the failing answer, or NULL */
    unsigned attempts; /* requests that counted against the retry budget */
    /* True when the remote object may have been changed even though !ok
     * (the request was sent but its answer was lost or the call was
     * cancelled after sending). */
    bool maybe_applied;
    /* What a message needs. */
    cfapi_op op;
    const char *account_id;
    const char *connector_id;    /* "" when the operation has none */
    const char *domain;          /* create: the email domain, else "" */
    const char *method;          /* the failing request, or NULL */
    const char *path;            /* its path relative to base_url, or NULL */
    bool failed_in_lookup;       /* it was a page of a create's lookup */
    const char *transport_error; /* curl's (or libuv's) words, or NULL */
    bool not_envelope;           /* the answer was not a Cloudflare envelope */
    const char *body_excerpt;    /* not_envelope: a printable excerpt ("" when no body) */
    const char *host;            /* host[:port] of base_url */
    long timeout_ms;             /* request_timeout */
    bool key_auth;               /* email + api_key, not a token */
    size_t limit;                /* LIST_LIMIT: the cap passed */
    bool limit_is_bytes;         /* LIST_LIMIT: the cap is list_max_bytes, not items */
    /* Set when the call would have retried but the next wait passed the
     * time one call may wait between attempts (cfapi_wait_budget_ms). */
    uint64_t not_retried_wait_ms; /* the wait it would have needed; 0: not so */
    bool not_retried_from_server; /* that wait was the server's Retry-After */
    uint64_t wait_left_ms;        /* what was left of the call's wait budget */
} cfapi_result;

/* Renders a failed result as plain text for a person: *summary (one line)
 * and *detail, both new malloc'd strings the caller frees, with every
 * registered secret masked (log_redact). Returns 0, UV_EINVAL when the
 * result is a success (nothing to say), or UV_ENOMEM. */
int cfapi_result_render(const cfapi_result *res, char **summary, char **detail);

typedef void (*cfapi_cb)(const cfapi_result *res, void *arg);

/* Creates a client on `loop`. Strings in `opts` are copied; secrets are
 * registered with log_add_secret(). Returns 0 or a negative libuv error. */
int cfapi_client_new(uv_loop_t *loop, const cfapi_options *opts, cfapi_client **out);

/* Cancels every call still in flight (their callbacks run with cancelled),
 * then tears down libcurl and the client's handles in order; `on_closed`
 * runs once everything is released. */
void cfapi_client_close(cfapi_client *client, void (*on_closed)(void *arg), void *arg);

/* The operations. Each returns 0 and later calls `cb` exactly once, or
 * returns a negative libuv error (UV_EINVAL for a malformed id or domain)
 * and never calls `cb`. When `call_out` is not NULL it receives a handle for
 * cfapi_call_cancel(), valid until the callback has run. */
int cfapi_list(cfapi_client *c, const char *account_id, cfapi_cb cb, void *arg,
               cfapi_call **call_out);
int cfapi_get(cfapi_client *c, const char *account_id, const char *connector_id, cfapi_cb cb,
              void *arg, cfapi_call **call_out);
/* begin_verification / use_fedramp_language: -1 leaves the field out of the
 * body, 0 sends false, 1 sends true. */
int cfapi_create(cfapi_client *c, const char *account_id, const char *email_domain,
                 int begin_verification, int use_fedramp_language, cfapi_cb cb, void *arg,
                 cfapi_call **call_out);
/* enabled / use_fedramp_language: -1 leaves the field out of the PATCH body. */
int cfapi_update(cfapi_client *c, const char *account_id, const char *connector_id, int enabled,
                 int use_fedramp_language, cfapi_cb cb, void *arg, cfapi_call **call_out);
int cfapi_delete(cfapi_client *c, const char *account_id, const char *connector_id, cfapi_cb cb,
                 void *arg, cfapi_call **call_out);
int cfapi_begin_verification(cfapi_client *c, const char *account_id, const char *connector_id,
                             cfapi_cb cb, void *arg, cfapi_call **call_out);

/* The Cloudflare API's identifier rules, the one definition in the tree.
 * An account or connector id is exactly 32 hex characters (either case).
 * An email domain is a DNS name: 2 or more dot-separated labels of 1-63
 * letters, digits or hyphens (not at either end of a label), at most 253
 * characters, a top-level label that is not all digits, no trailing dot. */
#define CFAPI_ID_LEN     32
#define CFAPI_DOMAIN_MAX 253
bool cfapi_id_is_valid(const char *id);
bool cfapi_domain_is_valid(const char *domain);
/* True when two domains are equal ignoring ASCII case. */
bool cfapi_domain_equal(const char *a, const char *b);

/* The connector of a list result (as cfapi_list() returns it) whose
 * email_domain equals `domain` ignoring case and whose id is valid;
 * borrowed from `list`, NULL when none. */
json_t *cfapi_find_by_domain(const json_t *list, const char *domain);

/* Cancels one call. Its callback still runs exactly once, asynchronously,
 * with `cancelled` set (or with the real outcome if it had already
 * finished). A create whose request has already been sent is not cut off
 * mid-flight: its current attempt finishes (bounded by request_timeout),
 * and a create that may have been applied is looked up once (every page)
 * before the callback, so that a created connector is reported (ok, the
 * connector) rather than lost; no create is sent after a cancel. A
 * cancelled create that may still have been applied ends cancelled with
 * maybe_applied set. */
void cfapi_call_cancel(cfapi_call *call);

#endif /* CFAPI_H */
