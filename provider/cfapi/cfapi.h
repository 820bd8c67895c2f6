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
 * On failure it builds a diagnostic a person can act on: the operation, the
 * HTTP status, Cloudflare's error codes and messages, and for 401/403 the
 * token permission needed. The token or key never appears in a diagnostic
 * or a log line.
 *
 * Ids passed in must already be validated by the caller; the client refuses
 * (UV_EINVAL) any id that is not 32 lowercase-or-uppercase hex characters,
 * as a second guard, so nothing can change the request path.
 */
#ifndef CFAPI_H
#define CFAPI_H

#include <jansson.h>
#include <stdbool.h>
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
} cfapi_options;

/* The outcome of one operation, handed to its callback. Everything in it is
 * borrowed and valid only during the callback. */
typedef struct cfapi_result {
    bool ok;          /* HTTP 2xx and envelope success */
    bool cancelled;   /* cfapi_call_cancel() ended it */
    long http_status; /* status of the last attempt; 0 when there was no answer */
    json_t *result;   /* the envelope's "result" (object or array), or NULL */
    json_t *errors;   /* the envelope's errors[] ({code, message}), or NULL */
    /* When !ok: a ready diagnostic object
     * {"severity":"error","summary":...,"detail":...}. NULL when ok. */
    json_t *diagnostic;
    /* True when the remote object may have been changed even though !ok
     * (the request was sent but its answer was lost or the call was
     * cancelled after sending). */
    bool maybe_applied;
} cfapi_result;

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
 * mid-flight: its current attempt finishes (bounded by request_timeout) so
 * that a created connector is reported rather than lost; only further
 * retries are abandoned. */
void cfapi_call_cancel(cfapi_call *call);

#endif /* CFAPI_H */
